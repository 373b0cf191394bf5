#include "responsecache.h"
#include "api/jobsettings.h"

#include "core/jsonutil.h"
#include "core/sha256.h"
#include "core/tasktypes.h"

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
    return Sha256::hexHash(QJsonDocument(canonical).toJson(QJsonDocument::Compact));
}

namespace {

// Appends the prompt as the canonical JSON writes it, quotes excluded, UTF-8 encoded. Most
// prompts need no escaping at all and are encoded in one pass into the caller's kept
// buffer; for the others Qt's own writer decides, so keys stay what they were.
void appendJsonStringBody(QByteArray &out, QStringView text)
{
    if (json::appendUnescapedUtf8(out, text))
        return;
    const QByteArray quoted =
        QJsonDocument(QJsonArray{text.toString()}).toJson(QJsonDocument::Compact);
    out.append(QByteArrayView(quoted).sliced(2, quoted.size() - 4)); // ["…"]
}

} // namespace

bool ResponseCacheKeys::sameShape(const JobSpec &spec, const QString &model,
                                  const QString &systemPrompt) const
{
    return m_built && spec.provider == m_provider && spec.baseUrl == m_baseUrl && model == m_model
           && systemPrompt == m_systemPrompt && spec.maxOutputTokens == m_maxOutputTokens
           && spec.settings == m_settings;
}

void ResponseCacheKeys::buildShape(const JobSpec &spec, const QString &model,
                                   const QString &systemPrompt)
{
    m_provider = spec.provider;
    m_baseUrl = spec.baseUrl;
    m_model = model;
    m_systemPrompt = systemPrompt;
    m_maxOutputTokens = spec.maxOutputTokens;
    m_settings = spec.settings;
    // Encode once with an empty prompt: the encoding is everything before `""` at the
    // prompt's place and everything after it.
    RequestIdentity identity = requestIdentity(spec, model, QString());
    identity.systemPrompt = systemPrompt;
    const QJsonArray canonical{
        u"batchdesk-response-v1"_s, identity.family,          identity.model,
        identity.systemPrompt,      QString(),                identity.maxOutputTokens,
        identity.params,
    };
    const QByteArray encoded = QJsonDocument(canonical).toJson(QJsonDocument::Compact);
    const QByteArray head = QJsonDocument(QJsonArray{u"batchdesk-response-v1"_s, identity.family,
                                                     identity.model, identity.systemPrompt})
                                .toJson(QJsonDocument::Compact);
    // head is `[…,"system"]`: the prompt's opening quote follows its last field and a comma.
    const qsizetype promptAt = head.size() - 1 + 2; // drop `]`, add `,"`
    m_before = encoded.left(promptAt);
    m_after = encoded.mid(promptAt);
    m_built = true;
}

QByteArray ResponseCacheKeys::keyFor(const JobSpec &spec, const QString &model,
                                     const QString &systemPrompt, const QString &prompt)
{
    if (!sameShape(spec, model, systemPrompt))
        buildShape(spec, model, systemPrompt);
    // One buffer for the whole encoding, kept between keys: no allocation per prompt.
    m_encoded.resize(0);
    m_encoded.append(m_before);
    appendJsonStringBody(m_encoded, prompt);
    m_encoded.append(m_after);
    m_sha.addData(m_encoded);
    return m_sha.hexResult();
}

bool responseCacheEnabled(const QJsonObject &settings)
{
    const QJsonValue value = settings.value(settingkeys::responseCache);
    return value.isBool() ? value.toBool() : true;
}

} // namespace bd::cost
