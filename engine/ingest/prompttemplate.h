#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace bd::ingest {

// A prompt with {{column}} placeholders, bound to a CSV header once, rendered per row.
// Whitespace inside the braces is ignored ({{ review }}). Immutable after bind(): safe to
// share across threads for rendering.
class PromptTemplate
{
public:
    PromptTemplate() = default;
    explicit PromptTemplate(const QString &text);

    const QString &text() const { return m_text; }
    // Placeholder names in order of appearance, without duplicates.
    QStringList placeholders() const;
    // Syntax error (unclosed "{{", empty name) or empty string.
    QString syntaxError() const { return m_syntaxError; }

    // Resolves placeholders against the header. Returns false and names every unknown
    // placeholder in *error ("unknown placeholder {{revew}}; columns are: id, review").
    bool bind(const QStringList &header, QString *error);

    // Renders the template for one row (values in header order). Requires bind().
    QString render(const QStringList &values) const;

    // The text before the first placeholder: the part of every prompt that is identical,
    // sent first so providers can cache it.
    QString staticPrefix() const;

private:
    struct Segment
    {
        QString literal;
        int column = -1; // -1: literal only
        QString name;
    };
    QString m_text;
    QString m_syntaxError;
    QList<Segment> m_segments;
    bool m_bound = false;
};

} // namespace bd::ingest
