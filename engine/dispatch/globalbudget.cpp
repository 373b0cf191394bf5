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
    m_capUsd = qMax(0.0, usd);
    m_period = period;
}

void GlobalBudget::setStoredSpend(double usd)
{
    m_storedUsd = qMax(0.0, usd);
    m_writtenSinceReadUsd = 0.0;
}

bool GlobalBudget::fits(double usd) const
{
    return !isActive() || spentUsd() + m_reservedUsd + m_reservedElsewhereUsd + usd <= m_capUsd;
}

bool GlobalBudget::fitsBesideSpend(double usd) const
{
    return !isActive() || spentUsd() + usd <= m_capUsd;
}

bool GlobalBudget::tryReserve(double usd)
{
    if (!fits(usd))
        return false;
    m_reservedUsd += usd;
    return true;
}

void GlobalBudget::release(double reservedUsd)
{
    m_reservedUsd -= reservedUsd;
    if (m_reservedUsd < 1e-12) // what rounding leaves behind is no request in flight
        m_reservedUsd = 0.0;
}

void GlobalBudget::settled(double costUsd)
{
    m_unwrittenUsd += costUsd;
}

void GlobalBudget::written(double costUsd)
{
    m_unwrittenUsd = qMax(0.0, m_unwrittenUsd - costUsd);
    m_writtenSinceReadUsd += costUsd;
}

} // namespace bd::dispatch
