#include "pricefile.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSaveFile>

namespace bd::cost {

using namespace Qt::StringLiterals;

PriceFile::PriceFile(const QString &overridePath)
    : m_overridePath(overridePath)
{
}

bool PriceFile::load(QString *error)
{
    PriceTable prices = PriceTable::builtIn();
    QString message;
    if (!m_overridePath.isEmpty() && QFileInfo::exists(m_overridePath)
        && !prices.mergeFile(m_overridePath, &message)) {
        m_table = PriceTable::builtIn();
        if (error)
            *error = message;
        return false;
    }
    m_table = prices;
    return true;
}

QJsonObject PriceFile::list() const
{
    QJsonObject models;
    for (const QString &model : m_table.models()) {
        const auto price = m_table.price(model);
        if (!price)
            continue;
        models.insert(model, QJsonObject{
                                 {u"input"_s, price->input},
                                 {u"cached_input"_s, price->cachedInput},
                                 {u"cache_write"_s, price->cacheWrite},
                                 {u"cache_write_1h"_s, price->cacheWrite1h},
                                 {u"output"_s, price->output},
                                 {u"batch_discount"_s, price->batchDiscount},
                                 {u"simulated"_s, price->simulated},
                                 {u"date"_s, price->date},
                                 {u"source"_s, price->source},
                             });
    }
    return models;
}

bool PriceFile::saveOverrides(const QJsonObject &entries, const QDate &today,
                              QString *error) const
{
    if (m_overridePath.isEmpty()) {
        if (error)
            *error = u"no price override file is configured"_s;
        return false;
    }
    // Checked before anything is written: a table the engine cannot read never replaces
    // the one it can.
    const QJsonObject document{{u"date"_s, today.toString(Qt::ISODate)}, {u"models"_s, entries}};
    const QByteArray json = QJsonDocument(document).toJson(QJsonDocument::Indented);
    PriceTable check = PriceTable::builtIn();
    QString message;
    if (!check.mergeJson(json, m_overridePath, &message)) {
        if (error)
            *error = message;
        return false;
    }
    QDir().mkpath(QFileInfo(m_overridePath).absolutePath());
    QSaveFile file(m_overridePath);
    if (!file.open(QIODevice::WriteOnly) || file.write(json) != json.size() || !file.commit()) {
        if (error)
            *error = u"cannot write %1: %2"_s.arg(m_overridePath, file.errorString());
        return false;
    }
    return true;
}

} // namespace bd::cost
