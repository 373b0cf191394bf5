#include "responsecache.h"
#include "api/jobsettings.h"

#include "core/tasktypes.h"

#include <QCryptographicHash>
#include <QJsonArray>
#include <QJsonDocument>

namespace bd::cost {

using namespace Qt::StringLiterals;

QJsonObject answerAffectingParams(const QJsonObject &settings)
{
    static const char *const keys[] = {"temperature",      "top_p",        "seed",
                                       "response_format",  "stop",         "frequency_penalty",
                                       "presence_penalty", "output_schema"};
    QJsonObject params;
    for (const char *key : keys) {
        const QString name = QString::fromLatin1(key);
        if (settings.contains(name))
            params.insert(name, settings.value(name));
    }
    return params;
}

RequestIdentity requestIdentity(const JobSpec &spec, const QString &model, const QString &prompt)
{
    RequestIdentity identity;
    // OpenAI and a compatible server answer differently; two local servers too.
    identity.family = spec.provider == u"openai-compatible"_s
                          ? u"openai-compatible:"_s + spec.baseUrl
                          : spec.provider;
    identity.model = model;
    identity.systemPrompt = spec.systemPrompt;
    identity.prompt = prompt;
    identity.maxOutputTokens = spec.maxOutputTokens;
    identity.params = answerAffectingParams(spec.settings);
    return identity;
}

QByteArray responseCacheKey(const RequestIdentity &identity)
{
    const QJsonArray canonical{
        u"batchdesk-response-v1"_s, identity.family,          identity.model,
        identity.systemPrompt,      identity.prompt,          identity.maxOutputTokens,
        identity.params, // QJsonObject keeps its keys sorted
    };
    return QCryptographicHash::hash(QJsonDocument(canonical).toJson(QJsonDocument::Compact),
                                    QCryptographicHash::Sha256)
        .toHex();
}

bool responseCacheEnabled(const QJsonObject &settings)
{
    const QJsonValue value = settings.value(settingkeys::responseCache);
    return value.isBool() ? value.toBool() : true;
}

} // namespace bd::cost
