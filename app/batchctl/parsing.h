#pragma once

#include "api/engine.h"

#include <QCommandLineParser>
#include <QJsonObject>
#include <QString>

#include <limits>
#include <optional>
#include <utility>

// Turning option values into checked values. Every numeric option goes through
// parseNumber(): the whole text must be a finite number in range (whole where it must be),
// else a UsageError naming the option: "nan" or "inf" never stand for "no limit".
namespace batchctl {

enum class NumberKind
{
    Whole,
    Real,
};

struct NumberRange
{
    double min = 0;
    double max = double(std::numeric_limits<int>::max());
    // How the error states what the option takes ("a positive whole number").
    QString expected;
};

double parseNumber(const QString &option, const QString &text, NumberKind kind,
                   const NumberRange &range);
// The option's value when given.
std::optional<double> numberOption(const QCommandLineParser &parser, const QString &option,
                                   NumberKind kind, const NumberRange &range);
// An int-sized whole number option (parseNumber's bounds keep it inside int).
std::optional<int> intOption(const QCommandLineParser &parser, const QString &option,
                             const NumberRange &range);

// Smallest positive amount the cost options take.
inline constexpr double kMinPositive = std::numeric_limits<double>::min();
inline constexpr double kMaxUsd = 1e9;

// A template or system prompt file: a regular file of at most 1 MiB, read as UTF-8 (a
// device, FIFO or folder would block or fill memory). Errors name the file.
QString readTextFile(const QString &path, const QString &what);

// A job id as given to a command or to --job.
qint64 parseJobId(const QString &text, const QString &option = {});

// An export destination: a known format in a folder that exists (checked before anything
// runs, so a long run never ends in an export that cannot be written).
void checkExportPath(const QString &path, const QString &option);

// The job settings run and estimate take from options (concurrency, rpm, tpm, budget,
// off-peak window, batch tuning, simulator knobs).
QJsonObject runtimeSettings(const QCommandLineParser &parser);

// The engine's runner tuning from the hidden --lease-ms and --heartbeat-ms (tests shorten
// them); the defaults otherwise.
bd::RunnerDefaults runnerDefaults(const QCommandLineParser &parser);

// --monitoring FILE, then --metrics-port, --alert-webhook and --alert-command over it.
QJsonObject monitoringSettings(const QCommandLineParser &parser);

// --global-budget USD (run, resume) or --set USD (budget) with --period: nullopt when not
// given. The period is empty when not given (the stored one stays).
std::optional<std::pair<double, QString>> globalBudgetOption(const QCommandLineParser &parser,
                                                             const QString &flag);

// The job run, submit and estimate describe with their options (not yet checked).
bd::JobDraft jobDraft(const QCommandLineParser &parser, const QStringList &positional);

} // namespace batchctl
