// Result files of the batch APIs (JSONL): OpenAI's output/error files and Anthropic's
// results stream. The key must never come back in a text or a message.

#include "fuzzsupport.h"
#include "providers/replyparsing.h"

namespace {

const QString kKey = QStringLiteral("sk-fuzz-SECRET-0123456789");

void check(const QHash<qint64, bd::providers::ChatReply> &replies)
{
    for (auto it = replies.cbegin(); it != replies.cend(); ++it) {
        if (it->taskId != it.key())
            __builtin_trap();
        if (it->text.contains(kKey) || it->errorMessage.contains(kKey))
            __builtin_trap();
        if (it->usage.inputTokens < 0 || it->usage.outputTokens < 0)
            __builtin_trap();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    bd::fuzz::silenceQt();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray input = bd::fuzz::bytes(data, size);
    const auto [output, errors] = bd::fuzz::split(input);
    check(bd::providers::parseOpenAiBatchResults({output, errors}, kKey));
    check(bd::providers::parseAnthropicBatchResults(input, kKey));
    return 0;
}
