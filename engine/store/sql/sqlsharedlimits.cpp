#include "sqlsharedlimits.h"

#include <algorithm>
#include <cmath>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

// The schedule is kept in integer microseconds: exact in both backends, and fine enough for
// slot intervals of a fraction of a millisecond.
qint64 micros(double ms)
{
    return qint64(std::llround(ms * 1000.0));
}

// Rows of workers gone for this long are dropped when another worker updates its own.
constexpr qint64 kForgetSharesMs = 3'600'000;

} // namespace

// A statement prepared once per connection and kept: preparing it at every call cost two
// more round trips on PostgreSQL (PREPARE, and DEALLOCATE when the query went away). It
// is finished when the call ends, so SQLite holds no read open between calls.
class SqlSharedLimits::KeptQuery
{
public:
    explicit KeptQuery(QSqlQuery &query)
        : m_query(query)
    {
    }
    ~KeptQuery() { m_query.finish(); }
    Q_DISABLE_COPY_MOVE(KeptQuery)
    QSqlQuery *operator->() { return &m_query; }
    QSqlQuery &operator*() { return m_query; }

private:
    QSqlQuery &m_query;
};

QSqlQuery &SqlSharedLimits::prepared(const QString &sql)
{
    if (m_session.generation && m_session.generation() != m_preparedIn) {
        // A new session: the server dropped the old one's statements with it. Destroying
        // their query objects now would send DEALLOCATE for names the new session never had
        // (QPSQL: "Unable to free statement"); the connection keeps them until its driver
        // is gone, when they go without a word.
        for (auto &[text, query] : m_prepared)
            m_session.retire(std::move(query));
        m_prepared.clear();
        m_preparedIn = m_session.generation();
    }
    if (const auto it = m_prepared.find(sql); it != m_prepared.end())
        return it->second;
    if (!m_db.isOpen()) {
        // The connection is down between reconnect attempts: preparing would only make Qt
        // warn "database not open"; the unprepared query's exec fails without a word and
        // fail() names the reason.
        m_unprepared = QSqlQuery(m_db);
        return m_unprepared;
    }
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!query.prepare(sql)) {
        // Not kept: its exec fails with the reason, and the next call prepares it again.
        m_unprepared = std::move(query);
        return m_unprepared;
    }
    return m_prepared.insert_or_assign(sql, std::move(query)).first->second;
}

SqlSharedLimits::SqlSharedLimits(QSqlDatabase db, std::shared_ptr<void> keepAlive,
                                 SessionHooks session)
    : m_db(std::move(db))
    , m_keepAlive(std::move(keepAlive))
    , m_session(std::move(session))
    , m_preparedIn(m_session.generation ? m_session.generation() : 0)
{
}

SqlSharedLimits::~SqlSharedLimits()
{
    // The server frees a session's statements when it ends; deallocating them here would
    // fail, and say so, when the session is gone already (the server went away for good).
    if (m_session.retire) {
        for (auto &[text, query] : m_prepared)
            m_session.retire(std::move(query));
    }
}

bool SqlSharedLimits::fail(const QSqlQuery &query, const QString &what)
{
    // On a closed connection (between reconnect attempts) the driver's words say little
    // ("connection pointer is NULL").
    m_error = what + u": "_s +
              (m_db.isOpen() ? query.lastError().text() : u"the database connection is closed"_s);
    return false;
}

bool SqlSharedLimits::ensureSchedule(const QString &key, double nowMs)
{
    if (m_schedules.contains(key))
        return true;
    KeptQuery query(prepared(u"INSERT INTO rate_schedules (key, next_free) VALUES (?, ?) "
                             "ON CONFLICT (key) DO NOTHING"_s));
    query->addBindValue(key);
    query->addBindValue(micros(nowMs));
    if (!query->exec())
        return fail(*query, u"cannot create the rate schedule of %1"_s.arg(key));
    m_schedules.insert(key);
    return true;
}

