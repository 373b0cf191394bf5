#include "geminiprovider.h"

#include "errorclassification.h"
#include "providercatalog.h"
#include "usageparsing.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

// Finish reasons that refuse the content: the same text would be refused again.
bool isBlockingFinish(const QString &reason)
{
    return reason == u"SAFETY"_s || reason == u"RECITATION"_s || reason == u"BLOCKLIST"_s ||
           reason == u"PROHIBITED_CONTENT"_s || reason == u"SPII"_s ||
           reason == u"IMAGE_SAFETY"_s || reason == u"LANGUAGE"_s;
}

// A JSON Schema as Gemini's responseSchema (an OpenAPI 3.0 subset): the keywords it
// knows, types in its upper-case spelling, ["x", "null"] as nullable, the rest dropped
// (additionalProperties, $schema ...: the answer is validated against the full schema).
QJsonObject geminiSchema(const QJsonObject &schema)
{
    static const QStringList kept{u"format"_s,   u"description"_s, u"nullable"_s,  u"enum"_s,
                                  u"maxItems"_s, u"minItems"_s,    u"required"_s,  u"minimum"_s,
                                  u"maximum"_s,  u"title"_s,       u"minLength"_s, u"maxLength"_s,
                                  u"pattern"_s};
    QJsonObject converted;
    for (const QString &key : kept) {
        if (schema.contains(key))
            converted.insert(key, schema.value(key));
    }
    const QJsonValue type = schema.value(u"type"_s);
    if (type.isString()) {
        converted.insert(u"type"_s, type.toString().toUpper());
    } else if (type.isArray()) {
        for (const QJsonValue &entry : type.toArray()) {
            if (entry.toString() == u"null"_s)
                converted.insert(u"nullable"_s, true);
            else
                converted.insert(u"type"_s, entry.toString().toUpper());
        }
    }
    if (schema.value(u"properties"_s).isObject()) {
        QJsonObject properties;
        const QJsonObject source = schema.value(u"properties"_s).toObject();
        for (auto it = source.begin(); it != source.end(); ++it)
            properties.insert(it.key(), geminiSchema(it.value().toObject()));
        converted.insert(u"properties"_s, properties);
    }
    if (schema.value(u"items"_s).isObject())
        converted.insert(u"items"_s, geminiSchema(schema.value(u"items"_s).toObject()));
    if (schema.value(u"anyOf"_s).isArray()) {
        QJsonArray options;
        for (const QJsonValue &option : schema.value(u"anyOf"_s).toArray())
            options.append(geminiSchema(option.toObject()));
        converted.insert(u"anyOf"_s, options);
    }
    return converted;
}

} // namespace

QJsonObject GeminiProvider::responseSchema(const ingest::OutputSchema &schema)
{
    QJsonObject converted = geminiSchema(schema.json());
    // Gemini writes properties in alphabetical order unless told otherwise.
    converted.insert(u"propertyOrdering"_s, QJsonArray::fromStringList(schema.fieldNames()));
    return converted;
}

std::unique_ptr<GeminiProvider> GeminiProvider::create(const ProviderConfig &config, Clock *clock,
                                                       QString *error)
{
    QUrl baseUrl;
    if (!resolveBaseUrl(config.baseUrl, u"https://generativelanguage.googleapis.com"_s, &baseUrl,
                        error)) {
        *error = u"gemini: "_s + *error;
        return nullptr;
    }
    return std::unique_ptr<GeminiProvider>(new GeminiProvider(config, baseUrl, clock));
}

GeminiProvider::GeminiProvider(const ProviderConfig &config, const QUrl &baseUrl, Clock *clock)
    : HttpChatProvider(config, baseUrl, clock, nullptr)
    , m_rootPath(baseUrl.path())
    , m_prices(cost::PriceTable::builtIn()) // until the engine hands over its own
{
    // GEMINI_BASE_URL is conventionally the host; accept one that names the version too.
    if (m_rootPath.endsWith(u"/v1beta"_s))
        m_rootPath.chop(int(qstrlen("/v1beta")));
}

void GeminiProvider::setPriceTable(const cost::PriceTable &prices)
{
    m_prices = prices;
}

