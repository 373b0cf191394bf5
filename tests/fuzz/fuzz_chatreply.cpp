// A 2xx chat answer, as OpenAI-compatible servers and Anthropic send it. Whatever the
// bytes, a reply either parses with sane usage or is refused with a reason.

#include "fuzzsupport.h"
#include "providers/replyparsing.h"
#include "providers/usageparsing.h"

namespace {

void check(const bd::providers::ChatReply &reply, bool parsed, const QString &problem)
{
    if (!parsed && problem.isEmpty())
        __builtin_trap(); // a refusal always says why
    const bd::Usage &u = reply.usage;
    if (parsed && (u.inputTokens < 0 || u.outputTokens < 0 || u.cachedTokens < 0 ||
                   u.cacheWriteTokens < 0 || u.inputTokens > bd::providers::kMaxUsageTokens ||
                   u.outputTokens > bd::providers::kMaxUsageTokens))
        __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    bd::fuzz::silenceQt();
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
    return 0;
}
