#pragma once

#include "metrics/metricsrecorder.h"

#include <QString>
#include <QStringList>

#include <functional>
#include <memory>
#include <optional>

namespace bd {
class Clock;
}

namespace bd::metrics {
class MetricsStore;
class QueueProbe;
} // namespace bd::metrics

namespace bd::store {

class Intake;
class Store;
class TaskActions;
class TaskReader;
class SharedLimits;
class WorkerRegistry;

// One open database and the roles it hands out: the queue writer (Store), the task reader,
// the task actions, the worker registry, the metrics store and the queue probe. A location names the database:
// a file path opens SQLite (the default backend, engine/store/sqlite/); a
// "postgresql://user@host:port/dbname" (or "postgres://") URL opens PostgreSQL
// (engine/store/postgres/). A password is never part of what a Database keeps or says:
// libpq takes it from PGPASSWORD or ~/.pgpass, and location() and errors leave it out.
//
// Threads: a Database is one connection to the database and belongs to the thread that
// opened it; so do the roles it hands out, which all share that connection. Another thread
// opens a Database of its own. Every call is synchronous. Each instance names its
// connection itself (unique in the process), so any number of databases, on the same
// location or on different ones, can be open side by side: the engine's writer and reader
// threads, two engines in one process, tests, batchctl.
//
// The roles returned by reference live as long as the Database; metricsStore() hands out
// an object the caller owns, which keeps the connection open while it lives.
class Database
{
public:
    enum class Access
    {
        // Creates the database (and its folder) when missing and brings the schema up to
        // date. The engine thread's writer, batchctl and tests open this way.
        ReadWrite,
        // An existing, migrated database, read only (views' task pages); writes fail.
        ReadOnly,
    };

    // nullptr with *error on failure.
    static std::unique_ptr<Database> open(const QString &location, Access access, QString *error);
    // Whether a location names a PostgreSQL database rather than an SQLite file.
    static bool isServerLocation(const QString &location);
    // Whether the database exists (with our schema, for a server); never creates it.
    static bool exists(const QString &location);
    // The full check on demand (`batchctl check`), on a connection of its own that opens
    // even a damaged file: what is wrong, empty when the database is sound (with problems,
    // *error says what the user can do); nullopt with *error when the check cannot run.
    static std::optional<QStringList> integrityProblems(const QString &location, QString *error);
    // A server URL without its password, for messages.
    static QString displayLocation(const QString &location);

    virtual ~Database() = default;

    virtual QString location() const = 0;
    virtual Access access() const = 0;
    // Where opening put a copy of the database before upgrading its schema; empty when it
    // did not upgrade (or the backend keeps no such copy).
    virtual QString migrationBackupPath() const = 0;
    // Why the database cannot be trusted, once this connection met a damaged file (SQLite:
    // SQLITE_CORRUPT or SQLITE_NOTADB, at open or in any query); empty otherwise. Reads
    // that answered empty or zero after that may be wrong: callers stop and say this.
    virtual QString damage() const = 0;
    // Whether a write on this connection failed for want of disk space since the last call
    // (which clears it): a job pauses on it, and can go on once there is room, instead of
    // failing.
    virtual bool takeDiskFull() = 0;

    virtual Store &queue() = 0;
    virtual TaskReader &tasks() = 0;
    virtual TaskActions &taskActions() = 0;
    virtual metrics::QueueProbe &queueProbe() = 0;
    // Standing queues of the intake API (intake.h).
    virtual Intake &intake() = 0;
    // The engines working on the database, their heartbeats and provider batches
    // (workerregistry.h).
    virtual WorkerRegistry &workers() = 0;
    // What the workers on the database share about each provider endpoint: rate schedule,
    // breaker, requests in flight (sharedlimits.h).
    virtual SharedLimits &sharedLimits() = 0;
    // Wake-ups: wake runs (on the opening thread) soon after another connection creates a
    // job or changes a job's state — PostgreSQL's LISTEN/NOTIFY on the channel `bd_work`,
    // raised by triggers on the jobs table, so every writer notifies without a word of its
    // own. False when the backend has none (SQLite): the caller keeps polling, as it should
    // anyway (a notification is lost while the connection is down).
    virtual bool listenForWork(std::function<void()> wake) = 0;
    // Whether the server dropped this connection (PostgreSQL: a restart, a network blip,
    // pg_terminate_backend): every query fails until reconnect(). A file never does.
    virtual bool connectionLost() const { return false; }
    // A new session in place of a lost one, under the same roles (they go on working, and
    // LISTEN is renewed); false with *error while the server is still away. Callers space
    // their attempts (the engine backs off).
    virtual bool reconnect(QString *error)
    {
        Q_UNUSED(error);
        return true;
    }
    // A metrics store over this connection; options: the recorder's resolutions and
    // retentions (where series() reads), clock: its "now".
    virtual std::unique_ptr<metrics::MetricsStore>
    metricsStore(const Clock *clock, const metrics::MetricsRecorder::Options &options = {}) = 0;
};

} // namespace bd::store
