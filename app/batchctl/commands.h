#pragma once

#include <QCommandLineParser>
#include <QString>
#include <QStringList>

// batchctl's subcommands as CLI.md defines them, one file each. Each returns the process
// exit code (cli.h) and throws UsageError for a usage error found before anything ran.
namespace batchctl {

// What every command gets: the parsed options, the positional arguments (the command
// first) and the database (--db or the default).
struct Invocation
{
    const QCommandLineParser &parser;
    QStringList positional;
    QString database;
    bool databaseGiven = false;
    bool json = false;
};

int commandRun(const Invocation &in);
int commandEstimate(const Invocation &in);
int commandResume(const Invocation &in);
int commandStatus(const Invocation &in);
int commandBudget(const Invocation &in);
int commandExport(const Invocation &in);
int commandDlq(const Invocation &in);
int commandKey(const Invocation &in);
int commandCheck(const Invocation &in);
int commandServe(const Invocation &in);
int commandJob(const Invocation &in);
int commandCompare(const Invocation &in);

// Resumes the unfinished jobs (one job when onlyJob is set) in an open session: resume and
// dlq replay.
class Session;
int resumeJobs(Session &session, qint64 onlyJob, bool forceList);

// A command that reads an existing database: a missing one is a usage error, and is not
// created.
void requireDatabase(const Invocation &in);

int main(const QStringList &arguments);

} // namespace batchctl