std::optional<SlotGrant> SqlSharedLimits::reserveSlots(const QString &key, double intervalMs,
                                                       int count, double nowMs, double horizonMs)
{
    m_error.clear();
    if (!ensureSchedule(key, nowMs))
        return std::nullopt;
    const qint64 now = micros(nowMs);
    const qint64 span = micros(intervalMs) * qint64(std::max(1, count));
    // One statement: of two workers reserving at once, the second starts where the first
    // ended. A schedule left behind (nobody sent for a while) restarts now, not in the past.
    KeptQuery query(
        prepared(u"UPDATE rate_schedules SET next_free = (CASE WHEN next_free > ? THEN next_free "
                 "ELSE ? END) + ? WHERE key = ? AND next_free <= ? RETURNING next_free"_s));
    query->addBindValue(now);
    query->addBindValue(now);
    query->addBindValue(span);
    query->addBindValue(key);
    query->addBindValue(now + micros(horizonMs));
    if (!query->exec()) {
        fail(*query, u"cannot reserve slots of %1"_s.arg(key));
        return std::nullopt;
    }
    SlotGrant grant;
    if (query->next()) {
        grant.count = std::max(1, count);
        grant.firstMs = double(query->value(0).toLongLong() - span) / 1000.0;
        grant.retryAtMs = nowMs;
        return grant;
    }
    query->finish();
    KeptQuery next(prepared(u"SELECT next_free FROM rate_schedules WHERE key = ?"_s));
    next->addBindValue(key);
    if (!next->exec()) {
        fail(*next, u"cannot read the rate schedule of %1"_s.arg(key));
        return std::nullopt;
    }
    if (!next->next()) {
        // Deleted under us (a database reset): make it again next time.
        m_schedules.remove(key);
        grant.retryAtMs = nowMs;
        return grant;
    }
    grant.retryAtMs = std::max(nowMs, double(next->value(0).toLongLong()) / 1000.0 - horizonMs);
    return grant;
}

bool SqlSharedLimits::postponeSlots(const QString &key, double untilMs)
{
    m_error.clear();
    if (!ensureSchedule(key, untilMs))
        return false;
    KeptQuery query(
        prepared(u"UPDATE rate_schedules SET next_free = ? WHERE key = ? AND next_free < ?"_s));
    query->addBindValue(micros(untilMs));
    query->addBindValue(key);
    query->addBindValue(micros(untilMs));
    if (!query->exec())
        return fail(*query, u"cannot postpone the rate schedule of %1"_s.arg(key));
    return true;
}

bool SqlSharedLimits::ensureBreaker(const QString &key)
{
    if (m_breakers.contains(key))
        return true;
    KeptQuery query(
        prepared(u"INSERT INTO breakers (key) VALUES (?) ON CONFLICT (key) DO NOTHING"_s));
    query->addBindValue(key);
    if (!query->exec())
        return fail(*query, u"cannot create the breaker of %1"_s.arg(key));
    m_breakers.insert(key);
    return true;
}

std::optional<SharedBreakerState> SqlSharedLimits::breaker(const QString &key)
{
    m_error.clear();
    KeptQuery query(prepared(u"SELECT open_until, open_ms, probe_owner, probe_until, times_opened "
                             "FROM breakers WHERE key = ?"_s));
    query->addBindValue(key);
    if (!query->exec()) {
        fail(*query, u"cannot read the breaker of %1"_s.arg(key));
        return std::nullopt;
    }
    SharedBreakerState state;
    if (query->next()) {
        state.openUntilMs = query->value(0).toLongLong();
        state.openMs = query->value(1).toLongLong();
        state.probeOwner = query->value(2).toString();
        state.probeUntilMs = query->value(3).toLongLong();
        state.timesOpened = query->value(4).toLongLong();
    }
    return state;
}

