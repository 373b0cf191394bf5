#include "providercatalog.h"

#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

static void initProviderResources()
{
    Q_INIT_RESOURCE(providers);
}

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

QHash<QString, ProviderCatalogEntry> loadCatalog()
{
    initProviderResources();
    QHash<QString, ProviderCatalogEntry> catalog;
    QFile file(u":/batchdesk/providers.json"_s);
    if (!file.open(QIODevice::ReadOnly)) {
        qWarning("built-in provider catalog: %s", qPrintable(file.errorString()));
        return catalog;
    }
    QJsonParseError error;
    const QJsonObject root = QJsonDocument::fromJson(file.readAll(), &error).object();
    if (error.error != QJsonParseError::NoError)
        qWarning("built-in provider catalog: %s", qPrintable(error.errorString()));
    for (auto it = root.constBegin(); it != root.constEnd(); ++it) {
        if (!it.value().isObject())
            continue;
        const QJsonObject object = it.value().toObject();
        ProviderCatalogEntry entry;
        entry.defaultModel = object.value(u"default_model"_s).toString();
        for (const QJsonValue &model : object.value(u"models"_s).toArray())
            entry.models.append(model.toString());
        const QJsonObject batch = object.value(u"batch"_s).toObject();
        entry.batchMaxRequests = batch.value(u"max_requests"_s).toInteger();
        entry.batchMaxBytes = batch.value(u"max_bytes"_s).toInteger();
        entry.inlineMaxBytes = batch.value(u"inline_max_bytes"_s).toInteger();
        catalog.insert(it.key(), entry);
    }
    return catalog;
}

} // namespace

ProviderCatalogEntry providerCatalogEntry(const QString &family)
{
    static const QHash<QString, ProviderCatalogEntry> catalog = loadCatalog();
    return catalog.value(family);
}

} // namespace bd::providers
