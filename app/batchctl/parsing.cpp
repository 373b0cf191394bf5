#include "parsing.h"

#include "ingest/textfile.h"

#include "cli.h"
#include "ingest/exportwriter.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRegularExpression>

#include <cmath>

using namespace Qt::StringLiterals;

namespace batchctl {

double parseNumber(const QString &option, const QString &text, NumberKind kind,
                   const NumberRange &range)
{
    bool ok = false;
    const double value = text.trimmed().toDouble(&ok);
    const bool whole = kind == NumberKind::Real || std::trunc(value) == value;
    if (!ok || !std::isfinite(value) || !whole || value < range.min || value > range.max)
        throw UsageError{u"--%1 needs %2, not '%3'"_s.arg(option, range.expected, text)};
    return value;
}

std::optional<double> numberOption(const QCommandLineParser &parser, const QString &option,
                                   NumberKind kind, const NumberRange &range)
{
    if (!parser.isSet(option))
        return std::nullopt;
    return parseNumber(option, parser.value(option), kind, range);
}

std::optional<int> intOption(const QCommandLineParser &parser, const QString &option,
                             const NumberRange &range)
{
    NumberRange bounded = range;
    bounded.min = std::max(range.min, double(std::numeric_limits<int>::min()));
    bounded.max = std::min(range.max, double(std::numeric_limits<int>::max()));
    const auto value = numberOption(parser, option, NumberKind::Whole, bounded);
    return value ? std::optional<int>(int(*value)) : std::nullopt;
}

QString readTextFile(const QString &path, const QString &what)
{
    // One rule for every front end: a regular file of at most 1 MiB of UTF-8 text (never
    // /dev/zero, a FIFO or a directory); the error names the file and, for bad text, the line.
    QString error;
    const auto text = bd::ingest::readTextFile(path, &error);
    if (!text)
        throw UsageError{u"%1 %2"_s.arg(what, error)};
    return *text;
}

qint64 parseJobId(const QString &text, const QString &option)
{
    bool ok = false;
    const qint64 id = text.trimmed().toLongLong(&ok);
    if (!ok || id <= 0)
        throw UsageError{option.isEmpty() ? u"'%1' is not a job id"_s.arg(text)
                                          : u"--%1: '%2' is not a job id"_s.arg(option, text)};
    return id;
}

void checkExportPath(const QString &path, const QString &option)
{
    if (!bd::ingest::ExportWriter::formatForPath(path))
        throw UsageError{u"--%1: %2 must end in .csv, .jsonl or .xlsx"_s.arg(option, path)};
    const QFileInfo info(path);
    if (info.isDir())
        throw UsageError{u"--%1: %2 is a folder"_s.arg(option, path)};
    if (!info.absoluteDir().exists())
        throw UsageError{u"--%1: folder %2 does not exist"_s.arg(option, info.absolutePath())};
}

bd::RunnerDefaults runnerDefaults(const QCommandLineParser &parser)
{
    bd::RunnerDefaults defaults;
    const NumberRange ms{100, 3'600'000, u"a whole number of milliseconds (100 or more)"_s};
    if (const auto lease = intOption(parser, u"lease-ms"_s, ms))
        defaults.leaseMs = *lease;
    if (const auto heartbeat = intOption(parser, u"heartbeat-ms"_s, ms))
        defaults.heartbeatMs = *heartbeat;
    if (const auto wait = intOption(parser, u"db-wait"_s,
                                    {1, 7 * 24 * 3600, u"a whole number of seconds (1 or more)"_s}))
        defaults.databaseWaitMs = *wait * 1000LL;
    return defaults;
}

QJsonObject runtimeSettings(const QCommandLineParser &parser)
{
    namespace keys = bd::settingkeys;
    QJsonObject settings;
    const NumberRange positive{1, double(std::numeric_limits<int>::max()), u"a positive whole number"_s};
    const auto putInt = [&](const QString &option, QLatin1String key) {
        if (const auto value = intOption(parser, option, positive))
            settings.insert(key, *value);
    };
    putInt(u"concurrency"_s, keys::concurrency);
    putInt(u"rpm"_s, keys::rpm);
    putInt(u"tpm"_s, keys::tpm);
    // Batch-API lane tuning (hidden from --help): lines per provider batch, first poll.
    putInt(u"batch-size"_s, keys::batchSize);
    putInt(u"batch-poll-ms"_s, keys::batchPollMs);
    if (const auto wait = numberOption(parser, u"batch-max-wait-ms"_s, NumberKind::Whole,
                                       {0, 1e12, u"a whole number of milliseconds (0 or more)"_s}))
        settings.insert(keys::batchMaxWaitMs, qint64(*wait));
    if (parser.isSet(u"offpeak"_s)) {
        QString error;
        const auto window = bd::parseOffPeakWindow(parser.value(u"offpeak"_s), &error);
        if (!window)
            throw UsageError{u"--offpeak: "_s + error};
        settings.insert(keys::offpeak, *window);
    }
    if (parser.isSet(u"run-now"_s))
        settings.insert(keys::offpeakRunNow, true);
    if (const auto budget = numberOption(parser, u"budget"_s, NumberKind::Real,
                                         {kMinPositive, kMaxUsd, u"a positive amount in USD"_s}))
        settings.insert(keys::budgetUsd, *budget);
    // Simulator knobs, for demos and tests.
    if (const auto latency = intOption(parser, u"sim-latency-ms"_s,
                                       {0, 3'600'000, u"a whole number of milliseconds (0 or more)"_s}))
        settings.insert(keys::simLatencyMs, *latency);
    if (const auto rate = numberOption(parser, u"sim-failure-rate"_s, NumberKind::Real,
                                       {0, 1, u"a rate from 0 to 1"_s}))
        settings.insert(keys::simFailureRate, *rate);
    putInt(u"sim-rpm"_s, keys::simRpm);
    return settings;
}

QJsonObject monitoringSettings(const QCommandLineParser &parser)
{
    QJsonObject root;
    if (parser.isSet(u"monitoring"_s)) {
        const QString path = parser.value(u"monitoring"_s);
        QJsonParseError error;
        root = QJsonDocument::fromJson(readTextFile(path, u"--monitoring"_s).toUtf8(), &error).object();
        if (error.error != QJsonParseError::NoError)
            throw UsageError{u"--monitoring %1: %2 at byte %3"_s.arg(path, error.errorString())
                                 .arg(error.offset)};
    }
    if (const auto port = intOption(parser, u"metrics-port"_s,
                                    {0, 65535, u"a port number (0: any free one)"_s}))
        root.insert(u"openmetrics"_s, QJsonObject{{u"enabled"_s, true}, {u"port"_s, *port}});
    QJsonObject notify = root.value(u"notify"_s).toObject();
    if (parser.isSet(u"alert-webhook"_s))
        notify.insert(u"webhook_url"_s, parser.value(u"alert-webhook"_s));
    if (parser.isSet(u"alert-command"_s))
        notify.insert(u"command"_s, QJsonArray::fromStringList(
                                         QProcess::splitCommand(parser.value(u"alert-command"_s))));
    if (!notify.isEmpty())
        root.insert(u"notify"_s, notify);
    return root;
}

std::optional<std::pair<double, QString>> globalBudgetOption(const QCommandLineParser &parser,
                                                             const QString &flag)
{
    if (parser.isSet(u"period"_s) && !bd::isGlobalBudgetPeriod(parser.value(u"period"_s)))
        throw UsageError{u"--period must be month, day or all"_s};
    const auto usd = numberOption(parser, flag, NumberKind::Real,
                                  {0, kMaxUsd, u"an amount in USD >= 0 (0: no cap)"_s});
    if (!usd)
        return std::nullopt;
    return std::pair{*usd, parser.value(u"period"_s)};
}

namespace {

// --deadline WHEN: an ISO 8601 time (2026-12-03T09:00Z; local time without a zone) or a
// span from now (+36h, +90m, +2d).
qint64 deadlineOption(const QString &text, qint64 nowMs)
{
    static const QRegularExpression span(u"^\\+(\\d{1,6})([mhd])$"_s);
    if (const auto match = span.match(text.trimmed()); match.hasMatch()) {
        const qint64 amount = match.captured(1).toLongLong();
        const QChar unit = match.captured(2).at(0);
        const qint64 unitMs = unit == u'm' ? 60'000 : unit == u'h' ? 3'600'000 : 86'400'000;
        return nowMs + amount * unitMs;
    }
    const QDateTime when = QDateTime::fromString(text.trimmed(), Qt::ISODate);
    if (!when.isValid())
        throw UsageError{u"--deadline needs a time like 2026-12-03T09:00Z, +36h or +90m, not '%1'"_s
                             .arg(text)};
    return when.toMSecsSinceEpoch();
}

} // namespace

bd::JobDraft jobDraft(const QCommandLineParser &parser, const QStringList &positional)
{
    const QString command = positional.at(0);
    if (positional.size() != 2)
        throw UsageError{u"%1 needs exactly one INPUT.csv"_s.arg(command)};
    bd::JobDraft draft;
    bd::JobSpec &spec = draft.spec;
    spec.sourcePath = QFileInfo(positional.at(1)).absoluteFilePath();
    if (parser.isSet(u"template"_s) == parser.isSet(u"template-file"_s))
        throw UsageError{u"%1 needs one of --template TEXT or --template-file FILE"_s.arg(command)};
    spec.templateText = parser.isSet(u"template"_s)
                            ? parser.value(u"template"_s)
                            : readTextFile(parser.value(u"template-file"_s), u"template file"_s);
    if (parser.isSet(u"system"_s) && parser.isSet(u"system-file"_s))
        throw UsageError{u"give --system or --system-file, not both"_s};
    if (parser.isSet(u"system"_s))
        spec.systemPrompt = parser.value(u"system"_s);
    else if (parser.isSet(u"system-file"_s))
        spec.systemPrompt = readTextFile(parser.value(u"system-file"_s), u"system prompt file"_s);
    spec.provider = parser.isSet(u"provider"_s) ? parser.value(u"provider"_s) : u"simulator"_s;
    spec.baseUrl = parser.value(u"base-url"_s);
    spec.model = parser.value(u"model"_s);
    draft.modelGiven = parser.isSet(u"model"_s);
    draft.tieringFile = parser.value(u"tiering"_s);
    draft.schemaFile = parser.value(u"schema"_s);
    spec.priority = intOption(parser, u"priority"_s, {1, 3, u"1, 2 or 3"_s}).value_or(2);
    spec.mode = parser.isSet(u"mode"_s) ? parser.value(u"mode"_s) : u"auto"_s;
    if (spec.mode != u"auto"_s && spec.mode != u"realtime"_s && spec.mode != u"batch-api"_s)
        throw UsageError{u"--mode must be auto, realtime or batch-api"_s};
    spec.maxRetries = intOption(parser, u"max-retries"_s, {0, 1000, u"a whole number >= 0"_s}).value_or(3);
    spec.maxOutputTokens = intOption(parser, u"max-output-tokens"_s,
                                     {1, 10'000'000, u"a positive whole number"_s})
                               .value_or(spec.maxOutputTokens);
    spec.settings = runtimeSettings(parser);
    if (parser.isSet(u"no-response-cache"_s))
        spec.settings.insert(bd::settingkeys::responseCache, false);
    if (parser.isSet(u"structured-output"_s))
        spec.settings.insert(bd::settingkeys::structuredOutput, parser.value(u"structured-output"_s));
    if (const auto sample = intOption(parser, u"sample"_s, {1, 1'000'000, u"a positive whole number"_s})) {
        if (command != u"run"_s && command != u"submit"_s)
            throw UsageError{u"--sample is an option of run and submit"_s};
        spec.settings.insert(bd::settingkeys::sampleRows, *sample);
    }
    if (parser.isSet(u"deadline"_s)) {
        if (parser.isSet(u"priority"_s) || parser.isSet(u"mode"_s))
            throw UsageError{u"--deadline picks the lanes itself: give it without --priority and --mode"_s};
        spec.settings.insert(bd::settingkeys::deadlineMs,
                             deadlineOption(parser.value(u"deadline"_s),
                                            QDateTime::currentMSecsSinceEpoch()));
    }
    if (parser.isSet(u"encoding"_s)) {
        const QString encoding = parser.value(u"encoding"_s);
        const QStringList known{u"UTF-8"_s, u"UTF-16LE"_s, u"UTF-16BE"_s, u"Windows-1252"_s,
                                u"cp1252"_s, u"latin1"_s, u"iso-8859-1"_s};
        if (!known.contains(encoding, Qt::CaseInsensitive))
            throw UsageError{u"--encoding needs one of %1, not '%2'"_s.arg(known.join(u", "_s), encoding)};
        spec.settings.insert(bd::settingkeys::csvEncoding, encoding);
    }
    return draft;
}

} // namespace batchctl
