#pragma once

#include <QJsonObject>
#include <QString>

// What every batchctl command shares: exit codes (CLI.md), the usage error, and the two
// output streams (stdout for --json and listings, stderr for people).
namespace batchctl {

enum ExitCode
{
    ExitFinished = 0,
    ExitFatal = 1,
    ExitUsage = 2,
    ExitPaused = 3,
    ExitDeadLetters = 4,
};

// Thrown by option checks; main() prints it and exits 2 before anything was imported or sent.
struct UsageError
{
    QString message;
};

void printErr(const QString &text);
void printOut(const QString &text);
// One compact JSON object on stdout.
void printJson(const QJsonObject &object);

// The exit code of several jobs together: fatal beats paused beats dead letters beats finished.
int combineExitCodes(int a, int b);

} // namespace batchctl
