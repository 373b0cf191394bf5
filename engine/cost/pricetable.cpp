#include "pricetable.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>

static void initEngineResources()
{
    Q_INIT_RESOURCE(engine);
}

namespace bd::cost {

using namespace Qt::StringLiterals;

PriceTable PriceTable::builtIn()
{
    initEngineResources();
    PriceTable table;
    QString error;
    if (!table.mergeFile(u":/batchdesk/prices.json"_s, &error))
        qWarning("built-in price table: %s", qPrintable(error));
    return table;
}

bool PriceTable::mergeFile(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = u"%1: %2"_s.arg(path, file.errorString());
        return false;
    }
    return mergeJson(file.readAll(), path, error);
}

bool PriceTable::mergeJson(const QByteArray &json, const QString &sourceName, QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError || !doc.isObject()) {
        *error = u"%1: not a price table (%2 at byte %3)"_s.arg(sourceName, parseError.errorString())
                     .arg(parseError.offset);
        return false;
    }
    const QJsonObject root = doc.object();
    if (root.contains(u"date"_s))
        m_date = root.value(u"date"_s).toString();
    const QJsonObject models = root.value(u"models"_s).toObject();
    for (auto it = models.begin(); it != models.end(); ++it) {
        const QJsonObject entry = it.value().toObject();
        if (!entry.contains(u"input"_s) || !entry.contains(u"output"_s)) {
            *error = u"%1: model %2 needs at least input and output prices"_s.arg(sourceName, it.key());
            return false;
        }
        ModelPrice price;
        price.input = entry.value(u"input"_s).toDouble();
        price.output = entry.value(u"output"_s).toDouble();
        price.cachedInput = entry.value(u"cached_input"_s).toDouble(price.input);
        price.cacheWrite = entry.value(u"cache_write"_s).toDouble(price.input);
        price.batchDiscount = entry.value(u"batch_discount"_s).toDouble(0.5);
        price.simulated = entry.value(u"simulated"_s).toBool(false);
        m_prices.insert(it.key(), price);
    }
    return true;
}

std::optional<ModelPrice> PriceTable::price(const QString &model) const
{
    const auto it = m_prices.constFind(model);
    if (it == m_prices.constEnd())
        return std::nullopt;
    return it.value();
}

std::optional<double> PriceTable::cost(const QString &model, const Usage &usage,
                                       bool batchLane) const
{
    const auto found = price(model);
    if (!found)
        return std::nullopt;
    const ModelPrice &p = *found;
    const double listCost = (double(usage.inputTokens) * p.input
                             + double(usage.cachedTokens) * p.cachedInput
                             + double(usage.cacheWriteTokens) * p.cacheWrite
                             + double(usage.outputTokens) * p.output)
                            / 1'000'000.0;
    return batchLane ? listCost * p.batchDiscount : listCost;
}

} // namespace bd::cost
