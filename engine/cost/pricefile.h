#pragma once

#include "cost/pricetable.h"

#include <QDate>
#include <QJsonObject>
#include <QString>

namespace bd::cost {

// The price table an engine uses: the built-in one with the user's override file merged
// over it. Listing, saving overrides (checked first, written atomically) and reloading live
// here; the owner says when. Not thread-safe: one owner thread.
class PriceFile
{
public:
    // overridePath empty: no override file, the built-in table only.
    explicit PriceFile(const QString &overridePath = QString());

    QString overridePath() const { return m_overridePath; }
    // Empty until the first load().
    const PriceTable &table() const { return m_table; }

    // Built-in table plus the override file when it exists. A broken override is ignored,
    // not half used: the built-in table stays and false comes back with the reason.
    bool load(QString *error);
    // model -> its prices, as the front ends show them.
    QJsonObject list() const;
    // Writes `entries` (model -> prices) as the override file dated `today`. Nothing is
    // written when no override path is configured or the engine could not read the result;
    // a failed write leaves the old file whole. Does not reload: call load() after.
    bool saveOverrides(const QJsonObject &entries, const QDate &today, QString *error) const;

private:
    QString m_overridePath;
    PriceTable m_table;
};

} // namespace bd::cost
