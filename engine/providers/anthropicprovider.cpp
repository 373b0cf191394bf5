#include "anthropicprovider.h"

#include "core/jsonutil.h"
#include "providercatalog.h"
#include "replyparsing.h"

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
    if (!request.outputSchema)
        return QJsonDocument(body).toJson(QJsonDocument::Compact);
    // A forced tool whose input schema is the answer's: the answer is the tool call's input.
    const QString name = kStructuredAnswerName.toString();
    body.insert(u"tool_choice"_s, QJsonObject{{u"type"_s, u"tool"_s}, {u"name"_s, name}});
    const QByteArray tool = json::withRawMember(
        QJsonDocument(QJsonObject{{u"name"_s, name}, {u"description"_s, u"Record the answer."_s}})
            .toJson(QJsonDocument::Compact),
        "input_schema", request.outputSchema->text());
    return json::withRawMember(QJsonDocument(body).toJson(QJsonDocument::Compact), "tools",
                               QByteArray('[' + tool + ']'));
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
    return parseAnthropicMessage(body, reply, problem);
}

} // namespace bd::providers
