#pragma once

#include <QString>
#include <QStringList>

namespace bd::providers {

// What resources/providers.json (built in) says about one API family: its model list and
// the limits of its batch API. Editable data, not code (docs PROVIDERS.md).
struct ProviderCatalogEntry
{
    QString defaultModel;
    QStringList models;
    qint64 batchMaxRequests = 0;
    qint64 batchMaxBytes = 0;
    qint64 inlineMaxBytes = 0; // Gemini: the largest batch sent inline (bigger ones go as a file)
};

// family: "openai", "anthropic" or "gemini"; an empty entry for anything else. Thread-safe.
ProviderCatalogEntry providerCatalogEntry(const QString &family);

} // namespace bd::providers
