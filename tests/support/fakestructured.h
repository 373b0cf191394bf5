#pragma once

#include <QJsonObject>
#include <QString>

// What the loopback fakes answer when a request asks for JSON that matches a schema, shared
// by the OpenAI/Anthropic fake and the Gemini one. Answers are derived from the schema and
// the prompt, so that a test can compute what each row's fields must be:
//   text: "about: " + the prompt's first 40 characters
//   one of a list (enum): the first choice the prompt contains (case-insensitive), else
//     the first choice
//   number / integer: the prompt's length in characters
//   yes/no: whether the prompt's length is even
//   list of text: the prompt's first three words
// Markers in the prompt break the answer (add *N to break only the first N tries):
//   [[json:notjson]]   text that is not JSON at all
//   [[json:mismatch]]  an object that lacks the schema's first required property
// Types are read case-insensitively, so Gemini's responseSchema ("STRING") works too.
namespace bd::testing {

QJsonObject structuredAnswer(const QJsonObject &schema, const QString &prompt);

enum class StructuredFault
{
    None,
    NotJson,
    Mismatch,
};
// The fault the markers in the prompt ask for on this (1-based) try.
StructuredFault structuredFault(const QString &prompt, int attempt);

// The answer's text for this try: the object as compact JSON, or a broken one.
QString structuredAnswerText(const QJsonObject &schema, const QString &prompt, int attempt);

// The schema an OpenAI chat body asks for: response_format json_schema's schema, or for
// json_object the schema the system message's last line holds. Empty: free text.
QJsonObject openAiRequestedSchema(const QJsonObject &body);

} // namespace bd::testing