QString GeminiProvider::defaultModel() const
{
    return providerCatalogEntry(u"gemini"_s).defaultModel;
}

QStringList GeminiProvider::knownModels() const
{
    return providerCatalogEntry(u"gemini"_s).models;
}

QNetworkRequest GeminiProvider::apiRequest(const QString &path, const QString &query) const
{
    QNetworkRequest request = makeRequest(QString());
    QUrl url = baseUrl();
    url.setPath(m_rootPath + path);
    if (!query.isEmpty())
        url.setQuery(query);
    request.setUrl(url);
    request.setRawHeader("x-goog-api-key", apiKey().toUtf8());
    return request;
}

QString GeminiProvider::modelPath(const QString &model, const QString &verb) const
{
    QString name = model;
    if (name.startsWith(u"models/"_s))
        name = name.mid(7);
    return u"/v1beta/models/"_s + QString::fromLatin1(QUrl::toPercentEncoding(name)) + u":"_s +
           verb;
}

QJsonObject GeminiProvider::requestJson(const ChatRequest &request,
                                        const QString &cachedContent) const
{
    QJsonObject generation{{u"maxOutputTokens"_s, qMax(1, request.maxOutputTokens)}};
    const QJsonValue temperature = settings().value(u"temperature"_s);
    if (temperature.isDouble())
        generation.insert(u"temperature"_s, temperature);
    if (request.outputSchema) {
        generation.insert(u"responseMimeType"_s, u"application/json"_s);
        generation.insert(u"responseSchema"_s, responseSchema(*request.outputSchema));
    }
    QJsonObject body{
        {u"contents"_s, QJsonArray{QJsonObject{
                            {u"role"_s, u"user"_s},
                            {u"parts"_s, QJsonArray{QJsonObject{{u"text"_s, request.prompt}}}}}}},
        {u"generationConfig"_s, generation},
    };
    if (!cachedContent.isEmpty())
        body.insert(u"cachedContent"_s, cachedContent);
    else if (!request.systemPrompt.isEmpty())
        body.insert(
            u"systemInstruction"_s,
            QJsonObject{{u"parts"_s, QJsonArray{QJsonObject{{u"text"_s, request.systemPrompt}}}}});
    return body;
}

QNetworkRequest GeminiProvider::buildRequest(const ChatRequest &request, QByteArray *body) const
{
    *body = QJsonDocument(requestJson(request)).toJson(QJsonDocument::Compact);
    return apiRequest(modelPath(request.model, u"generateContent"_s));
}

bool GeminiProvider::parseAnswer(const QByteArray &body, ChatReply *reply, QString *problem) const
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()) {
        *problem = parseError.error != QJsonParseError::NoError ? parseError.errorString()
                                                                : u"not a JSON object"_s;
        return false;
    }
    return parseResponse(document.object(), reply, problem);
}

