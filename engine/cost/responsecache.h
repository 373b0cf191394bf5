#pragma once

#include "core/sha256.h"

#include <QByteArray>
#include <QJsonObject>
#include <QString>

namespace bd {
struct JobSpec;
}

namespace bd::cost {

// What makes two requests the same request: an answer to one is an answer to the other.
struct RequestIdentity
{
    QString family;  // provider family: "openai" (also openai-compatible + its base URL), "anthropic", "simulator"
    QString model;
    QString systemPrompt;
    QString prompt;  // the rendered row
    int maxOutputTokens = 0;
    QJsonObject params; // sampling and format knobs that change the answer (temperature, ...)
};

// Job settings keys that change an answer and therefore belong to the cache key.
QJsonObject answerAffectingParams(const QJsonObject &settings);

// The identity of a job's request for one rendered prompt.
RequestIdentity requestIdentity(const JobSpec &spec, const QString &model, const QString &prompt);

// SHA-256 (hex) of a canonical encoding: a versioned compact JSON array of the fields in a
// fixed order, params with sorted keys. Texts are compared exactly (no trimming or case
// folding): a changed space is a different prompt.
QByteArray responseCacheKey(const RequestIdentity &identity);

// responseCacheKey for many prompts of one job, byte for byte the same key, without
// building a JSON document per prompt: the encoding around the prompt is kept while the
// job's provider, model, system prompt, output limit and answer-changing settings stay
// the same (a drain asks for one key per task; this was a tenth of its time).
class ResponseCacheKeys
{
public:
    QByteArray keyFor(const JobSpec &spec, const QString &model, const QString &systemPrompt,
                      const QString &prompt);

private:
    bool sameShape(const JobSpec &spec, const QString &model, const QString &systemPrompt) const;
    void buildShape(const JobSpec &spec, const QString &model, const QString &systemPrompt);

    bool m_built = false;
    QString m_provider;
    QString m_baseUrl;
    QString m_model;
    QString m_systemPrompt;
    int m_maxOutputTokens = 0;
    QJsonObject m_settings; // compared, not rebuilt: a job's settings share one copy
    QByteArray m_before; // the canonical encoding up to the prompt's text
    QByteArray m_after;  // and after it
    QByteArray m_encoded; // the last prompt's whole encoding; its room is kept for the next
    Sha256 m_sha;
};

// Whether the job uses the response cache (job setting "response_cache", default true).
bool responseCacheEnabled(const QJsonObject &settings);

} // namespace bd::cost
