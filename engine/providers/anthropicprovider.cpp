#include "anthropicprovider.h"

#include "providercatalog.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace bd::providers {

using namespace Qt::StringLiterals;

std::unique_ptr<AnthropicProvider> AnthropicProvider::create(const ProviderConfig &config,
                                                             Clock *clock, QString *error)
{
    QUrl baseUrl;
    if (!resolveBaseUrl(config.baseUrl, u"https://api.anthropic.com"_s, &baseUrl, error)) {
        *error = u"anthropic: "_s + *error;
        return nullptr;
    }
    return std::unique_ptr<AnthropicProvider>(new AnthropicProvider(config, baseUrl, clock));
}

AnthropicProvider::AnthropicProvider(const ProviderConfig &config, const QUrl &baseUrl,
                                     Clock *clock)
    : HttpChatProvider(config, baseUrl, clock, nullptr)
    // ANTHROPIC_BASE_URL is conventionally the host alone; accept one that names /v1 as well.
    , m_messagesPath(baseUrl.path().endsWith(u"/v1"_s) ? u"/messages"_s : u"/v1/messages"_s)
{
}

QString AnthropicProvider::defaultModel() const
{
    return providerCatalogEntry(u"anthropic"_s).defaultModel;
}

QStringList AnthropicProvider::knownModels() const
{
    return providerCatalogEntry(u"anthropic"_s).models;
}

QByteArray AnthropicProvider::requestBody(const ChatRequest &request, CacheLife cacheLife) const
{
    QJsonObject body{
        {u"model"_s, request.model},
        {u"max_tokens"_s, qMax(1, request.maxOutputTokens)},
        {u"messages"_s,
         QJsonArray{QJsonObject{{u"role"_s, u"user"_s}, {u"content"_s, request.prompt}}}},
    };
    if (!request.systemPrompt.isEmpty()) {
        QJsonObject cacheControl{{u"type"_s, u"ephemeral"_s}};
        if (cacheLife == CacheLife::OneHour)
            cacheControl.insert(u"ttl"_s, u"1h"_s);
        body.insert(u"system"_s, QJsonArray{QJsonObject{
                                     {u"type"_s, u"text"_s},
                                     {u"text"_s, request.systemPrompt},
                                     {u"cache_control"_s, cacheControl},
                                 }});
    }
    const QJsonValue temperature = settings().value(u"temperature"_s);
    if (temperature.isDouble())
        body.insert(u"temperature"_s, temperature);
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

void AnthropicProvider::listModels()
{
    // The models list sits beside messages: /v1/models.
    QString path = m_messagesPath;
    path.chop(int(qstrlen("messages")));
    path += u"models?limit=1000"_s;
    QNetworkRequest request = apiRequest(u"/"_s);
    QUrl url = baseUrl();
    const int query = path.indexOf(u'?');
    url.setPath(url.path() + path.left(query));
    url.setQuery(path.mid(query + 1));
    request.setUrl(url);
    callApi("GET", request, {}, [this](const ApiResult &result) {
        if (!result.ok()) {
            Q_EMIT modelsListed({}, result.errorMessage);
            return;
        }
        QStringList models;
        const QJsonArray data = QJsonDocument::fromJson(result.body).object().value(u"data"_s).toArray();
        for (const QJsonValue &entry : data) {
            const QString id = entry.toObject().value(u"id"_s).toString();
            if (!id.isEmpty())
                models.append(id);
        }
        Q_EMIT modelsListed(models, QString());
    });
}

QNetworkRequest AnthropicProvider::apiRequest(const QString &path) const
{
    QNetworkRequest request = makeRequest(path);
    request.setRawHeader("x-api-key", apiKey().toUtf8());
    request.setRawHeader("anthropic-version", kApiVersion);
    return request;
}

QNetworkRequest AnthropicProvider::buildRequest(const ChatRequest &request, QByteArray *body) const
{
    *body = requestBody(request);
    return apiRequest(m_messagesPath);
}

bool AnthropicProvider::parseAnswer(const QByteArray &body, ChatReply *reply,
                                    QString *problem) const
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()) {
        *problem = parseError.error != QJsonParseError::NoError ? parseError.errorString()
                                                                : u"not a JSON object"_s;
        return false;
    }
    const QJsonObject root = document.object();
    if (root.value(u"type"_s).toString() == u"error"_s) {
        *problem = u"an error inside a success: "_s +
                   root.value(u"error"_s).toObject().value(u"message"_s).toString();
        return false;
    }
    const QJsonValue content = root.value(u"content"_s);
    if (!content.isArray()) {
        *problem = u"no content[]"_s;
        return false;
    }
    QString text;
    for (const QJsonValue &block : content.toArray()) {
        const QJsonObject object = block.toObject();
        if (object.value(u"type"_s).toString() == u"text"_s)
            text += object.value(u"text"_s).toString();
    }
    reply->text = text;
    const QString model = root.value(u"model"_s).toString();
    if (!model.isEmpty())
        reply->model = model;
    reply->finishReason = root.value(u"stop_reason"_s).toString();
    const QJsonObject usage = root.value(u"usage"_s).toObject();
    reply->usage.inputTokens = qMax<qint64>(0, usage.value(u"input_tokens"_s).toInteger());
    reply->usage.outputTokens = qMax<qint64>(0, usage.value(u"output_tokens"_s).toInteger());
    reply->usage.cachedTokens =
        qMax<qint64>(0, usage.value(u"cache_read_input_tokens"_s).toInteger());
    reply->usage.cacheWriteTokens =
        qMax<qint64>(0, usage.value(u"cache_creation_input_tokens"_s).toInteger());
    if (reply->finishReason == u"refusal"_s && text.isEmpty()) {
        reply->error = ErrorClass::InvalidRequest;
        reply->errorMessage = u"the model refused to answer"_s;
    }
    return true;
}

} // namespace bd::providers
