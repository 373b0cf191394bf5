#include "types.h"

#include "jobs.h"
#include "jobsettings.h"

#include <QCryptographicHash>
#include <QJsonDocument>

namespace bd {

namespace {
struct ErrorClassName
{
    ErrorClass value;
    const char *name;
};

constexpr ErrorClassName kErrorClassNames[] = {
    {ErrorClass::None, ""},
    {ErrorClass::RateLimited, "rate_limited"},
    {ErrorClass::QuotaExhausted, "quota_exhausted"},
    {ErrorClass::InvalidRequest, "invalid_request"},
    {ErrorClass::Auth, "auth"},
    {ErrorClass::Overloaded, "overloaded"},
    {ErrorClass::ServerError, "server_error"},
    {ErrorClass::Timeout, "timeout"},
    {ErrorClass::Network, "network"},
    {ErrorClass::Malformed, "malformed_reply"},
    {ErrorClass::Cancelled, "cancelled"},
    {ErrorClass::ProviderCancelled, "provider_cancelled"},
    {ErrorClass::InvalidOutput, "invalid_output"},
};

const char *const kTaskStateNames[] = {"pending", "leased", "completed", "dead", "cancelled"};
const char *const kJobStateNames[] = {"importing", "running", "paused", "finished", "cancelled"};
} // namespace

QString taskStateName(TaskState state)
{
    return QString::fromLatin1(kTaskStateNames[static_cast<int>(state)]);
}

std::optional<TaskState> taskStateFromName(const QString &name)
{
    for (int i = 0; i < int(std::size(kTaskStateNames)); ++i) {
        if (name == QLatin1StringView(kTaskStateNames[i]))
            return static_cast<TaskState>(i);
    }
    return std::nullopt;
}

QString jobStateName(JobState state)
{
    return QString::fromLatin1(kJobStateNames[static_cast<int>(state)]);
}

QString noSuchJobText(qint64 jobId)
{
    return QStringLiteral("no job %1 in the database").arg(jobId);
}

std::optional<JobState> jobStateFromName(const QString &name)
{
    for (int i = 0; i < int(std::size(kJobStateNames)); ++i) {
        if (name == QLatin1StringView(kJobStateNames[i]))
            return static_cast<JobState>(i);
    }
    return std::nullopt;
}

QString errorClassName(ErrorClass errorClass)
{
    for (const auto &entry : kErrorClassNames) {
        if (entry.value == errorClass)
            return QString::fromLatin1(entry.name);
    }
    return {};
}

ErrorClass errorClassFromName(const QString &name)
{
    for (const auto &entry : kErrorClassNames) {
        if (name == QLatin1StringView(entry.name))
            return entry.value;
    }
    return ErrorClass::None;
}

bool errorCountsAsAttempt(ErrorClass errorClass)
{
    switch (errorClass) {
    case ErrorClass::RateLimited:
    case ErrorClass::QuotaExhausted:
    case ErrorClass::Auth:
    case ErrorClass::Cancelled:
    case ErrorClass::None:
        return false;
    default:
        return true;
    }
}

bool errorIsRetryable(ErrorClass errorClass)
{
    switch (errorClass) {
    case ErrorClass::RateLimited:
    case ErrorClass::Overloaded:
    case ErrorClass::ServerError:
    case ErrorClass::Timeout:
    case ErrorClass::Network:
    case ErrorClass::Malformed:
    case ErrorClass::Cancelled:
    case ErrorClass::ProviderCancelled:
    case ErrorClass::InvalidOutput: // models vary: another try often matches
        return true;
    default:
        return false;
    }
}

QByteArray JobSpec::fingerprint() const
{
    QCryptographicHash hash(QCryptographicHash::Sha256);
    const auto add = [&hash](const QString &part) {
        const QByteArray bytes = part.toUtf8();
        hash.addData(QByteArray::number(bytes.size()));
        hash.addData(":");
        hash.addData(bytes);
    };
    hash.addData(sourceSha256);
    add(templateText);
    add(systemPrompt);
    add(provider);
    add(model);
    // A tiered job ("auto") is the same job only with the same tiering config.
    if (model == QLatin1StringView("auto"))
        add(QString::fromUtf8(QJsonDocument(settings.value(QLatin1StringView("tiering")).toObject())
                                  .toJson(QJsonDocument::Compact)));
    // Structured answers: another schema asks for other answers.
    if (settings.contains(settingkeys::outputSchema))
        add(settings.value(settingkeys::outputSchema).toString());
    // A sample is never the job a run of the whole input continues.
    if (settings.contains(settingkeys::sampleRows))
        add(QLatin1StringView("sample:") + QString::number(settings.value(settingkeys::sampleRows).toInteger()));
    return hash.result().toHex();
}

std::optional<SampleProjection> sampleProjection(const JobInfo &job)
{
    const qint64 inputRows = job.spec.settings.value(settingkeys::sampleOfRows).toInteger();
    if (!job.spec.settings.contains(settingkeys::sampleRows) || inputRows <= 0
        || job.counts.completed <= 0)
        return std::nullopt;
    SampleProjection projection;
    projection.sampledRows = job.counts.total();
    projection.inputRows = inputRows;
    projection.completedRows = job.counts.completed;
    const double scale = double(inputRows) / double(job.counts.completed);
    projection.costUsd = job.costUsd * scale;
    const qint64 tokens = job.usage.inputTokens + job.usage.cachedTokens
                          + job.usage.cacheWriteTokens + job.usage.outputTokens;
    projection.tokens = qint64(double(tokens) * scale + 0.5);
    return projection;
}

} // namespace bd