bool SqlSharedLimits::openBreaker(const QString &key, qint64 untilMs, qint64 openMs, qint64 nowMs)
{
    m_error.clear();
    if (!ensureBreaker(key))
        return false;
    // SET reads the row as it was: an opening counts once however many workers see it.
    KeptQuery query(
        prepared(u"UPDATE breakers SET times_opened = times_opened + (CASE WHEN open_until > ? "
                 "THEN 0 ELSE 1 END), open_until = (CASE WHEN open_until > ? THEN open_until "
                 "ELSE ? END), open_ms = (CASE WHEN open_ms > ? THEN open_ms ELSE ? END), "
                 "probe_owner = '', probe_until = 0 WHERE key = ?"_s));
    query->addBindValue(nowMs);
    query->addBindValue(untilMs);
    query->addBindValue(untilMs);
    query->addBindValue(openMs);
    query->addBindValue(openMs);
    query->addBindValue(key);
    if (!query->exec())
        return fail(*query, u"cannot open the breaker of %1"_s.arg(key));
    return true;
}

bool SqlSharedLimits::takeProbe(const QString &key, const QString &workerId, qint64 nowMs,
                                qint64 probeUntilMs)
{
    m_error.clear();
    KeptQuery query(
        prepared(u"UPDATE breakers SET probe_owner = ?, probe_until = ? WHERE key = ? AND "
                 "open_until > 0 AND open_until <= ? AND (probe_owner = '' OR probe_owner = ? "
                 "OR probe_until < ?)"_s));
    query->addBindValue(workerId);
    query->addBindValue(probeUntilMs);
    query->addBindValue(key);
    query->addBindValue(nowMs);
    query->addBindValue(workerId);
    query->addBindValue(nowMs);
    if (!query->exec())
        return fail(*query, u"cannot take the probe of %1"_s.arg(key));
    return query->numRowsAffected() == 1;
}

bool SqlSharedLimits::closeBreaker(const QString &key)
{
    m_error.clear();
    KeptQuery query(
        prepared(u"UPDATE breakers SET open_until = 0, open_ms = 0, probe_owner = '', "
                 "probe_until = 0 WHERE key = ? AND (open_until <> 0 OR probe_owner <> '')"_s));
    query->addBindValue(key);
    if (!query->exec())
        return fail(*query, u"cannot close the breaker of %1"_s.arg(key));
    return true;
}

bool SqlSharedLimits::setShare(const QString &key, const QString &workerId, qint64 amount,
                               qint64 nowMs)
{
    m_error.clear();
    if (amount > 0) {
        KeptQuery query(prepared(u"INSERT INTO worker_shares (key, worker_id, amount, updated_at) "
                                 "VALUES (?, ?, ?, ?) ON CONFLICT (key, worker_id) DO UPDATE SET "
                                 "amount = excluded.amount, updated_at = excluded.updated_at"_s));
        query->addBindValue(key);
        query->addBindValue(workerId);
        query->addBindValue(amount);
        query->addBindValue(nowMs);
        if (!query->exec())
            return fail(*query, u"cannot record the share of %1 in %2"_s.arg(workerId, key));
        return true;
    }
    KeptQuery query(prepared(u"DELETE FROM worker_shares WHERE (key = ? AND worker_id = ?) "
                             "OR updated_at < ?"_s));
    query->addBindValue(key);
    query->addBindValue(workerId);
    query->addBindValue(nowMs - kForgetSharesMs);
    if (!query->exec())
        return fail(*query, u"cannot record the share of %1 in %2"_s.arg(workerId, key));
    return true;
}

std::optional<SharedLimits::Others>
SqlSharedLimits::sharesElsewhere(const QString &key, const QString &workerId, qint64 sinceMs)
{
    m_error.clear();
    KeptQuery query(prepared(u"SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM worker_shares "
                             "WHERE key = ? AND worker_id <> ? AND updated_at >= ?"_s));
    query->addBindValue(key);
    query->addBindValue(workerId);
    query->addBindValue(sinceMs);
    if (!query->exec() || !query->next()) {
        fail(*query, u"cannot read the other workers' shares in %1"_s.arg(key));
        return std::nullopt;
    }
    return Others{query->value(0).toLongLong(), int(query->value(1).toLongLong())};
}

} // namespace bd::store
