#include "api/intake.h"

#include "api/jobsettings.h"

#include <QRegularExpression>
#include <QUrl>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

const QStringList kQueueFields = {
    u"name"_s,     u"template"_s,    u"system"_s,           u"provider"_s, u"model"_s,
    u"base_url"_s, u"priority"_s,    u"max_pending"_s,      u"schema"_s,   u"webhook"_s,
    u"settings"_s, u"max_retries"_s, u"max_output_tokens"_s};

bool isWholeNumber(const QJsonValue &value)
{
    return value.isDouble() && value.toDouble() == double(value.toInteger());
}

} // namespace

QString queueOfJob(const JobSpec &spec)
{
    return spec.settings.value(settingkeys::intakeQueue).toString();
}

QString jobDisplayState(const JobInfo &job)
{
    if (job.state == JobState::Running && !queueOfJob(job.spec).isEmpty())
        return u"serving"_s;
    return jobStateName(job.state);
}

QJsonObject QueueSpec::toJson() const
{
    return QJsonObject{
        {u"name"_s, name},
        {u"template"_s, templateText},
        {u"system"_s, systemPrompt},
        {u"provider"_s, provider},
        {u"model"_s, model},
        {u"base_url"_s, baseUrl},
        {u"priority"_s, priority},
        {u"max_pending"_s, maxPending},
        {u"schema"_s, schema},
        {u"webhook"_s, webhook},
        {u"settings"_s, settings},
        {u"max_retries"_s, maxRetries},
        {u"max_output_tokens"_s, maxOutputTokens},
    };
}

std::optional<QueueSpec> QueueSpec::fromJson(const QJsonObject &json, QString *error)
{
    const auto refuse = [error](const QString &why) {
        *error = why;
        return std::nullopt;
    };
    for (auto it = json.begin(); it != json.end(); ++it) {
        if (!kQueueFields.contains(it.key()))
            return refuse(
                u"unknown field \"%1\" (fields: %2)"_s.arg(it.key(), kQueueFields.join(u", "_s)));
    }
    const auto text = [&json](const QString &field, QString *into) {
        const QJsonValue value = json.value(field);
        if (value.isUndefined() || value.isNull())
            return true;
        if (!value.isString())
            return false;
        *into = value.toString();
        return true;
    };
    const auto number = [&json](const QString &field, qint64 low, qint64 high, auto *into) {
        const QJsonValue value = json.value(field);
        if (value.isUndefined() || value.isNull())
            return true;
        if (!isWholeNumber(value) || value.toInteger() < low || value.toInteger() > high)
            return false;
        *into = std::remove_pointer_t<decltype(into)>(value.toInteger());
        return true;
    };
    QueueSpec spec;
    if (!json.value(u"name"_s).isString())
        return refuse(u"missing field \"name\" (a string)"_s);
    spec.name = json.value(u"name"_s).toString();
    static const QRegularExpression namePattern(u"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"_s);
    if (!namePattern.match(spec.name).hasMatch())
        return refuse(
            u"field \"name\": 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"_s);
    if (!json.value(u"template"_s).isString() || json.value(u"template"_s).toString().isEmpty())
        return refuse(u"missing field \"template\" (a non-empty string)"_s);
    spec.templateText = json.value(u"template"_s).toString();
    for (const auto &[field, into] :
         {std::pair{u"system"_s, &spec.systemPrompt}, std::pair{u"provider"_s, &spec.provider},
          std::pair{u"model"_s, &spec.model}, std::pair{u"base_url"_s, &spec.baseUrl},
          std::pair{u"webhook"_s, &spec.webhook}}) {
        if (!text(field, into))
            return refuse(u"field \"%1\": a string"_s.arg(field));
    }
    if (spec.provider.isEmpty())
        spec.provider = u"simulator"_s;
    if (!number(u"priority"_s, 1, 3, &spec.priority))
        return refuse(u"field \"priority\": 1, 2 or 3"_s);
    if (!number(u"max_pending"_s, 1, qint64(1) << 40, &spec.maxPending))
        return refuse(u"field \"max_pending\": a whole number of at least 1"_s);
    if (!number(u"max_retries"_s, 0, 100, &spec.maxRetries))
        return refuse(u"field \"max_retries\": a whole number from 0 to 100"_s);
    if (!number(u"max_output_tokens"_s, 1, 1'000'000, &spec.maxOutputTokens))
        return refuse(u"field \"max_output_tokens\": a whole number from 1"_s);
    for (const QString &field : {u"schema"_s, u"settings"_s}) {
        const QJsonValue value = json.value(field);
        if (!value.isUndefined() && !value.isNull() && !value.isObject())
            return refuse(u"field \"%1\": an object"_s.arg(field));
    }
    spec.schema = json.value(u"schema"_s).toObject();
    if (!spec.schema.isEmpty() && spec.schema.value(u"type"_s).toString() != u"object"_s)
        return refuse(
            u"field \"schema\": a JSON Schema whose top level is an object (\"type\": \"object\")"_s);
    spec.settings = json.value(u"settings"_s).toObject();
    if (!spec.webhook.isEmpty()) {
        const QUrl url(spec.webhook, QUrl::StrictMode);
        if (!url.isValid() || (url.scheme() != u"http"_s && url.scheme() != u"https"_s) ||
            url.host().isEmpty() || !url.userInfo().isEmpty())
            return refuse(u"field \"webhook\": an http(s) URL without credentials"_s);
    }
    return spec;
}

} // namespace bd
