#include "globalbudget.h"

#include <QDateTime>

namespace bd::dispatch {

using namespace Qt::StringLiterals;

QString GlobalBudget::periodName(Period period)
{
    switch (period) {
    case Period::Day:
        return u"day"_s;
    case Period::All:
        return u"all"_s;
    case Period::Month:
        break;
    }
    return u"month"_s;
}

std::optional<GlobalBudget::Period> GlobalBudget::periodFromName(const QString &name)
{
    if (name == u"month"_s || name.isEmpty())
        return Period::Month;
    if (name == u"day"_s)
        return Period::Day;
    if (name == u"all"_s)
        return Period::All;
    return std::nullopt;
}

qint64 GlobalBudget::periodStartMs(Period period, qint64 nowMs)
{
    if (period == Period::All)
        return 0;
    const QDate today = QDateTime::fromMSecsSinceEpoch(nowMs, Qt::UTC).date();
    const QDate start = period == Period::Day ? today : QDate(today.year(), today.month(), 1);
    return QDateTime(start, QTime(0, 0), Qt::UTC).toMSecsSinceEpoch();
}

void GlobalBudget::setCap(double usd, Period period)
{
    m_ledger.setCap(usd);
    m_period = period;
}

bool GlobalBudget::tryReserve(double usd)
{
    if (!admit(usd))
        return false;
    reserve(usd);
    return true;
}

} // namespace bd::dispatch
