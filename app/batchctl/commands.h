#pragma once

#include <QStringList>

// batchctl's subcommands as CLI.md defines them. Each returns the process exit code.
namespace batchctl {

enum ExitCode
{
    ExitFinished = 0,
    ExitFatal = 1,
    ExitUsage = 2,
    ExitPaused = 3,
    ExitDeadLetters = 4,
};

int main(const QStringList &arguments);

} // namespace batchctl
