// Error bodies of any shape with any HTTP status: classified, never crashing, and the
// message made safe (no key) by tidyMessage; Gemini's retry delay read from them.

#include "fuzzsupport.h"
#include "providers/errorclassification.h"
#include "providers/geminiprovider.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    bd::fuzz::silenceQt();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const int status = 100 + (data[0] << 8 | data[1]) % 500;
    const QByteArray body = bd::fuzz::bytes(data + 2, size - 2);
    (void)bd::providers::parseApiError(body);
    // Gemini's RetryInfo.retryDelay ("30s"): none (-1) or a delay, never below.
    if (bd::providers::GeminiProvider::retryDelayMs(body) < -1)
        __builtin_trap();
    const bd::providers::Classification classification =
        bd::providers::classifyHttpError(status, body);
    if (status >= 400 && classification.errorClass == bd::ErrorClass::None)
        __builtin_trap(); // an error status is never a success
    const QString key = QStringLiteral("sk-fuzz-SECRET-0123456789");
    const QString shown = bd::providers::tidyMessage(classification.message + key, key);
    if (shown.contains(key) || shown.size() > 500)
        __builtin_trap();
    return 0;
}
