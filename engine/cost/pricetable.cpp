#include "pricetable.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

#include <algorithm>
#include <cmath>

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
    const QString fileDate = root.value(u"date"_s).toString();
    const QJsonObject models = root.value(u"models"_s).toObject();
    // Validate everything first: a bad override changes nothing.
    QHash<QString, ModelPrice> merged;
    const auto number = [](const QJsonObject &entry, const QString &key, double fallback,
                           bool *ok) {
        const QJsonValue value = entry.value(key);
        if (value.isUndefined() || value.isNull())
            return fallback;
        if (!value.isDouble() || !std::isfinite(value.toDouble()) || value.toDouble() < 0) {
            *ok = false;
            return fallback;
        }
        return value.toDouble();
    };
    for (auto it = models.begin(); it != models.end(); ++it) {
        if (!it.value().isObject()) {
            *error = u"%1: model %2: not an object"_s.arg(sourceName, it.key());
            return false;
        }
        const QJsonObject entry = it.value().toObject();
        const bool mergeOver = entry.value(u"merge"_s).toBool(false) && m_prices.contains(it.key());
        if (!mergeOver && (!entry.contains(u"input"_s) || !entry.contains(u"output"_s))) {
            *error = u"%1: model %2 needs at least input and output prices"_s.arg(sourceName, it.key());
            return false;
        }
        const ModelPrice base = mergeOver ? m_prices.at(it.key()) : ModelPrice{};
        bool ok = true;
        ModelPrice price;
        price.input = number(entry, u"input"_s, base.input, &ok);
        price.output = number(entry, u"output"_s, base.output, &ok);
        // Without a cached price, cached input costs as much as input (no saving assumed).
        price.cachedInput = number(entry, u"cached_input"_s, mergeOver ? base.cachedInput : price.input, &ok);
        price.cacheWrite = number(entry, u"cache_write"_s, mergeOver ? base.cacheWrite : price.input, &ok);
        price.cacheWrite1h = number(entry, u"cache_write_1h"_s,
                                    mergeOver ? base.cacheWrite1h : price.cacheWrite, &ok);
        price.batchDiscount = number(entry, u"batch_discount"_s, mergeOver ? base.batchDiscount : 0.5, &ok);
        price.cacheStoragePerHour = number(entry, u"cache_storage_per_hour"_s,
                                           mergeOver ? base.cacheStoragePerHour : 0.0, &ok);
        if (!ok) {
            *error = u"%1: model %2: prices must be numbers >= 0"_s.arg(sourceName, it.key());
            return false;
        }
        if (price.batchDiscount > 1.0) {
            *error = u"%1: model %2: batch_discount is the share paid (0..1)"_s.arg(sourceName, it.key());
            return false;
        }
        price.simulated = entry.value(u"simulated"_s).toBool(mergeOver && base.simulated);
        price.date = entry.value(u"date"_s).toString(fileDate.isEmpty() ? base.date : fileDate);
        price.source = sourceName;
        merged.insert(it.key(), price);
    }
    for (auto it = merged.cbegin(); it != merged.cend(); ++it)
        m_prices.insert_or_assign(it.key(), it.value());
    if (!fileDate.isEmpty())
        m_date = fileDate;
    return true;
}

QStringList PriceTable::familyCandidates(const QString &model)
{
    // Providers answer with the dated snapshot of an alias; the alias is what price lists
    // name. One suffix at a time, so that the most specific entry a table has wins.
    static const QList<QRegularExpression> suffixes{
        QRegularExpression(u"-\\d{8}$"_s),               // claude-sonnet-4-5-20250929
        QRegularExpression(u"-\\d{4}-\\d{2}-\\d{2}$"_s), // gpt-4o-mini-2024-07-18
        QRegularExpression(u"-\\d{3}$"_s),               // gemini-2.0-flash-001
        QRegularExpression(u"-latest$"_s),
        QRegularExpression(u"-preview(-\\d{2}-\\d{2,4})?$"_s), // gemini-2.5-flash-preview-09-2025
    };
    QStringList candidates{model};
    QString name = model.trimmed();
    if (name.startsWith(u"models/"_s))
        name = name.mid(7);
    if (name != model)
        candidates.append(name);
    for (bool changed = true; changed;) {
        changed = false;
        for (const QRegularExpression &suffix : suffixes) {
            const QRegularExpressionMatch match = suffix.match(name);
            if (match.hasMatch() && match.capturedStart() > 0) {
                name.truncate(match.capturedStart());
                candidates.append(name);
                changed = true;
            }
        }
    }
    return candidates;
}

