// Prompt templates: any text parsed, bound to its own placeholders plus a few columns,
// and rendered with values taken from the rest of the input.

#include "fuzzsupport.h"
#include "ingest/prompttemplate.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    bd::fuzz::silenceQt();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auto [templateBytes, valueBytes] = bd::fuzz::split(bd::fuzz::bytes(data, size));
    const bd::ingest::PromptTemplate prompt(QString::fromUtf8(templateBytes));
    (void)prompt.syntaxError();
    (void)prompt.staticPrefix();

    QStringList header{QStringLiteral("id"), QStringLiteral("review"), QStringLiteral("ünï cödé")};
    for (const QString &name : prompt.placeholders()) {
        if (!header.contains(name))
            header.append(name);
    }
    bd::ingest::PromptTemplate bound(prompt.text());
    QString error;
    if (!prompt.syntaxError().isEmpty() || !bound.bind(header, &error))
        return 0;
    QStringList values = QString::fromUtf8(valueBytes).split(QChar(u'\x1f'));
    values.resize(header.size());
    (void)bound.render(values);

    // Binding to a header without its placeholders must fail cleanly, naming them.
    bd::ingest::PromptTemplate unbound(prompt.text());
    if (!prompt.placeholders().isEmpty() && unbound.bind({QStringLiteral("other")}, &error) &&
        !prompt.placeholders().contains(QStringLiteral("other")))
        __builtin_trap();
    return 0;
}
