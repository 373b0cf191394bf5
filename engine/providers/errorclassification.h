#pragma once

#include "core/tasktypes.h"

#include <QByteArrayView>
#include <QNetworkReply>
#include <QString>

// Turning what came back from a provider into one ErrorClass. Pure functions, callable
// from any thread. The rules follow docs PROVIDERS.md: a quota or spend cap is never
// retried, an invalid request goes to the dead-letter queue, auth and configuration
// problems stop the job, everything transient is retried.
namespace bd::providers {

// The error envelope of either API ({"error":{"message","type","code"}} from OpenAI,
// {"type":"error","error":{"type","message"}} from Anthropic) or the simpler shapes local
// servers send ({"error":"text"}, {"detail":"text"}, {"message":"text"}).
struct ApiError
{
    bool present = false; // the body carried a recognisable error
    QString type;
    QString code;
    QString message;
};
ApiError parseApiError(QByteArrayView body);

struct Classification
{
    ErrorClass errorClass = ErrorClass::None;
    QString message; // short, human: "HTTP 429 rate_limit_exceeded: ..." (not yet redacted)
};

// An HTTP answer that is not a success (status outside 2xx), from its status and body.
Classification classifyHttpError(int httpStatus, QByteArrayView body);
// The same when the body was already parsed.
ErrorClass classifyHttpStatus(int httpStatus, const ApiError &error);

// A transport failure without an HTTP status. `abortedByUs` tells an abort the caller
// asked for (cancel) from one Qt did on its own (the transfer timeout).
ErrorClass classifyNetworkError(QNetworkReply::NetworkError error, bool abortedByUs = false);

// `text` with every occurrence of `secret` (and of its "Bearer " form) replaced by a
// marker. Secrets shorter than 4 characters are left alone (they would eat ordinary text).
QString redactSecret(const QString &text, const QString &secret);

// Provider text fit for a message: redacted, single spaces, at most maxChars characters.
QString tidyMessage(const QString &text, const QString &secret, int maxChars = 500);

} // namespace bd::providers