bool GeminiProvider::parseResponse(const QJsonObject &root, ChatReply *reply,
                                   QString *problem) const
{
    if (root.value(u"error"_s).isObject()) {
        *problem = u"an error inside a success: "_s +
                   root.value(u"error"_s).toObject().value(u"message"_s).toString();
        return false;
    }
    // Usage figures are checked like the other providers' (usageparsing.h): a negative,
    // fractional or absurd count is a malformed reply, never booked.
    QJsonObject usage;
    qint64 prompt = 0;
    qint64 cached = 0;
    qint64 answer = 0;
    qint64 thoughts = 0;
    const QStringView member = u"usageMetadata";
    if (!usageObject(root, &usage, problem, member) ||
        !readTokenCount(usage, u"promptTokenCount", &prompt, problem, member) ||
        !readTokenCount(usage, u"cachedContentTokenCount", &cached, problem, member) ||
        !readTokenCount(usage, u"candidatesTokenCount", &answer, problem, member) ||
        !readTokenCount(usage, u"thoughtsTokenCount", &thoughts, problem, member)) {
        return false;
    }
    cached = qMin(cached, prompt); // promptTokenCount includes the cached tokens
    reply->usage.inputTokens = prompt - cached;
    reply->usage.cachedTokens = cached;
    reply->usage.outputTokens = answer + thoughts;
    const QString model = root.value(u"modelVersion"_s).toString();
    if (!model.isEmpty())
        reply->model = model.startsWith(u"models/"_s) ? model.mid(7) : model;

    const QJsonArray candidates = root.value(u"candidates"_s).toArray();
    if (candidates.isEmpty()) {
        // A prompt blocked before generation: no candidates, a reason in promptFeedback.
        const QString blocked =
            root.value(u"promptFeedback"_s).toObject().value(u"blockReason"_s).toString();
        if (blocked.isEmpty()) {
            *problem = u"no candidates[]"_s;
            return false;
        }
        reply->finishReason = blocked;
        reply->error = ErrorClass::InvalidRequest;
        reply->errorMessage = u"prompt blocked: "_s + blocked;
        return true;
    }
    const QJsonObject candidate = candidates.first().toObject();
    QString text;
    for (const QJsonValue &part :
         candidate.value(u"content"_s).toObject().value(u"parts"_s).toArray()) {
        const QJsonObject object = part.toObject();
        if (!object.value(u"thought"_s).toBool())
            text += object.value(u"text"_s).toString();
    }
    reply->text = text;
    reply->finishReason = candidate.value(u"finishReason"_s).toString();
    if (isBlockingFinish(reply->finishReason)) {
        reply->error = ErrorClass::InvalidRequest;
        reply->errorMessage =
            u"answer withheld by the provider: finishReason "_s + reply->finishReason;
        reply->text.clear();
    } else if (reply->finishReason == u"MAX_TOKENS"_s && text.isEmpty()) {
        // Thinking spent the whole allowance: the same request would do so again.
        reply->error = ErrorClass::InvalidRequest;
        reply->errorMessage = u"no answer text: maxOutputTokens was spent before the answer "
                              "(%1 thinking tokens); raise --max-output-tokens"_s.arg(thoughts);
    } else if (reply->finishReason == u"MAX_TOKENS"_s) {
        reply->errorMessage = u"truncated: the answer reached maxOutputTokens"_s;
    } else if (!reply->finishReason.isEmpty() && reply->finishReason != u"STOP"_s &&
               text.isEmpty()) {
        reply->error = ErrorClass::Malformed;
        reply->errorMessage = u"no answer text (finishReason %1)"_s.arg(reply->finishReason);
    }
    return true;
}

qint64 GeminiProvider::parseDuration(const QString &text)
{
    static const QRegularExpression pattern(u"^\\s*(\\d+(?:\\.\\d+)?)s\\s*$"_s);
    const QRegularExpressionMatch match = pattern.match(text);
    if (!match.hasMatch())
        return -1;
    // A week at most: a hostile or broken server's 10^36 s must not overflow (the fuzzer
    // found it), and no quota window is longer.
    constexpr double kMaxSeconds = 7 * 24 * 3600;
    return qint64(qMin(match.captured(1).toDouble(), kMaxSeconds) * 1000.0 + 0.5);
}

qint64 GeminiProvider::retryDelayMs(const QByteArray &errorBody)
{
    const QJsonObject error =
        QJsonDocument::fromJson(errorBody).object().value(u"error"_s).toObject();
    for (const QJsonValue &detail : error.value(u"details"_s).toArray()) {
        const QJsonObject object = detail.toObject();
        if (object.value(u"@type"_s).toString().endsWith(u"RetryInfo"_s))
            return parseDuration(object.value(u"retryDelay"_s).toString());
    }
    return -1;
}

void GeminiProvider::listModels()
{
    callApi("GET", apiRequest(u"/v1beta/models"_s, u"pageSize=1000"_s), {},
            [this](const ApiResult &result) {
                if (!result.ok()) {
                    Q_EMIT modelsListed({}, result.errorMessage);
                    return;
                }
                QStringList models;
                const QJsonArray list =
                    QJsonDocument::fromJson(result.body).object().value(u"models"_s).toArray();
                for (const QJsonValue &entry : list) {
                    QString name = entry.toObject().value(u"name"_s).toString();
                    if (name.startsWith(u"models/"_s))
                        name = name.mid(7);
                    if (!name.isEmpty())
                        models.append(name);
                }
                Q_EMIT modelsListed(models, QString());
            });
}

} // namespace bd::providers
