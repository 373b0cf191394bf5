#include "openaichatprovider.h"

#include "api/jobsettings.h"
#include "core/jsonutil.h"
#include "errorclassification.h"
#include "networkpool.h"
#include "providercatalog.h"
#include "replyparsing.h"

#include <QHostAddress>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>

namespace bd::providers {

using namespace Qt::StringLiterals;

std::unique_ptr<OpenAiChatProvider> OpenAiChatProvider::create(Flavour flavour,
                                                               const ProviderConfig &config,
                                                               Clock *clock, QString *error)
{
    QUrl baseUrl;
    const QString fallback =
        flavour == Flavour::OpenAi ? u"https://api.openai.com/v1"_s : QString();
    if (!resolveBaseUrl(config.baseUrl, fallback, &baseUrl, error)) {
        *error = config.id + u": "_s + *error;
        return nullptr;
    }
    return std::unique_ptr<OpenAiChatProvider>(
        new OpenAiChatProvider(flavour, config, baseUrl, clock));
}

OpenAiChatProvider::OpenAiChatProvider(Flavour flavour, const ProviderConfig &config,
                                       const QUrl &baseUrl, Clock *clock)
    : HttpChatProvider(config, baseUrl, clock, nullptr)
    , m_flavour(flavour)
{
}

QString OpenAiChatProvider::id() const
{
    return m_flavour == Flavour::OpenAi ? u"openai"_s : u"openai-compatible"_s;
}

QString OpenAiChatProvider::displayName() const
{
    if (m_flavour == Flavour::OpenAi)
        return u"OpenAI"_s;
    return u"OpenAI-compatible server at "_s + baseUrl().toDisplayString();
}

bool OpenAiChatProvider::isLocalServer() const
{
    if (m_flavour != Flavour::Compatible)
        return false;
    const QString host = baseUrl().host();
    return host.compare(u"localhost"_s, Qt::CaseInsensitive) == 0 ||
           QHostAddress(host).isLoopback();
}

QString OpenAiChatProvider::defaultModel() const
{
    if (m_flavour == Flavour::OpenAi)
        return providerCatalogEntry(u"openai"_s).defaultModel;
    // Local servers name their models freely; one that serves a single model ignores this.
    const QString configured = settings().value(u"model"_s).toString();
    return configured.isEmpty() ? u"default"_s : configured;
}

QStringList OpenAiChatProvider::knownModels() const
{
    if (m_flavour == Flavour::OpenAi)
        return providerCatalogEntry(u"openai"_s).models;
    return {};
}

bool OpenAiChatProvider::usesJsonObjectMode() const
{
    return m_flavour == Flavour::Compatible &&
           settings().value(settingkeys::structuredOutput).toString() == u"json_object"_s;
}

QByteArray OpenAiChatProvider::requestBody(const ChatRequest &request) const
{
    const bool jsonObjectMode = request.outputSchema && usesJsonObjectMode();
    QString systemPrompt = request.systemPrompt;
    if (jsonObjectMode) // the API promises JSON, not this schema: the model is told it
        systemPrompt += (systemPrompt.isEmpty() ? u""_s : u"\n\n"_s) +
                        structuredAnswerInstruction(*request.outputSchema);
    QJsonArray messages;
    if (!systemPrompt.isEmpty())
        messages.append(QJsonObject{{u"role"_s, u"system"_s}, {u"content"_s, systemPrompt}});
    messages.append(QJsonObject{{u"role"_s, u"user"_s}, {u"content"_s, request.prompt}});
    QJsonObject body{
        {u"model"_s, request.model},
        {u"messages"_s, messages},
    };
    if (m_flavour == Flavour::OpenAi) {
        body.insert(u"max_completion_tokens"_s, request.maxOutputTokens);
        if (!request.cacheKey.isEmpty())
            body.insert(u"prompt_cache_key"_s, request.cacheKey);
    } else {
        body.insert(u"max_tokens"_s, request.maxOutputTokens);
    }
    const QJsonValue temperature = settings().value(u"temperature"_s);
    if (temperature.isDouble())
        body.insert(u"temperature"_s, temperature);
    if (jsonObjectMode)
        body.insert(u"response_format"_s, QJsonObject{{u"type"_s, u"json_object"_s}});
    const QByteArray compact = QJsonDocument(body).toJson(QJsonDocument::Compact);
    if (!request.outputSchema || jsonObjectMode)
        return compact;
    // Strict only for a schema strict mode accepts (the API refuses the others); dispatch
    // validates every answer either way.
    const QByteArray responseFormat =
        R"({"type":"json_schema","json_schema":{"name":")" +
        QByteArray(kStructuredAnswerName.data(), kStructuredAnswerName.size()) + R"(","strict":)" +
        (request.outputSchema->isStrict() ? "true" : "false") + R"(,"schema":)" +
        request.outputSchema->text() + "}}";
    return json::withRawMember(compact, "response_format", responseFormat);
}

QNetworkRequest OpenAiChatProvider::apiRequest(const QString &path) const
{
    QNetworkRequest request = makeRequest(path);
    if (!apiKey().isEmpty())
        request.setRawHeader("Authorization", "Bearer " + apiKey().toUtf8());
    return request;
}

QNetworkRequest OpenAiChatProvider::buildRequest(const ChatRequest &request, QByteArray *body) const
{
    *body = requestBody(request);
    return apiRequest(u"/chat/completions"_s);
}

bool OpenAiChatProvider::parseAnswer(const QByteArray &body, ChatReply *reply,
                                     QString *problem) const
{
    return parseOpenAiChatAnswer(body, reply, problem);
}

void OpenAiChatProvider::listModels()
{
    // Through callApi(): the list is capped and has a deadline like every other call.
    callApi("GET", apiRequest(u"/models"_s), {}, [this](const ApiResult &result) {
        if (!result.ok()) {
            Q_EMIT modelsListed({}, result.errorMessage);
            return;
        }
        QStringList models;
        const QJsonArray data =
            QJsonDocument::fromJson(result.body).object().value(u"data"_s).toArray();
        for (const QJsonValue &entry : data) {
            const QString id = entry.toObject().value(u"id"_s).toString();
            if (!id.isEmpty())
                models.append(id);
        }
        Q_EMIT modelsListed(models, QString());
    });
}

} // namespace bd::providers
