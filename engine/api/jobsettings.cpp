#include "jobsettings.h"

#include "types.h"

#include <QJsonValue>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

// The texts the causes are stored as; they read as the reason in status lines. Matching is
// by prefix, so a cause may carry detail after a colon ("quota exhausted: ...").
struct CauseText
{
    StopCause cause;
    const char *text;
};

constexpr CauseText kCauseTexts[] = {
    {StopCause::User, "paused by the user"},
    {StopCause::EngineShutdown, "engine shut down"},
    {StopCause::Imported, "imported"},
    {StopCause::GlobalBudget, "global budget reached"},
    {StopCause::Budget, "budget reached"},
    {StopCause::Quota, "quota exhausted"},
    {StopCause::Auth, "authentication failed"},
    {StopCause::MissingKey, "no API key"},
    {StopCause::DiskFull, "disk full"},
};

template<typename T>
void readNumber(const QJsonObject &json, QLatin1String key, std::optional<T> *field)
{
    const QJsonValue value = json.value(key);
    if (value.isDouble())
        *field = T(value.toDouble());
}

template<typename T>
void writeNumber(QJsonObject &json, QLatin1String key, const std::optional<T> &field)
{
    if (field)
        json.insert(key, QJsonValue(double(*field)));
}

} // namespace

QString stopCauseReason(StopCause cause)
{
    for (const CauseText &entry : kCauseTexts) {
        if (entry.cause == cause)
            return QString::fromLatin1(entry.text);
    }
    return {};
}

StopCause stopCauseOf(const QString &stateReason)
{
    for (const CauseText &entry : kCauseTexts) {
        const QLatin1String text(entry.text);
        if (stateReason == text
            || (stateReason.startsWith(text) && stateReason.mid(text.size()).startsWith(u':')))
            return entry.cause;
    }
    return StopCause::Other;
}

bool waitsForAWorker(JobState state, const QString &stateReason)
{
    if (state != JobState::Paused)
        return false;
    const StopCause cause = stopCauseOf(stateReason);
    return cause == StopCause::Imported || cause == StopCause::EngineShutdown;
}

JobSettings JobSettings::fromJson(const QJsonObject &json)
{
    namespace k = settingkeys;
    JobSettings settings;
    settings.other = json;
    readNumber(json, k::concurrency, &settings.concurrency);
    readNumber(json, k::rpm, &settings.rpm);
    readNumber(json, k::tpm, &settings.tpm);
    readNumber(json, k::budgetUsd, &settings.budgetUsd);
    readNumber(json, k::batchSize, &settings.batchSize);
    readNumber(json, k::batchPollMs, &settings.batchPollMs);
    readNumber(json, k::apiDeadlineMs, &settings.apiDeadlineMs);
    readNumber(json, k::batchMaxWaitMs, &settings.batchMaxWaitMs);
    readNumber(json, k::maxConcurrentBatches, &settings.maxConcurrentBatches);
    readNumber(json, k::simLatencyMs, &settings.simLatencyMs);
    readNumber(json, k::simFailureRate, &settings.simFailureRate);
    readNumber(json, k::simRpm, &settings.simRpm);
    if (json.value(k::offpeak).isObject())
        settings.offpeak = json.value(k::offpeak).toObject();
    settings.offpeakRunNow = json.value(k::offpeakRunNow).toBool();
    if (json.value(k::responseCache).isBool())
        settings.responseCache = json.value(k::responseCache).toBool();
    if (json.value(k::tiering).isObject())
        settings.tiering = json.value(k::tiering).toObject();
    settings.csvDelimiter = json.value(k::csvDelimiter).toString();
    settings.csvEncoding = json.value(k::csvEncoding).toString();
    settings.outputSchema = json.value(k::outputSchema).toString();
    for (QLatin1String key :
         {k::concurrency, k::rpm, k::tpm, k::budgetUsd, k::batchSize, k::batchPollMs,
          k::apiDeadlineMs, k::batchMaxWaitMs, k::maxConcurrentBatches, k::simLatencyMs,
          k::simFailureRate, k::simRpm, k::offpeak, k::offpeakRunNow, k::responseCache, k::tiering,
          k::csvDelimiter, k::csvEncoding, k::outputSchema})
        settings.other.remove(key);
    return settings;
}

QJsonObject JobSettings::toJson() const
{
    namespace k = settingkeys;
    QJsonObject json = other;
    writeNumber(json, k::concurrency, concurrency);
    writeNumber(json, k::rpm, rpm);
    writeNumber(json, k::tpm, tpm);
    writeNumber(json, k::budgetUsd, budgetUsd);
    writeNumber(json, k::batchSize, batchSize);
    writeNumber(json, k::batchPollMs, batchPollMs);
    writeNumber(json, k::apiDeadlineMs, apiDeadlineMs);
    writeNumber(json, k::batchMaxWaitMs, batchMaxWaitMs);
    writeNumber(json, k::maxConcurrentBatches, maxConcurrentBatches);
    writeNumber(json, k::simLatencyMs, simLatencyMs);
    writeNumber(json, k::simFailureRate, simFailureRate);
    writeNumber(json, k::simRpm, simRpm);
    if (offpeak)
        json.insert(k::offpeak, *offpeak);
    if (offpeakRunNow)
        json.insert(k::offpeakRunNow, true);
    if (responseCache)
        json.insert(k::responseCache, *responseCache);
    if (tiering)
        json.insert(k::tiering, *tiering);
    if (!csvDelimiter.isEmpty())
        json.insert(k::csvDelimiter, csvDelimiter);
    if (!csvEncoding.isEmpty())
        json.insert(k::csvEncoding, csvEncoding);
    if (!outputSchema.isEmpty())
        json.insert(k::outputSchema, outputSchema);
    return json;
}

} // namespace bd
