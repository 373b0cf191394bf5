#include "prompttemplate.h"

#include <QSet>

using namespace Qt::StringLiterals;

namespace bd::ingest {

namespace {

// "line 2, column 7" for a 0-based offset into text.
QString describePosition(const QString &text, qsizetype offset)
{
    qsizetype line = 1;
    qsizetype lineStart = 0;
    for (qsizetype i = 0; i < offset; ++i) {
        if (text.at(i) == u'\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    return u"line "_s + QString::number(line) + u", column "_s +
           QString::number(offset - lineStart + 1);
}

} // namespace

// Grammar: a placeholder opens at "{{" and closes at the next "}}". In a run of three or
// more '{' only the last two open it ("{{{x}}}" is "{" + value + "}"), so JSON-looking
// prompts work. A '{' or '}' that is not part of "{{" ... "}}" is literal text.
PromptTemplate::PromptTemplate(const QString &text)
    : m_text(text)
{
    const qsizetype n = text.size();
    qsizetype literalStart = 0;
    qsizetype i = 0;
    while (i < n) {
        const qsizetype open = text.indexOf(u"{{"_s, i);
        if (open < 0)
            break;
        qsizetype start = open;
        while (start + 2 < n && text.at(start + 2) == u'{')
            ++start; // extra leading braces are literal
        const qsizetype close = text.indexOf(u"}}"_s, start + 2);
        const qsizetype nested = text.indexOf(u"{{"_s, start + 2);
        if (close < 0 || (nested >= 0 && nested < close)) {
            m_syntaxError = u"unclosed \"{{\" at "_s + describePosition(text, start);
            m_segments.clear();
            return;
        }
        const QString name = text.mid(start + 2, close - start - 2).trimmed();
        if (name.isEmpty()) {
            m_syntaxError = u"empty placeholder \"{{}}\" at "_s + describePosition(text, start);
            m_segments.clear();
            return;
        }
        Segment segment;
        segment.literal = text.mid(literalStart, start - literalStart);
        segment.name = name;
        m_segments.append(segment);
        i = close + 2;
        literalStart = i;
    }
    if (literalStart < n || m_segments.isEmpty()) {
        Segment tail;
        tail.literal = text.mid(literalStart);
        m_segments.append(tail);
    }
}

QStringList PromptTemplate::placeholders() const
{
    QStringList names;
    for (const Segment &segment : m_segments) {
        if (!segment.name.isEmpty() && !names.contains(segment.name))
            names.append(segment.name);
    }
    return names;
}

bool PromptTemplate::bind(const QStringList &header, QString *error)
{
    m_bound = false;
    const auto report = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    if (!m_syntaxError.isEmpty())
        return report(m_syntaxError);

    QStringList unknown;
    for (Segment &segment : m_segments) {
        if (segment.name.isEmpty()) {
            segment.column = -1;
            continue;
        }
        segment.column = int(header.indexOf(segment.name));
        if (segment.column < 0) {
            const QString placeholder = u"{{"_s + segment.name + u"}}"_s;
            if (!unknown.contains(placeholder))
                unknown.append(placeholder);
        }
    }
    if (!unknown.isEmpty()) {
        const QString columns = header.isEmpty() ? u"(none)"_s : header.join(u", "_s);
        return report(
            (unknown.size() == 1 ? u"unknown placeholder "_s : u"unknown placeholders "_s) +
            unknown.join(u", "_s) + u"; columns are: "_s + columns);
    }
    if (error)
        error->clear();
    m_bound = true;
    return true;
}

QString PromptTemplate::render(const QStringList &values) const
{
    if (!m_bound)
        return {};
    qsizetype size = 0;
    for (const Segment &segment : m_segments) {
        size += segment.literal.size();
        if (segment.column >= 0 && segment.column < values.size())
            size += values.at(segment.column).size();
    }
    QString out;
    out.reserve(size);
    for (const Segment &segment : m_segments) {
        out.append(segment.literal);
        if (segment.column >= 0 && segment.column < values.size())
            out.append(values.at(segment.column));
    }
    return out;
}

QString PromptTemplate::staticPrefix() const
{
    if (m_segments.isEmpty())
        return {};
    return m_segments.first().literal;
}

} // namespace bd::ingest
