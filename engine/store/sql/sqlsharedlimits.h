#pragma once

#include "sqldialect.h"
#include "store/sharedlimits.h"

#include <map>
#include <memory>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlQuery>

namespace bd::store {

// The shared-limits role over QtSql, for both backends: plain statements SQLite and
// PostgreSQL run alike (CASE instead of MAX/GREATEST, ON CONFLICT, RETURNING). keepAlive
// holds the backend's connection object open while this lives.
class SqlSharedLimits final : public SharedLimits
{
public:
    // session: the connection's sessions (PostgreSQL reconnects); statements kept from an
    // earlier one are gone from the server, handed to retire and prepared again.
    SqlSharedLimits(QSqlDatabase db, std::shared_ptr<void> keepAlive, SessionHooks session = {});
    ~SqlSharedLimits() override;
    Q_DISABLE_COPY_MOVE(SqlSharedLimits)

    std::optional<SlotGrant> reserveSlots(const QString &key, double intervalMs, int count,
                                          double nowMs, double horizonMs) override;
    bool postponeSlots(const QString &key, double untilMs) override;
    std::optional<SharedBreakerState> breaker(const QString &key) override;
    bool openBreaker(const QString &key, qint64 untilMs, qint64 openMs, qint64 nowMs) override;
    bool takeProbe(const QString &key, const QString &workerId, qint64 nowMs,
                   qint64 probeUntilMs) override;
    bool closeBreaker(const QString &key) override;
    bool setShare(const QString &key, const QString &workerId, qint64 amount,
                  qint64 nowMs) override;
    std::optional<Others> sharesElsewhere(const QString &key, const QString &workerId,
                                          qint64 sinceMs) override;
    QString errorString() const override { return m_error; }

private:
    bool fail(const class QSqlQuery &query, const QString &what);
    // Makes the key's schedule / breaker row exist (once per key and connection).
    bool ensureSchedule(const QString &key, double nowMs);
    bool ensureBreaker(const QString &key);
    class KeptQuery;
    // The statement of this SQL on this connection, prepared at its first use.
    QSqlQuery &prepared(const QString &sql);

    QSqlDatabase m_db;
    std::shared_ptr<void> m_keepAlive;
    // After the connection's holder: the statements go before the connection may close.
    std::map<QString, QSqlQuery> m_prepared;
    QSqlQuery m_unprepared;
    SessionHooks m_session;
    quint64 m_preparedIn = 0; // the session m_prepared's statements belong to
    QSet<QString> m_schedules;
    QSet<QString> m_breakers;
    QString m_error;
};

} // namespace bd::store