QString PriceTable::pricedModel(const QString &model) const
{
    for (const QString &candidate : familyCandidates(model)) {
        if (m_prices.contains(candidate))
            return candidate;
    }
    return {};
}

const ModelPrice *PriceTable::lookUp(const QString &model, QString *family) const
{
    const auto it = m_prices.find(model);
    if (it != m_prices.end())
        return &it->second;
    *family = pricedModel(model);
    return family->isEmpty() ? nullptr : &m_prices.at(*family);
}

std::optional<ModelPrice> PriceTable::price(const QString &model) const
{
    QString family;
    const ModelPrice *found = lookUp(model, &family);
    if (!found)
        return std::nullopt;
    ModelPrice priced = *found;
    if (!family.isEmpty())
        priced.family = family;
    return priced;
}

QStringList PriceTable::models() const
{
    QStringList names;
    names.reserve(qsizetype(m_prices.size()));
    for (const auto &[name, price] : m_prices)
        names.append(name);
    std::sort(names.begin(), names.end());
    return names;
}

std::optional<CostBreakdown> PriceTable::breakdown(const QString &model, const Usage &usage,
                                                   bool batchLane, CacheTtl writeTtl) const
{
    QString family;
    const ModelPrice *found = lookUp(model, &family);
    if (!found)
        return std::nullopt;
    const ModelPrice &p = *found;
    const double share = (batchLane ? p.batchDiscount : 1.0) / 1'000'000.0;
    CostBreakdown b;
    b.input = double(usage.inputTokens) * p.input * share;
    b.cachedInput = double(usage.cachedTokens) * p.cachedInput * share;
    b.cacheWrite = double(usage.cacheWriteTokens)
                   * (writeTtl == CacheTtl::OneHour ? p.cacheWrite1h : p.cacheWrite) * share;
    b.output = double(usage.outputTokens) * p.output * share;
    return b;
}

std::optional<double> PriceTable::cost(const QString &model, const Usage &usage,
                                       bool batchLane) const
{
    return cost(model, usage, batchLane, CacheTtl::FiveMinutes);
}

std::optional<double> PriceTable::cost(const QString &model, const Usage &usage, bool batchLane,
                                       CacheTtl writeTtl) const
{
    const auto b = breakdown(model, usage, batchLane, writeTtl);
    if (!b)
        return std::nullopt;
    return b->total();
}

std::optional<double> PriceTable::naiveCost(const QString &model, const Usage &usage) const
{
    QString family;
    const ModelPrice *found = lookUp(model, &family);
    if (!found)
        return std::nullopt;
    const qint64 allInput = usage.inputTokens + usage.cachedTokens + usage.cacheWriteTokens;
    return (double(allInput) * found->input + double(usage.outputTokens) * found->output)
           / 1'000'000.0;
}

std::optional<double> PriceTable::maxCost(const QString &model, qint64 promptTokens,
                                          qint64 maxOutputTokens, bool batchLane) const
{
    QString family;
    const ModelPrice *found = lookUp(model, &family);
    if (!found)
        return std::nullopt;
    const ModelPrice &p = *found;
    const double dearestInput = std::max({p.input, p.cachedInput, p.cacheWrite, p.cacheWrite1h});
    const double list = (double(promptTokens) * dearestInput + double(maxOutputTokens) * p.output)
                        / 1'000'000.0;
    return batchLane ? list * p.batchDiscount : list;
}

} // namespace bd::cost
