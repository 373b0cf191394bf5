#pragma once

#include "api/engine.h"

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
int commandSubmit(const Invocation &in);
int commandWorker(const Invocation &in);
int commandWait(const Invocation &in);

// Resumes the unfinished jobs (one job when onlyJob is set) in an open session: resume and
// dlq replay.
class Session;
int resumeJobs(Session &session, qint64 onlyJob, bool forceList);

// run and submit: the draft checked (its key resolved first), the database opened, the
// global budget set when asked, the job imported (or the same job found) and said so.
// nullopt with *exitCode when any of it failed (printed).
struct CheckedImport
{
    bd::JobCheck check;
    bd::ImportResult imported;
};
std::optional<CheckedImport> checkAndImport(Session &session, const Invocation &in,
                                            const bd::JobDraft &draft, int *exitCode);

// A command that reads an existing database: a missing one is a usage error, and is not
// created.
void requireDatabase(const Invocation &in);

int main(const QStringList &arguments);

} // namespace batchctl
