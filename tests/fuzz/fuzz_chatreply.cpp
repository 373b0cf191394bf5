// A 2xx chat answer, as OpenAI-compatible servers, Anthropic and Gemini send it (Gemini's
// also as a line of its batch results). Whatever the bytes, a reply either parses with sane
// usage or is refused with a reason.

#include "core/clock.h"
#include "fuzzsupport.h"
#include "providers/geminiprovider.h"
#include "providers/replyparsing.h"
#include "providers/usageparsing.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonObject>

namespace {

void check(const bd::providers::ChatReply &reply, bool parsed, const QString &problem)
{
    if (!parsed && problem.isEmpty())
        __builtin_trap(); // a refusal always says why
    const bd::Usage &u = reply.usage;
    if (parsed && (u.inputTokens < 0 || u.outputTokens < 0 || u.cachedTokens < 0 ||
                   u.cacheWriteTokens < 0 || u.inputTokens > bd::providers::kMaxUsageTokens ||
                   u.outputTokens > 2 * bd::providers::kMaxUsageTokens))
        __builtin_trap(); // (Gemini's output is its answer plus its thoughts: two fields)
}

std::unique_ptr<bd::providers::GeminiProvider> g_gemini;

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    bd::fuzz::silenceQt();
    static QCoreApplication app(*argc, *argv); // the provider's network objects want one
    bd::ProviderConfig config;
    config.id = QStringLiteral("gemini");
    config.apiKey = QStringLiteral("fuzz-key");
    config.baseUrl = QStringLiteral("http://127.0.0.1:9");
    QString error;
    g_gemini = bd::providers::GeminiProvider::create(config, bd::SystemClock::instance(), &error);
    if (!g_gemini)
        __builtin_trap();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray body = bd::fuzz::bytes(data, size);
    {
        bd::providers::ChatReply reply;
        QString problem;
        const bool parsed = bd::providers::parseOpenAiChatAnswer(body, &reply, &problem);
        check(reply, parsed, problem);
    }
    {
        bd::providers::ChatReply reply;
        QString problem;
        const bool parsed = bd::providers::parseAnthropicMessage(body, &reply, &problem);
        check(reply, parsed, problem);
    }
    const QJsonDocument document = QJsonDocument::fromJson(body);
    if (document.isObject()) {
        bd::providers::ChatReply reply;
        QString problem;
        const bool parsed = g_gemini->parseResponse(document.object(), &reply, &problem);
        check(reply, parsed, problem);
    }
    return 0;
}
