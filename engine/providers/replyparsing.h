#pragma once

#include "provider.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>

// What the APIs answer, parsed without any client state, so that the clients, the tests
// and the fuzzers (tests/fuzz) share one parser per format. None of these trusts its
// input: any bytes give an answer or a reason, never a crash or an absurd figure
// (usage is checked by usageparsing.h).
namespace bd::providers {

// A 2xx chat completion body: text, model, usage, finish reason. False and a short reason
// when it is not what the API promises (the reply is then Malformed); a refusal is a
// well-formed answer with reply->error set.
bool parseOpenAiChatAnswer(const QByteArray &body, ChatReply *reply, QString *problem);
// The same for an Anthropic Messages answer.
bool parseAnthropicMessage(const QByteArray &body, ChatReply *reply, QString *problem);

// The lines of an OpenAI batch's output and error files, by task id (custom_id); lines
// that are not ours are skipped. apiKey is kept out of every text and message.
QHash<qint64, ChatReply> parseOpenAiBatchResults(const QList<QByteArray> &files,
                                                 const QString &apiKey);
// The lines of an Anthropic Message Batch's results, by task id (custom_id).
QHash<qint64, ChatReply> parseAnthropicBatchResults(const QByteArray &results,
                                                    const QString &apiKey);

} // namespace bd::providers
