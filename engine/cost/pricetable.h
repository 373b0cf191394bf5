#pragma once

#include "core/types.h"

#include <QHash>
#include <QString>

#include <optional>

namespace bd::cost {

// USD per one million tokens of each kind.
struct ModelPrice
{
    double input = 0;
    double cachedInput = 0;
    double cacheWrite = 0;
    double output = 0;
    double batchDiscount = 0.5; // batch lanes pay this share of the list price
    bool simulated = false;
};

// Prices per model, read from JSON (resources/prices.json is built in; a file in the
// user's config folder overrides it entry by entry). An unknown model has no price:
// its cost is unknown, never a silent zero.
class PriceTable
{
public:
    static PriceTable builtIn();
    // Merges the entries of a prices.json over this table; false and a message on errors.
    bool mergeFile(const QString &path, QString *error);
    bool mergeJson(const QByteArray &json, const QString &sourceName, QString *error);

    std::optional<ModelPrice> price(const QString &model) const;
    // Cost of one task's usage; nullopt when the model has no price.
    std::optional<double> cost(const QString &model, const Usage &usage, bool batchLane) const;
    QString effectiveDate() const { return m_date; }

private:
    QHash<QString, ModelPrice> m_prices;
    QString m_date;
};

} // namespace bd::cost
