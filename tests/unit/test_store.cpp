// SqliteStore, the SQLite backend of the durable queue, on a real database file: schema and migrations, jobs,
// import, claims with leases, transitions, lease recovery, dead letters, export rows and
// alerts. Time is always passed explicitly (a fake "now"), never read from the system.

#include "ingest/exportwriter.h"
#include "store/sql/sqlqueueprobe.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/sqlitestore.h"
#include "store/taskreader.h"

#include <algorithm>
#include <memory>
#include <QCryptographicHash>
#include <QJsonObject>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::ErrorClass;
using bd::JobState;
using bd::OutcomeAction;
using bd::TaskTransition;
using bd::store::SqliteStore;

namespace {

constexpr qint64 kT0 = 1'700'000'000'000;
constexpr qint64 kLease = 60'000;
const QString kOwnerA = u"host:1:aaaaaa"_s;
const QString kOwnerB = u"host:2:bbbbbb"_s;

bd::JobSpec makeSpec(const QString &name = u"a"_s)
{
    bd::JobSpec spec;
    spec.sourcePath = u"/data/"_s + name + u".csv"_s;
    spec.sourceSha256 = QByteArray("ab12").repeated(16);
    spec.templateText = u"Classify: {{review}}"_s;
    spec.systemPrompt = u"You are terse."_s;
    spec.provider = u"simulator"_s;
    spec.model = u"sim-1"_s;
    spec.baseUrl = u"http://127.0.0.1:9/v1"_s;
    spec.priority = 2;
    spec.mode = u"grouped"_s;
    spec.maxRetries = 4;
    spec.maxOutputTokens = 321;
    spec.settings = QJsonObject{{u"concurrency"_s, 8}, {u"latency_ms"_s, 0}};
    return spec;
}

QList<QStringList> makeRows(int n, int firstNo = 1)
{
    QList<QStringList> rows;
    for (int i = 0; i < n; ++i) {
        const int no = firstNo + i;
        rows.append({u"R%1"_s.arg(no), u"review number %1, \"quoted\"\nnewline ü"_s.arg(no)});
    }
    return rows;
}

TaskTransition transition(qint64 taskId, OutcomeAction action, ErrorClass error = ErrorClass::None,
                          bool charge = true, qint64 notBefore = 0)
{
    TaskTransition t;
    t.outcome.taskId = taskId;
    t.outcome.error = error;
    t.action = action;
    t.chargeAttempt = charge;
    t.notBeforeMs = notBefore;
    if (error == ErrorClass::None) {
        t.outcome.output = u"answer %1"_s.arg(taskId);
        t.outcome.httpStatus = 200;
        t.outcome.model = u"sim-1"_s;
        t.outcome.usage.inputTokens = 10;
        t.outcome.usage.outputTokens = 5;
        t.outcome.usage.cachedTokens = 2;
        t.outcome.usage.cacheWriteTokens = 1;
        t.outcome.costUsd = 0.25;
    } else {
        t.outcome.errorMessage = u"message for %1"_s.arg(taskId);
        t.outcome.httpStatus = error == ErrorClass::InvalidRequest ? 400
                               : error == ErrorClass::RateLimited ? 429
                                                                  : 500;
    }
    return t;
}

QList<qint64> idsOf(const QList<ClaimedTask> &tasks)
{
    QList<qint64> ids;
    for (const ClaimedTask &task : tasks)
        ids.append(task.id);
    return ids;
}

QList<bd::ingest::ExportRow> exportRows(SqliteStore &store, qint64 jobId)
{
    QList<bd::ingest::ExportRow> rows;
    const bool ok = store.forEachExportRow(jobId, [&](const bd::ingest::ExportRow &row) {
        rows.append(row);
        return true;
    });
    if (!ok)
        qWarning("forEachExportRow failed: %s", qPrintable(store.errorString()));
    return rows;
}

} // namespace

class TestStore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void freshDatabaseIsMigrated();
    void reopeningDoesNotMigrateAgain();
    void databaseFromTheFutureIsRefused();
    void failedMigrationStepRollsBack();
    void olderSchemaIsBackedUpBeforeUpgrade();
    void pendingIndexMigrationKeepsTheQueue();
    void walAndForeignKeysAreOn();
    void writerPageCacheStaysSmall();

    void createJobRoundTrips();
    void jobsListsAllWithCounts();
    void findJobByFingerprint();
    void setJobStateAndDiscard();
    void appendTasksAndCounts();
    void appendTasksForMissingJobFails();
    void appendTasksManyAtOnceKeepsEveryRowInOrder();

    void claimOrdersByPriorityThenInput();
    void claimLeasesAndRespectsLimit();
    void claimRespectsNotBefore();
    void claimIsPerJob();

    void completeChargesAndStores();
    void cacheHitCompletesWithoutCharge();
    void cacheKeysAreStoredAsTheirFirst128Bits();
    void retryChargesAndRecordsAttempt();
    void releaseDoesNotCharge();
    void deadLetterRecordsReason();
    void transitionsOfNonOwnersAreSkipped();
    void nothingIsCompletedTwice();
    void completionsManyAtOnceAreCheckedOneByOne();

    void taskCountsFollowEveryWriter();
    void releaseExpiredLeases();
    void renewLeasesKeepsTasks();
    void leaseOwnersAndReleaseLeasesOf();
    void nextPendingAtMs();

    void replayDead();
    void replayByClassWithTemplateRevision();
    void exportRowsOrderAndFields();
    void exportPagesThroughLargeJobs();
    void jobTotals();
    void alertsRaiseRefreshClear();
    void alertFiguresAndOneOpenAlertAcrossWorkers();
    void settingsAndSpendLedger();
    void alertFiguresMigrationUpgradesAnOlderDatabase();
    void deleteJobCascades();
    void costLinesFollowEveryWrite();
    void storesSideBySideHaveTheirOwnConnections();

private:
    std::unique_ptr<SqliteStore> openStore(const QString &label = u"test-store"_s);
    qint64 makeJob(SqliteStore &store, int rows, const QString &name = u"a"_s);
    QSqlDatabase sideConnection();

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_path;
    int m_sideConnections = 0;
};

void TestStore::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_path = m_dir->filePath(u"queue.sqlite"_s);
}

void TestStore::cleanup()
{
    for (const QString &name : QSqlDatabase::connectionNames()) {
        if (name.startsWith(u"side-"_s))
            QSqlDatabase::removeDatabase(name);
    }
    m_dir.reset();
}

std::unique_ptr<SqliteStore> TestStore::openStore(const QString &label)
{
    Q_UNUSED(label); // each store names its own connection
    auto store = std::make_unique<SqliteStore>(m_path);
    if (!store->isOpen())
        qWarning("cannot open the store: %s", qPrintable(store->errorString()));
    return store;
}

qint64 TestStore::makeJob(SqliteStore &store, int rows, const QString &name)
{
    const qint64 id = store.createJob(makeSpec(name), {u"id"_s, u"review"_s}, kT0);
    if (id <= 0)
        return 0;
    if (rows > 0 && !store.appendTasks(id, 1, makeRows(rows), 2, kT0))
        return 0;
    return id;
}

// A second, independent connection to the same file (like a reader in another thread).
QSqlDatabase TestStore::sideConnection()
{
    const QString name = u"side-%1"_s.arg(++m_sideConnections);
    QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
    db.setDatabaseName(m_path);
    db.open();
    return db;
}

static QVariant scalar(QSqlDatabase db, const QString &sql)
{
    QSqlQuery query(db);
    if (!query.exec(sql) || !query.next()) {
        qWarning("%s: %s", qPrintable(sql), qPrintable(query.lastError().text()));
        return {};
    }
    return query.value(0);
}

// ---- schema -----------------------------------------------------------------------------

void TestStore::freshDatabaseIsMigrated()
{
    QVERIFY(bd::store::latestSchemaVersion() >= 1);
    auto store = openStore();
    QVERIFY2(store->isOpen(), qPrintable(store->errorString()));
    QVERIFY(store->migrationBackupPath().isEmpty()); // nothing to back up in a new file
    QCOMPARE(store->databasePath(), m_path);

    QSqlDatabase side = sideConnection();
    QVERIFY(side.isOpen());
    QCOMPARE(scalar(side, u"PRAGMA user_version"_s).toInt(), bd::store::latestSchemaVersion());
    const QStringList tables = side.tables();
    for (const QString &table : {u"jobs"_s, u"tasks"_s, u"attempts"_s, u"alerts"_s,
                                 u"provider_batches"_s})
        QVERIFY2(tables.contains(table), qPrintable(table));
    // The claim index is partial over pending tasks: claims never walk finished work.
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                          "AND name = 'tasks_claim' AND sql LIKE '%WHERE state = 0%'"_s)
                 .toInt(),
             1);
}

void TestStore::reopeningDoesNotMigrateAgain()
{
    qint64 jobId = 0;
    {
        auto store = openStore();
        QVERIFY(store->isOpen());
        jobId = makeJob(*store, 3);
        QVERIFY(jobId > 0);
    }
    {
        auto store = openStore();
        QVERIFY2(store->isOpen(), qPrintable(store->errorString()));
        QVERIFY(store->migrationBackupPath().isEmpty());
        QCOMPARE(store->taskCounts(jobId).pending, 3); // data survived, tables not recreated
        QVERIFY(store->job(jobId).has_value());
    }
    QDir dir(m_dir->path());
    QCOMPARE(dir.entryList({u"*.bak"_s}, QDir::Files), QStringList());

    // Running the migration on an up-to-date database is a no-op that succeeds.
    QSqlDatabase side = sideConnection();
    QString error;
    QString backup;
    QVERIFY2(bd::store::migrateSqlite(side, m_path, &error, &backup), qPrintable(error));
    QVERIFY(backup.isEmpty());
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks"_s).toInt(), 3);
}

void TestStore::databaseFromTheFutureIsRefused()
{
    {
        auto store = openStore();
        QVERIFY(store->isOpen());
        QVERIFY(makeJob(*store, 2) > 0);
    }
    const int future = bd::store::latestSchemaVersion() + 1;
    {
        QSqlDatabase side = sideConnection();
        QSqlQuery query(side);
        QVERIFY(query.exec(u"PRAGMA user_version = %1"_s.arg(future)));
    }
    auto store = openStore(u"future"_s);
    QVERIFY(!store->isOpen());
    const QString error = store->errorString();
    QVERIFY2(error.contains(u"newer BatchDesk"_s), qPrintable(error));
    QVERIFY2(error.contains(u"schema %1"_s.arg(future)), qPrintable(error));
    QVERIFY2(error.contains(u"knows %1"_s.arg(bd::store::latestSchemaVersion())), qPrintable(error));
    QVERIFY2(error.contains(m_path), qPrintable(error));
    store.reset();

    // Refusing changed nothing: the data and the version are as they were.
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"PRAGMA user_version"_s).toInt(), future);
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks"_s).toInt(), 2);
}

void TestStore::failedMigrationStepRollsBack()
{
    // A file at version 0 that already holds an unrelated "tasks" table: the first step
    // fails part-way and must leave no half-made schema behind.
    {
        QSqlDatabase side = sideConnection();
        QSqlQuery query(side);
        QVERIFY(query.exec(u"CREATE TABLE tasks (x INTEGER)"_s));
        QVERIFY(query.exec(u"INSERT INTO tasks VALUES (42)"_s));
    }
    auto store = openStore(u"conflict"_s);
    QVERIFY(!store->isOpen());
    QVERIFY2(store->errorString().contains(u"schema migration 1"_s), qPrintable(store->errorString()));
    QVERIFY2(store->errorString().contains(u"tasks"_s), qPrintable(store->errorString()));
    store.reset();

    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"PRAGMA user_version"_s).toInt(), 0);
    const QStringList tables = side.tables();
    QVERIFY2(!tables.contains(u"jobs"_s), qPrintable(tables.join(u", "_s)));
    QVERIFY(!tables.contains(u"provider_batches"_s));
    QCOMPARE(scalar(side, u"SELECT x FROM tasks"_s).toInt(), 42);
}

void TestStore::olderSchemaIsBackedUpBeforeUpgrade()
{
    // Build the database of the previous schema version by running the public migration
    // steps up to it, with a marker row, then let the store upgrade it.
    const int previous = bd::store::latestSchemaVersion() - 1;
    {
        QSqlDatabase side = sideConnection();
        QSqlQuery query(side);
        for (const bd::store::Migration &migration : bd::store::sqliteMigrations()) {
            if (migration.version > previous)
                break;
            for (const QString &statement : migration.statements)
                QVERIFY2(query.exec(statement), qPrintable(query.lastError().text()));
        }
        QVERIFY(query.exec(u"PRAGMA user_version = %1"_s.arg(previous)));
        QVERIFY(query.exec(u"CREATE TABLE marker (note TEXT)"_s));
        QVERIFY(query.exec(u"INSERT INTO marker VALUES ('before upgrade')"_s));
    }
    auto store = openStore(u"upgrade"_s);
    QVERIFY2(store->isOpen(), qPrintable(store->errorString()));
    {
        QSqlDatabase side = sideConnection();
        QCOMPARE(scalar(side, u"PRAGMA user_version"_s).toInt(), bd::store::latestSchemaVersion());
        QCOMPARE(scalar(side, u"SELECT note FROM marker"_s).toString(), u"before upgrade"_s);
    }
    const QString backup = store->migrationBackupPath();
    if (previous == 0) {
        // Version 0 is an empty (or foreign) file: there is no earlier schema to go back to.
        QVERIFY(backup.isEmpty());
        QCOMPARE(QDir(m_dir->path()).entryList({u"*.bak"_s}, QDir::Files), QStringList());
        return;
    }
    QCOMPARE(backup, m_path + u".pre-v%1.bak"_s.arg(previous + 1));
    QVERIFY(QFileInfo(backup).isFile());
    QSqlDatabase copy = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"side-backup"_s);
    copy.setDatabaseName(backup);
    QVERIFY(copy.open());
    QCOMPARE(scalar(copy, u"PRAGMA user_version"_s).toInt(), previous);
    QCOMPARE(scalar(copy, u"SELECT note FROM marker"_s).toString(), u"before upgrade"_s);
}

// Migration 19 drops tasks_waiting (every pending task by when it became pending) for
// tasks_requeued (only those pending again) and puts not_before in tasks_claim: a database
// of schema 18 keeps its tasks, their claim order and each priority's oldest wait.
void TestStore::pendingIndexMigrationKeepsTheQueue()
{
    qint64 job = 0;
    QList<qint64> imported;
    {
        auto store = openStore(u"v18"_s);
        job = makeJob(*store, 4);
        QVERIFY(job > 0);
        QVERIFY(store->appendTasks(job, 5, makeRows(3, 5), 1, kT0 + 50));
        QList<ClaimedTask> claimed;
        QVERIFY(store->claimTasks(job, kOwnerA, 2, kT0 + 100, kT0 + kLease, &claimed));
        QCOMPARE(claimed.size(), 2);
        imported = idsOf(claimed);
        QVERIFY(store->applyTransitions(kOwnerA,
                                        {transition(imported.at(0), OutcomeAction::Retry,
                                                    ErrorClass::ServerError, true, kT0 + 5'000),
                                         transition(imported.at(1), OutcomeAction::Retry,
                                                    ErrorClass::ServerError, true, kT0 + 300)},
                                        kT0 + 200));
    }
    const QString scan = u"SELECT priority, MIN(MAX(created_at, not_before)) FROM tasks WHERE "
                         "job_id = %1 AND state = 0 GROUP BY priority ORDER BY priority"_s.arg(job);
    QMap<int, qint64> waits;
    {
        // Back to schema 18: its two pending indexes, as migrations 1 and 11 made them.
        QSqlDatabase side = sideConnection();
        QSqlQuery query(side);
        for (const QString &sql :
             {u"DROP INDEX tasks_requeued"_s, u"DROP INDEX tasks_claim"_s,
              u"DROP VIEW task_line_moves"_s, u"DROP TRIGGER tasks_lines_insert"_s,
              u"DROP TRIGGER tasks_lines_delete"_s, u"DROP TRIGGER tasks_lines_update"_s})
            QVERIFY2(query.exec(sql), qPrintable(sql));
        // Schema 18's: the pending indexes of migrations 1 and 11, the triggers of 17.
        int made = 0;
        for (const bd::store::Migration &migration : bd::store::sqliteMigrations()) {
            for (const QString &statement : migration.statements) {
                if (migration.version < 19 &&
                    (statement.contains(u"INDEX tasks_claim "_s) ||
                     statement.contains(u"tasks_waiting ON"_s) ||
                     (migration.version == 17 &&
                      statement.startsWith(u"CREATE TRIGGER tasks_lines_"_s)))) {
                    QVERIFY2(query.exec(statement), qPrintable(query.lastError().text()));
                    ++made;
                }
            }
        }
        QCOMPARE(made, 5);
        QVERIFY(query.exec(u"PRAGMA user_version = 18"_s));
        QVERIFY(query.exec(scan));
        while (query.next())
            waits.insert(query.value(0).toInt(), query.value(1).toLongLong());
    }
    QCOMPARE(waits, (QMap<int, qint64>{{1, kT0 + 50}, {2, kT0}}));

    auto store = openStore(u"v19"_s);
    QVERIFY2(store->isOpen(), qPrintable(store->errorString()));
    QCOMPARE(store->migrationBackupPath(), m_path + u".pre-v19.bak"_s);
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"PRAGMA user_version"_s).toInt(), bd::store::latestSchemaVersion());
    QCOMPARE(
        scalar(side, u"SELECT COUNT(*) FROM sqlite_master WHERE name = 'tasks_waiting'"_s).toInt(),
        0);
    QVERIFY(scalar(side, u"SELECT sql FROM sqlite_master WHERE name = 'tasks_claim'"_s)
                .toString()
                .contains(u"(job_id, priority, id, not_before, state) WHERE state = 0"_s));
    // The two retried tasks are the ones tasks_requeued holds.
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks INDEXED BY tasks_requeued WHERE job_id = "
                          "%1 AND state = 0 AND not_before > 0 AND priority = 1"_s.arg(job))
                 .toInt(),
             2);
    bd::store::SqlQueueProbe probe(side, bd::store::SqlDialect::Sqlite, nullptr);
    QCOMPARE(probe.oldestPendingSince(job), waits);
    QVERIFY2(probe.errorString().isEmpty(), qPrintable(probe.errorString()));
    QCOMPARE(store->taskCounts(job).pending, 7);

    // Claimed as before: priority 1 first, the task retried for 5 s not yet due, then
    // priority 2 in input order.
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(job, kOwnerA, 10, kT0 + 400, kT0 + kLease, &claimed));
    const QList<qint64> ids = idsOf(claimed);
    QCOMPARE(ids.size(), 6);
    QCOMPARE(ids.at(0), imported.at(1));
    QVERIFY(!ids.contains(imported.at(0)));
    QCOMPARE(claimed.at(0).queuedAtMs, kT0 + 300);
    QCOMPARE(claimed.at(1).priority, 1);
    QCOMPARE(claimed.at(1).queuedAtMs, kT0 + 50);
    for (int i = 2; i < ids.size(); ++i) {
        QCOMPARE(claimed.at(i).priority, 2);
        QCOMPARE(claimed.at(i).jobId, job);
        QVERIFY(i == 2 || ids.at(i) > ids.at(i - 1));
    }
    QCOMPARE(probe.oldestPendingSince(job), (QMap<int, qint64>{{1, kT0 + 5'000}}));
}
void TestStore::walAndForeignKeysAreOn()
{
    auto store = openStore(u"pragmas"_s);
    QVERIFY(store->isOpen());
    // journal_mode is a property of the file: any connection sees it.
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"PRAGMA journal_mode"_s).toString().toLower(), u"wal"_s);
    QVERIFY(QFileInfo::exists(m_path + u"-wal"_s));

    // foreign_keys and synchronous are per connection: ask the store's own connection.
    QSqlDatabase own = QSqlDatabase::database(store->connectionName(), false);
    QVERIFY(own.isValid() && own.isOpen());
    QCOMPARE(scalar(own, u"PRAGMA foreign_keys"_s).toInt(), 1);
    QCOMPARE(scalar(own, u"PRAGMA synchronous"_s).toInt(), 1); // NORMAL
    // A fresh connection has them off, so the store must set them itself.
    QCOMPARE(scalar(side, u"PRAGMA foreign_keys"_s).toInt(), 0);
}

void TestStore::writerPageCacheStaysSmall()
{
    // Each commit walks the writer's whole page cache (SQLite 3.40, see SqliteConnection):
    // 64 MiB made that a quarter of a large drain's CPU.
    auto store = openStore(u"cache"_s);
    QVERIFY(store->isOpen());
    QSqlDatabase own = QSqlDatabase::database(store->connectionName(), false);
    QVERIFY(own.isValid() && own.isOpen());
    const int cacheSize = scalar(own, u"PRAGMA cache_size"_s).toInt(); // negative: KiB
    QVERIFY2(cacheSize < 0 && cacheSize >= -8192, qPrintable(QString::number(cacheSize)));
}

// ---- jobs -------------------------------------------------------------------------------

void TestStore::createJobRoundTrips()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const bd::JobSpec spec = makeSpec(u"round"_s);
    const QStringList columns = {u"id"_s, u"review"_s, u"with, comma"_s, u"ünï"_s};
    const qint64 id = store->createJob(spec, columns, kT0 + 5);
    QVERIFY(id > 0);

    const auto job = store->job(id);
    QVERIFY(job.has_value());
    QCOMPARE(job->id, id);
    QCOMPARE(job->spec.sourcePath, spec.sourcePath);
    QCOMPARE(job->spec.sourceSha256, spec.sourceSha256);
    QCOMPARE(job->spec.templateText, spec.templateText);
    QCOMPARE(job->spec.systemPrompt, spec.systemPrompt);
    QCOMPARE(job->spec.provider, spec.provider);
    QCOMPARE(job->spec.model, spec.model);
    QCOMPARE(job->spec.baseUrl, spec.baseUrl);
    QCOMPARE(job->spec.priority, 2);
    QCOMPARE(job->spec.mode, u"grouped"_s);
    QCOMPARE(job->spec.maxRetries, 4);
    QCOMPARE(job->spec.maxOutputTokens, 321);
    QCOMPARE(job->spec.settings, spec.settings);
    QCOMPARE(job->spec.fingerprint(), spec.fingerprint());
    QCOMPARE(job->columns, columns);
    QCOMPARE(job->state, JobState::Importing);
    QVERIFY(job->stateReason.isEmpty());
    QCOMPARE(job->createdAt.toMSecsSinceEpoch(), kT0 + 5);
    QCOMPARE(job->updatedAt.toMSecsSinceEpoch(), kT0 + 5);
    QCOMPARE(job->counts.total(), 0);
    QCOMPARE(job->costUsd, 0.0);

    QVERIFY(!store->job(id + 1000).has_value());

    // Null strings in the spec are stored as empty, not refused by NOT NULL columns.
    bd::JobSpec sparse;
    sparse.sourcePath = u"/x.csv"_s;
    sparse.sourceSha256 = "00";
    sparse.templateText = u"{{a}}"_s;
    const qint64 sparseId = store->createJob(sparse, {u"a"_s}, kT0);
    QVERIFY2(sparseId > 0, qPrintable(store->errorString()));
    QCOMPARE(store->job(sparseId)->spec.systemPrompt, QString());
}

void TestStore::jobsListsAllWithCounts()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    QVERIFY(store->jobs().isEmpty());
    const qint64 a = makeJob(*store, 3, u"a"_s);
    const qint64 b = makeJob(*store, 5, u"b"_s);
    QVERIFY(a > 0 && b > 0);
    const QList<bd::JobInfo> jobs = store->jobs();
    QCOMPARE(jobs.size(), 2);
    QCOMPARE(jobs.at(0).id, a);
    QCOMPARE(jobs.at(1).id, b);
    QCOMPARE(jobs.at(0).counts.pending, 3);
    QCOMPARE(jobs.at(1).counts.pending, 5);
    QCOMPARE(jobs.at(1).spec.sourcePath, u"/data/b.csv"_s);
}

void TestStore::findJobByFingerprint()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const bd::JobSpec spec = makeSpec();
    QVERIFY(!store->findJobByFingerprint(spec.fingerprint()).has_value());
    const qint64 first = store->createJob(spec, {u"review"_s}, kT0);
    QCOMPARE(store->findJobByFingerprint(spec.fingerprint()), std::optional<qint64>(first));

    bd::JobSpec other = spec;
    other.templateText += u"!"_s;
    QVERIFY(other.fingerprint() != spec.fingerprint());
    QVERIFY(!store->findJobByFingerprint(other.fingerprint()).has_value());

    // Settings that do not change the answers (priority, concurrency) do not change it.
    bd::JobSpec samework = spec;
    samework.priority = 1;
    samework.settings = QJsonObject{{u"concurrency"_s, 64}};
    QCOMPARE(samework.fingerprint(), spec.fingerprint());

    // The newest live job wins; a cancelled one is never continued.
    const qint64 second = store->createJob(spec, {u"review"_s}, kT0 + 1);
    QCOMPARE(store->findJobByFingerprint(spec.fingerprint()), std::optional<qint64>(second));
    QVERIFY(store->setJobState(second, JobState::Cancelled, u"user"_s, kT0 + 2));
    QCOMPARE(store->findJobByFingerprint(spec.fingerprint()), std::optional<qint64>(first));
    QVERIFY(store->setJobState(first, JobState::Cancelled, u"user"_s, kT0 + 2));
    QVERIFY(!store->findJobByFingerprint(spec.fingerprint()).has_value());
}

void TestStore::setJobStateAndDiscard()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 4);
    QVERIFY(store->setJobState(id, JobState::Paused, u"quota exhausted"_s, kT0 + 100));
    auto job = store->job(id);
    QCOMPARE(job->state, JobState::Paused);
    QCOMPARE(job->stateReason, u"quota exhausted"_s);
    QCOMPARE(job->updatedAt.toMSecsSinceEpoch(), kT0 + 100);
    QCOMPARE(job->createdAt.toMSecsSinceEpoch(), kT0);
    QVERIFY(!store->setJobState(id + 99, JobState::Running, QString(), kT0));
    QVERIFY(!store->errorString().isEmpty());

    QVERIFY(store->discardTasks(id));
    QCOMPARE(store->taskCounts(id).total(), 0);
    QVERIFY(store->job(id).has_value()); // the job itself stays
}

void TestStore::appendTasksAndCounts()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = store->createJob(makeSpec(), {u"id"_s, u"review"_s}, kT0);
    QVERIFY(store->appendTasks(id, 1, makeRows(3), 2, kT0));
    QVERIFY(store->appendTasks(id, 4, makeRows(2, 4), 2, kT0));
    QVERIFY(store->appendTasks(id, 6, {}, 2, kT0)); // an empty chunk is fine
    const bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.pending, 5);
    QCOMPARE(counts.leased, 0);
    QCOMPARE(counts.completed, 0);
    QCOMPARE(counts.dead, 0);
    QCOMPARE(counts.cancelled, 0);
    QCOMPARE(counts.total(), 5);
    QCOMPARE(counts.unfinished(), 5);
    QCOMPARE(store->taskCounts(id + 1).total(), 0);

    // Values survive exactly, quotes, newlines and non-ASCII included, in row order.
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 10, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 5);
    const QList<QStringList> expected = makeRows(5);
    for (int i = 0; i < 5; ++i) {
        QCOMPARE(claimed.at(i).rowNumber, qint64(i + 1));
        QCOMPARE(claimed.at(i).values, expected.at(i));
        QCOMPARE(claimed.at(i).jobId, id);
        QCOMPARE(claimed.at(i).attempts, 0);
        QCOMPARE(claimed.at(i).priority, 2);
    }
}

void TestStore::appendTasksForMissingJobFails()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 1);
    // Foreign keys on: tasks of a job that does not exist are refused, all of the chunk.
    QVERIFY(!store->appendTasks(id + 1000, 1, makeRows(3), 2, kT0));
    QVERIFY(!store->errorString().isEmpty());
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks"_s).toInt(), 1);
    // The connection is usable afterwards (the failed transaction was rolled back).
    QVERIFY2(store->appendTasks(id, 2, makeRows(2, 2), 2, kT0), qPrintable(store->errorString()));
    QCOMPARE(store->taskCounts(id).pending, 3);
}

void TestStore::appendTasksManyAtOnceKeepsEveryRowInOrder()
{
    // The store inserts rows several per statement, then the rest one by one: 75 rows are
    // two full statements and eleven single rows.
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = store->createJob(makeSpec(), {u"id"_s, u"review"_s}, kT0);
    QVERIFY2(store->appendTasks(id, 1, makeRows(75), 2, kT0), qPrintable(store->errorString()));
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 100, kT0, kT0 + kLease, &claimed));
    QList<QStringList> values;
    QList<qint64> rowNumbers;
    for (const ClaimedTask &task : claimed) {
        values.append(task.values);
        rowNumbers.append(task.rowNumber);
    }
    QCOMPARE(values, makeRows(75));
    QCOMPARE(rowNumbers.constFirst(), 1);
    QCOMPARE(rowNumbers.constLast(), 75);
    // Claims come in id order: ids follow the input's rows.
    QVERIFY(std::is_sorted(rowNumbers.cbegin(), rowNumbers.cend()));
    // A refused statement of many rows takes the whole chunk with it.
    QVERIFY(!store->appendTasks(id + 1000, 76, makeRows(40, 76), 2, kT0));
    QCOMPARE(store->taskCounts(id).total(), 75);
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks"_s).toInt(), 75);
}

// ---- claims -----------------------------------------------------------------------------

void TestStore::claimOrdersByPriorityThenInput()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = store->createJob(makeSpec(), {u"id"_s, u"review"_s}, kT0);
    QVERIFY(store->appendTasks(id, 1, makeRows(3, 1), 3, kT0)); // ids 1..3, bulk
    QVERIFY(store->appendTasks(id, 4, makeRows(3, 4), 1, kT0)); // ids 4..6, premium
    QVERIFY(store->appendTasks(id, 7, makeRows(3, 7), 2, kT0)); // ids 7..9, standard

    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 4, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 4);
    QList<qint64> rows;
    QList<int> priorities;
    for (const ClaimedTask &task : claimed) {
        rows.append(task.rowNumber);
        priorities.append(task.priority);
    }
    QCOMPARE(rows, (QList<qint64>{4, 5, 6, 7}));
    QCOMPARE(priorities, (QList<int>{1, 1, 1, 2}));

    QVERIFY(store->claimTasks(id, kOwnerA, 10, kT0, kT0 + kLease, &claimed));
    rows.clear();
    for (const ClaimedTask &task : claimed)
        rows.append(task.rowNumber);
    QCOMPARE(rows, (QList<qint64>{8, 9, 1, 2, 3}));
}

void TestStore::claimLeasesAndRespectsLimit()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 10);

    QList<ClaimedTask> first;
    QVERIFY(store->claimTasks(id, kOwnerA, 4, kT0, kT0 + kLease, &first));
    QCOMPARE(first.size(), 4);
    bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.leased, 4);
    QCOMPARE(counts.pending, 6);

    // Leased tasks are nobody else's: a second claim (any owner) gets only the rest.
    QList<ClaimedTask> second;
    QVERIFY(store->claimTasks(id, kOwnerB, 4, kT0, kT0 + kLease, &second));
    QCOMPARE(second.size(), 4);
    QList<ClaimedTask> third;
    QVERIFY(store->claimTasks(id, kOwnerA, 100, kT0, kT0 + kLease, &third));
    QCOMPARE(third.size(), 2);
    QList<qint64> all = idsOf(first) + idsOf(second) + idsOf(third);
    std::sort(all.begin(), all.end());
    QCOMPARE(std::unique(all.begin(), all.end()) - all.begin(), qsizetype(10));

    QList<ClaimedTask> none;
    QVERIFY(store->claimTasks(id, kOwnerB, 100, kT0, kT0 + kLease, &none));
    QVERIFY(none.isEmpty());
    counts = store->taskCounts(id);
    QCOMPARE(counts.leased, 10);
    QCOMPARE(counts.pending, 0);

    // The lease is recorded as asked.
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks WHERE state = 1 AND lease_owner = '%1' "
                          "AND lease_expires = %2"_s.arg(kOwnerA).arg(kT0 + kLease))
                 .toInt(),
             6);

    // An output list with stale content is replaced, not appended to.
    QList<ClaimedTask> reused = first;
    QVERIFY(store->claimTasks(id, kOwnerA, 5, kT0, kT0 + kLease, &reused));
    QVERIFY(reused.isEmpty());
}

void TestStore::claimRespectsNotBefore()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 2);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 1);
    const qint64 waiting = claimed.at(0).id;
    QVERIFY(store->applyTransitions(kOwnerA,
                                    {transition(waiting, OutcomeAction::Retry,
                                                ErrorClass::ServerError, true, kT0 + 10'000)},
                                    kT0));

    // Before its time only the other task is claimable.
    QVERIFY(store->claimTasks(id, kOwnerA, 10, kT0 + 9'999, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 1);
    QVERIFY(claimed.at(0).id != waiting);
    QVERIFY(store->claimTasks(id, kOwnerA, 10, kT0 + 9'999, kT0 + kLease, &claimed));
    QVERIFY(claimed.isEmpty());
    // At exactly not_before it is due.
    QVERIFY(store->claimTasks(id, kOwnerA, 10, kT0 + 10'000, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 1);
    QCOMPARE(claimed.at(0).id, waiting);
    QCOMPARE(claimed.at(0).attempts, 1);
}

void TestStore::claimIsPerJob()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 a = makeJob(*store, 3, u"a"_s);
    const qint64 b = makeJob(*store, 3, u"b"_s);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(b, kOwnerA, 10, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 3);
    for (const ClaimedTask &task : claimed)
        QCOMPARE(task.jobId, b);
    QCOMPARE(store->taskCounts(a).pending, 3);
}

// ---- transitions ------------------------------------------------------------------------

void TestStore::completeChargesAndStores()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 2);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 2, kT0, kT0 + kLease, &claimed));
    const qint64 task = claimed.at(0).id;
    TaskTransition done = transition(task, OutcomeAction::Complete);
    done.outcome.startedAtMs = kT0;
    done.outcome.finishedAtMs = kT0 + 40;
    int skipped = -1;
    QVERIFY(store->applyTransitions(kOwnerA, {done}, kT0 + 50, &skipped));
    QCOMPARE(skipped, 0);

    const bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.completed, 1);
    QCOMPARE(counts.leased, 1);
    const auto rows = exportRows(*store, id);
    QCOMPARE(rows.size(), 2);
    const bd::ingest::ExportRow &row = rows.at(0);
    QCOMPARE(row.taskId, task);
    QCOMPARE(row.status, u"completed"_s);
    QCOMPARE(row.output, u"answer %1"_s.arg(task));
    QCOMPARE(row.model, u"sim-1"_s);
    QCOMPARE(row.inputTokens, 10);
    QCOMPARE(row.outputTokens, 5);
    QCOMPARE(row.cachedTokens, 2);
    QCOMPARE(row.costUsd, std::optional<double>(0.25));
    QCOMPARE(row.attempts, 1);
    QVERIFY(row.error.isEmpty());
    // A success leaves no failure history, and the lease is gone.
    QVERIFY(store->attempts(task).isEmpty());
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT lease_owner IS NULL AND lease_expires IS NULL AND "
                          "finished_at = %1 AND http_status = 200 FROM tasks WHERE id = %2"_s
                          .arg(kT0 + 50)
                          .arg(task))
                 .toInt(),
             1);
}

void TestStore::cacheHitCompletesWithoutCharge()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 1);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    TaskTransition hit = transition(claimed.at(0).id, OutcomeAction::Complete);
    hit.chargeAttempt = false;
    hit.outcome.cacheHit = true;
    hit.outcome.usage = {};
    hit.outcome.costUsd = 0.0;
    QVERIFY(store->applyTransitions(kOwnerA, {hit}, kT0));
    const auto rows = exportRows(*store, id);
    QCOMPARE(rows.at(0).status, u"completed"_s);
    QCOMPARE(rows.at(0).attempts, 0);
    QCOMPARE(rows.at(0).costUsd, std::optional<double>(0.0));
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT cache_hit FROM tasks"_s).toInt(), 1);
}

void TestStore::cacheKeysAreStoredAsTheirFirst128Bits()
{
    // Keys are packed in place (no QByteArray::fromHex) and written in key order: the bytes
    // on disk stay those of databases written before, and every entry is found again.
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 1);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    QVERIFY(store->applyTransitions(kOwnerA,
                                    {transition(claimed.at(0).id, OutcomeAction::Complete)}, kT0));
    QList<bd::store::CachedResponse> entries;
    QList<QByteArray> keys;
    for (int i = 0; i < 200; ++i) {
        bd::store::CachedResponse entry;
        entry.key =
            QCryptographicHash::hash(QByteArray::number(i), QCryptographicHash::Sha256).toHex();
        if (i % 2)
            entry.key = entry.key.toUpper(); // hex digits of either case
        entry.taskId = claimed.at(0).id;
        entry.createdAtMs = kT0 + i;
        entries.append(entry);
        keys.append(entry.key);
    }
    QVERIFY(store->storeCachedResponses(entries));
    QCOMPARE(store->cachedResponseCount(), 200);
    QSqlDatabase side = sideConnection();
    for (const bd::store::CachedResponse &entry : std::as_const(entries)) {
        QCOMPARE(scalar(side, u"SELECT hex(key) FROM response_cache WHERE created_at = %1"_s.arg(
                                  entry.createdAtMs))
                     .toString(),
                 QString::fromLatin1(entry.key.left(32).toUpper()));
    }
    const auto hits = store->cachedResponses(keys);
    QCOMPARE(hits.size(), 200);
    QCOMPARE(hits.value(keys.at(7)).createdAtMs, kT0 + 7);
    QVERIFY(store->cachedResponse(keys.at(199)).has_value());
}

void TestStore::retryChargesAndRecordsAttempt()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 1);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    const qint64 task = claimed.at(0).id;

    TaskTransition retry = transition(task, OutcomeAction::Retry, ErrorClass::ServerError, true,
                                      kT0 + 700);
    retry.outcome.finishedAtMs = kT0 + 30;
    QVERIFY(store->applyTransitions(kOwnerA, {retry}, kT0 + 40));
    QCOMPARE(store->taskCounts(id).pending, 1);
    QCOMPARE(store->nextPendingAtMs(id), std::optional<qint64>(kT0 + 700));

    QVERIFY(store->claimTasks(id, kOwnerA, 1, kT0 + 700, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 1);
    QCOMPARE(claimed.at(0).attempts, 1);
    TaskTransition timeout = transition(task, OutcomeAction::Retry, ErrorClass::Timeout, true,
                                        kT0 + 3'000);
    timeout.outcome.httpStatus = 0;
    timeout.outcome.errorMessage = u"timed out after 60 s"_s;
    QVERIFY(store->applyTransitions(kOwnerA, {timeout}, kT0 + 900));

    const QList<bd::AttemptRecord> history = store->attempts(task);
    QCOMPARE(history.size(), 2);
    QCOMPARE(history.at(0).taskId, task);
    QCOMPARE(history.at(0).attemptNo, 1);
    QCOMPARE(history.at(0).outcome, u"server_error"_s);
    QCOMPARE(history.at(0).httpStatus, 500);
    QCOMPARE(history.at(0).message, u"message for %1"_s.arg(task));
    QCOMPARE(history.at(0).at.toMSecsSinceEpoch(), kT0 + 30); // when the answer came
    QCOMPARE(history.at(1).attemptNo, 2);
    QCOMPARE(history.at(1).outcome, u"timeout"_s);
    QCOMPARE(history.at(1).httpStatus, 0);
    QCOMPARE(history.at(1).message, u"timed out after 60 s"_s);
    QCOMPARE(history.at(1).at.toMSecsSinceEpoch(), kT0 + 900); // no finish time: now

    const auto rows = exportRows(*store, id);
    QCOMPARE(rows.at(0).status, u"pending"_s);
    QCOMPARE(rows.at(0).attempts, 2);
    QCOMPARE(rows.at(0).error, u"timeout: timed out after 60 s"_s);
    QVERIFY(rows.at(0).output.isEmpty());
    QCOMPARE(rows.at(0).costUsd, std::optional<double>(0.0));
}

void TestStore::releaseDoesNotCharge()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 2);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 2, kT0, kT0 + kLease, &claimed));
    const qint64 limited = claimed.at(0).id;
    const qint64 cancelled = claimed.at(1).id;
    QVERIFY(store->applyTransitions(
        kOwnerA,
        {transition(limited, OutcomeAction::Release, ErrorClass::RateLimited, false, kT0 + 5'000),
         transition(cancelled, OutcomeAction::Release, ErrorClass::Cancelled, false, kT0)},
        kT0));
    const bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.pending, 2);
    QCOMPARE(counts.leased, 0);
    const auto rows = exportRows(*store, id);
    QCOMPARE(rows.at(0).attempts, 0);
    QCOMPARE(rows.at(1).attempts, 0);

    // A 429 is history worth keeping (uncharged); a cancellation is not.
    const QList<bd::AttemptRecord> history = store->attempts(limited);
    QCOMPARE(history.size(), 1);
    QCOMPARE(history.at(0).outcome, u"rate_limited"_s);
    QCOMPARE(history.at(0).httpStatus, 429);
    QCOMPARE(history.at(0).attemptNo, 0);
    QVERIFY(store->attempts(cancelled).isEmpty());
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT charged FROM attempts WHERE task_id = %1"_s.arg(limited)).toInt(), 0);

    // The rate-limited one waits; the released one is due at once.
    QVERIFY(store->claimTasks(id, kOwnerB, 10, kT0 + 1, kT0 + kLease, &claimed));
    QCOMPARE(idsOf(claimed), QList<qint64>{cancelled});
}

void TestStore::deadLetterRecordsReason()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 3);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 3, kT0, kT0 + kLease, &claimed));
    const qint64 task = claimed.at(1).id;
    TaskTransition dead = transition(task, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest);
    dead.outcome.errorMessage = u"prompt is too long"_s;
    QVERIFY(store->applyTransitions(kOwnerA, {dead}, kT0 + 10));
    QCOMPARE(store->taskCounts(id).dead, 1);

    const QList<bd::DeadTask> deadTasks = store->deadTasks(id, 100, 0);
    QCOMPARE(deadTasks.size(), 1);
    QCOMPARE(deadTasks.at(0).id, task);
    QCOMPARE(deadTasks.at(0).jobId, id);
    QCOMPARE(deadTasks.at(0).rowNumber, 2);
    QCOMPARE(deadTasks.at(0).attempts, 1);
    QCOMPARE(deadTasks.at(0).errorClass, u"invalid_request"_s);
    QCOMPARE(deadTasks.at(0).errorMessage, u"prompt is too long"_s);
    QCOMPARE(deadTasks.at(0).updatedAt.toMSecsSinceEpoch(), kT0 + 10);
    QVERIFY(store->deadTasks(id, 100, task).isEmpty()); // paging after the last id
    QCOMPARE(store->deadTasks(0, 100, 0).size(), 1);    // 0: every job

    const QList<bd::AttemptRecord> history = store->attempts(task);
    QCOMPARE(history.size(), 1);
    QCOMPARE(history.at(0).attemptNo, 1);
    QCOMPARE(history.at(0).outcome, u"invalid_request"_s);
    QCOMPARE(history.at(0).httpStatus, 400);

    const auto rows = exportRows(*store, id);
    QCOMPARE(rows.at(1).status, u"dead"_s);
    QCOMPARE(rows.at(1).error, u"invalid_request: prompt is too long"_s);
    QCOMPARE(rows.at(1).attempts, 1);
}

void TestStore::transitionsOfNonOwnersAreSkipped()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 3);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 2, kT0, kT0 + kLease, &claimed));
    const qint64 mine = claimed.at(0).id;
    const qint64 mineToo = claimed.at(1).id;
    const qint64 pendingTask = mineToo + 1; // never claimed

    int skipped = -1;
    QVERIFY(store->applyTransitions(
        kOwnerB,
        {transition(mine, OutcomeAction::Complete),
         transition(mineToo, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0, &skipped));
    QCOMPARE(skipped, 2);
    bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.leased, 2);
    QCOMPARE(counts.completed, 0);
    QCOMPARE(counts.dead, 0);
    QVERIFY(store->attempts(mineToo).isEmpty());

    // A transition for a task that is merely pending is skipped as well.
    QVERIFY(store->applyTransitions(
        kOwnerA, {transition(pendingTask, OutcomeAction::Retry, ErrorClass::ServerError)}, kT0,
        &skipped));
    QCOMPARE(skipped, 1);
    QVERIFY(store->attempts(pendingTask).isEmpty());
    QCOMPARE(exportRows(*store, id).at(2).attempts, 0);

    // Mixed group: the owner's own transitions apply, the others are counted.
    QVERIFY(store->applyTransitions(kOwnerA,
                                    {transition(mine, OutcomeAction::Complete),
                                     transition(pendingTask, OutcomeAction::Complete),
                                     transition(mineToo, OutcomeAction::Complete)},
                                    kT0, &skipped));
    QCOMPARE(skipped, 1);
    counts = store->taskCounts(id);
    QCOMPARE(counts.completed, 2);
    QCOMPARE(counts.pending, 1);
    QVERIFY(store->applyTransitions(kOwnerA, {}, kT0, &skipped));
    QCOMPARE(skipped, 0);
}

void TestStore::completionsManyAtOnceAreCheckedOneByOne()
{
    // Runs of completions go through one statement of several rows: each row is still
    // checked against the lease owner, counted when skipped, and its cost added once.
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 75);
    QList<ClaimedTask> mine;
    QList<ClaimedTask> theirs;
    QVERIFY(store->claimTasks(id, kOwnerA, 70, kT0, kT0 + kLease, &mine));
    QVERIFY(store->claimTasks(id, kOwnerB, 5, kT0, kT0 + kLease, &theirs));
    QList<TaskTransition> group;
    for (int i = 0; i < 59; ++i)
        group.append(transition(mine.at(i).id, OutcomeAction::Complete));
    for (const ClaimedTask &task : theirs) // another worker's: skipped
        group.append(transition(task.id, OutcomeAction::Complete));
    group.append(transition(mine.at(0).id, OutcomeAction::Complete)); // completed already
    int skipped = -1;
    QVERIFY2(store->applyTransitions(kOwnerA, group, kT0 + 50, &skipped),
             qPrintable(store->errorString()));
    QCOMPARE(skipped, 6);
    const bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.completed, 59);
    QCOMPARE(counts.leased, 16);
    const auto rows = exportRows(*store, id);
    for (int i = 0; i < 59; ++i) {
        QCOMPARE(rows.at(i).status, u"completed"_s);
        QCOMPARE(rows.at(i).output, u"answer %1"_s.arg(mine.at(i).id));
        QCOMPARE(rows.at(i).attempts, 1);
    }
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks WHERE state = 2 AND model = 'sim-1' "
                          "AND input_tokens = 10 AND finished_at = %1"_s.arg(kT0 + 50))
                 .toInt(),
             59);
    QCOMPARE(scalar(side, u"SELECT SUM(tasks) FROM job_cost_lines WHERE lane = 'sync'"_s).toInt(),
             59);
    QCOMPARE(scalar(side, u"SELECT SUM(input_tokens) FROM job_cost_lines"_s).toInt(), 59 * 10);
    QVERIFY(qAbs(scalar(side, u"SELECT SUM(usd) FROM spend_days"_s).toDouble() - 59 * 0.25)
            < 1e-9);
    QVERIFY(qAbs(scalar(side, u"SELECT SUM(cost_usd) FROM job_cost_lines"_s).toDouble()
                 - 59 * 0.25)
            < 1e-9);
}

void TestStore::nothingIsCompletedTwice()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 1);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    const qint64 task = claimed.at(0).id;

    // The same answer twice in one group, then again in a later group.
    TaskTransition first = transition(task, OutcomeAction::Complete);
    TaskTransition again = first;
    again.outcome.output = u"second answer"_s;
    int skipped = -1;
    QVERIFY(store->applyTransitions(kOwnerA, {first, again}, kT0, &skipped));
    QCOMPARE(skipped, 1);
    QVERIFY(store->applyTransitions(kOwnerA, {again}, kT0 + 1, &skipped));
    QCOMPARE(skipped, 1);
    // A late failure cannot turn a completed task back into pending or dead either.
    QVERIFY(store->applyTransitions(
        kOwnerA, {transition(task, OutcomeAction::DeadLetter, ErrorClass::ServerError)}, kT0 + 2,
        &skipped));
    QCOMPARE(skipped, 1);

    const auto rows = exportRows(*store, id);
    QCOMPARE(rows.size(), 1);
    QCOMPARE(rows.at(0).status, u"completed"_s);
    QCOMPARE(rows.at(0).output, u"answer %1"_s.arg(task));
    QCOMPARE(rows.at(0).attempts, 1);
    QVERIFY(store->attempts(task).isEmpty());

    // An answer that comes back after its lease was handed over to another worker.
    const qint64 job2 = makeJob(*store, 1, u"b"_s);
    QVERIFY(store->claimTasks(job2, kOwnerA, 1, kT0, kT0 + 100, &claimed));
    const qint64 slow = claimed.at(0).id;
    QCOMPARE(store->releaseExpiredLeases(kT0 + 101), 1);
    QVERIFY(store->claimTasks(job2, kOwnerB, 1, kT0 + 102, kT0 + kLease, &claimed));
    QCOMPARE(idsOf(claimed), QList<qint64>{slow});
    QVERIFY(store->applyTransitions(kOwnerB, {transition(slow, OutcomeAction::Complete)},
                                    kT0 + 150, &skipped));
    QCOMPARE(skipped, 0);
    TaskTransition late = transition(slow, OutcomeAction::Complete);
    late.outcome.output = u"late answer"_s;
    QVERIFY(store->applyTransitions(kOwnerA, {late}, kT0 + 200, &skipped));
    QCOMPARE(skipped, 1);
    QCOMPARE(exportRows(*store, job2).at(0).output, u"answer %1"_s.arg(slow));
    QCOMPARE(exportRows(*store, job2).at(0).attempts, 1);
}

// ---- leases -----------------------------------------------------------------------------

void TestStore::taskCountsFollowEveryWriter()
{
    // Counts asked again of an unchanged database are remembered; a write of this store or
    // a commit of any other connection makes them read again.
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 4);
    const qint64 other = makeJob(*store, 2, u"b"_s);
    QCOMPARE(store->taskCounts(id).pending, 4);
    QCOMPARE(store->taskCounts(id).pending, 4);
    QCOMPARE(store->taskCounts(other).pending, 2);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    QCOMPARE(store->taskCounts(id).leased, 1);
    QCOMPARE(store->taskCounts(id).pending, 3);
    QSqlDatabase side = sideConnection();
    QSqlQuery query(side);
    QVERIFY(query.exec(u"UPDATE tasks SET state = 3 WHERE job_id = %1 AND state = 0"_s.arg(id)));
    const bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.pending, 0);
    QCOMPARE(counts.dead, 3);
    QCOMPARE(counts.leased, 1);
    QCOMPARE(store->taskCounts(other).pending, 2);
}

void TestStore::releaseExpiredLeases()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 5);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 3, kT0, kT0 + 1'000, &claimed));
    QVERIFY(store->claimTasks(id, kOwnerB, 2, kT0, kT0 + 5'000, &claimed));
    QCOMPARE(store->releaseExpiredLeases(kT0 + 999), 0);
    QCOMPARE(store->releaseExpiredLeases(kT0 + 1'000), 0); // expires strictly after
    QCOMPARE(store->releaseExpiredLeases(kT0 + 1'001), 3);
    bd::TaskCounts counts = store->taskCounts(id);
    QCOMPARE(counts.pending, 3);
    QCOMPARE(counts.leased, 2);
    QCOMPARE(store->leaseOwners(), QStringList{kOwnerB});
    QCOMPARE(store->releaseExpiredLeases(kT0 + 1'002), 0); // idempotent
    QCOMPARE(store->releaseExpiredLeases(kT0 + 5'001), 2);
    counts = store->taskCounts(id);
    QCOMPARE(counts.pending, 5);
    QCOMPARE(counts.leased, 0);
    QVERIFY(store->leaseOwners().isEmpty());
    for (const auto &row : exportRows(*store, id))
        QCOMPARE(row.attempts, 0);
    // Released tasks are claimable again, by anyone.
    QVERIFY(store->claimTasks(id, kOwnerB, 10, kT0 + 5'002, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 5);
}

void TestStore::renewLeasesKeepsTasks()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 4);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 2, kT0, kT0 + 1'000, &claimed));
    QVERIFY(store->claimTasks(id, kOwnerB, 2, kT0, kT0 + 1'000, &claimed));
    QVERIFY(store->renewLeases(kOwnerA, kT0 + 10'000));
    QCOMPARE(store->releaseExpiredLeases(kT0 + 2'000), 2); // only B's
    QCOMPARE(store->leaseOwners(), QStringList{kOwnerA});
    QCOMPARE(store->releaseExpiredLeases(kT0 + 10'001), 2);
}

void TestStore::leaseOwnersAndReleaseLeasesOf()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 a = makeJob(*store, 6, u"a"_s);
    const qint64 b = makeJob(*store, 2, u"b"_s);
    QVERIFY(store->leaseOwners().isEmpty());
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(a, kOwnerA, 3, kT0, kT0 + kLease, &claimed));
    QVERIFY(store->claimTasks(b, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    QVERIFY(store->claimTasks(a, kOwnerB, 2, kT0, kT0 + kLease, &claimed));
    const qint64 bTask = claimed.at(0).id;
    // A charged retry makes attempts non-zero; the release below must keep them.
    QVERIFY(store->applyTransitions(
        kOwnerB, {transition(bTask, OutcomeAction::Retry, ErrorClass::ServerError, true, kT0)},
        kT0));
    QVERIFY(store->claimTasks(a, kOwnerB, 1, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 1);

    QStringList owners = store->leaseOwners();
    owners.sort();
    QCOMPARE(owners, (QStringList{kOwnerA, kOwnerB}));

    QCOMPARE(store->releaseLeasesOf(kOwnerA, kT0), 4); // across jobs
    QCOMPARE(store->leaseOwners(), QStringList{kOwnerB});
    QCOMPARE(store->taskCounts(a).leased, 2);
    QCOMPARE(store->taskCounts(b).pending, 2);
    QCOMPARE(store->releaseLeasesOf(kOwnerA, kT0), 0);
    QCOMPARE(store->releaseLeasesOf(u"nobody"_s, kT0), 0);
    QCOMPARE(store->releaseLeasesOf(kOwnerB, kT0), 2);
    QCOMPARE(store->taskCounts(a).pending, 6);
    QVERIFY(store->leaseOwners().isEmpty());

    int charged = 0;
    for (const auto &row : exportRows(*store, a))
        charged += row.attempts;
    QCOMPARE(charged, 1);
    // Handed-back tasks come back to a new owner with their attempts.
    QVERIFY(store->claimTasks(a, kOwnerA, 10, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 6);
    for (const ClaimedTask &task : claimed)
        QCOMPARE(task.attempts, task.id == bTask ? 1 : 0);
}

void TestStore::nextPendingAtMs()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 3);
    QCOMPARE(store->nextPendingAtMs(id), std::optional<qint64>(0)); // due since import
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 3, kT0, kT0 + kLease, &claimed));
    QVERIFY(!store->nextPendingAtMs(id).has_value()); // nothing pending
    QVERIFY(store->applyTransitions(
        kOwnerA,
        {transition(claimed.at(0).id, OutcomeAction::Retry, ErrorClass::Timeout, true, kT0 + 900),
         transition(claimed.at(1).id, OutcomeAction::Retry, ErrorClass::Timeout, true, kT0 + 400),
         transition(claimed.at(2).id, OutcomeAction::Complete)},
        kT0));
    QCOMPARE(store->nextPendingAtMs(id), std::optional<qint64>(kT0 + 400));
    QVERIFY(!store->nextPendingAtMs(id + 1).has_value());
}

// ---- dead letters -----------------------------------------------------------------------

void TestStore::replayByClassWithTemplateRevision()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 job = makeJob(*store, 4);
    // Tasks 1 and 2 die as server errors, 3 as an invalid request; 4 completes.
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(job, kOwnerA, 4, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.at(0).templateRevision, 0);
    QVERIFY(store->applyTransitions(
        kOwnerA,
        {transition(claimed.at(0).id, OutcomeAction::DeadLetter, ErrorClass::ServerError),
         transition(claimed.at(1).id, OutcomeAction::DeadLetter, ErrorClass::ServerError),
         transition(claimed.at(2).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest),
         transition(claimed.at(3).id, OutcomeAction::Complete)},
        kT0));

    // Revisions count from 1 per job; 0 is the job's own template.
    const auto original = store->templateRevision(job, 0);
    QVERIFY(original);
    QCOMPARE(original->first, makeSpec(u"a"_s).templateText);
    QCOMPARE(store->addTemplateRevision(job, u"Say {{id}}"_s, u"Be brief"_s, kT0), 1);
    QCOMPARE(store->addTemplateRevision(job, u"Say {{review}}"_s, QString(), kT0), 2);
    const auto first = store->templateRevision(job, 1);
    QVERIFY(first);
    QCOMPARE(first->first, u"Say {{id}}"_s);
    QCOMPARE(first->second, u"Be brief"_s);
    QVERIFY(!store->templateRevision(job, 3));

    // Only the server errors move, onto revision 1, with attempts and timers reset.
    QCOMPARE(store->replayDead(job, {}, kT0 + 7'000, u"server_error"_s, 1), 2);
    QCOMPARE(store->taskCounts(job).dead, 1);
    QVERIFY(store->claimTasks(job, kOwnerA, 10, kT0 + 7'000, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 2);
    for (const ClaimedTask &task : claimed) {
        QCOMPARE(task.templateRevision, 1);
        QCOMPARE(task.attempts, 0);
        QCOMPARE(task.providerCancels, 0);
        QCOMPARE(task.queuedAtMs, kT0 + 7'000);
    }
    // Without a revision a replayed task keeps the one it had.
    QCOMPARE(store->replayDead(job, {}, kT0 + 8'000, u"invalid_request"_s, -1), 1);
    QVERIFY(store->claimTasks(job, kOwnerA, 10, kT0 + 8'000, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 1);
    QCOMPARE(claimed.at(0).templateRevision, 0);

    // Deleting the job takes its revisions along.
    QVERIFY(store->deleteJob(job));
    QVERIFY(!store->templateRevision(job, 1));
}

void TestStore::replayDead()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 a = makeJob(*store, 5, u"a"_s);
    const qint64 b = makeJob(*store, 2, u"b"_s);
    // Job a: tasks 1..3 die after two charged tries, 4 completes, 5 stays pending.
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(a, kOwnerA, 4, kT0, kT0 + kLease, &claimed));
    QList<TaskTransition> first;
    for (int i = 0; i < 3; ++i)
        first.append(transition(claimed.at(i).id, OutcomeAction::Retry, ErrorClass::ServerError,
                                true, kT0));
    first.append(transition(claimed.at(3).id, OutcomeAction::Complete));
    QVERIFY(store->applyTransitions(kOwnerA, first, kT0));
    QVERIFY(store->claimTasks(a, kOwnerA, 3, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 3);
    QList<TaskTransition> second;
    for (const ClaimedTask &task : claimed) {
        QCOMPARE(task.attempts, 1);
        second.append(transition(task.id, OutcomeAction::DeadLetter, ErrorClass::ServerError));
    }
    QVERIFY(store->applyTransitions(kOwnerA, second, kT0));
    const QList<qint64> deadIds = idsOf(claimed);
    // Job b: one dead task.
    QVERIFY(store->claimTasks(b, kOwnerA, 1, kT0, kT0 + kLease, &claimed));
    const qint64 bDead = claimed.at(0).id;
    QVERIFY(store->applyTransitions(
        kOwnerA, {transition(bDead, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)}, kT0));

    QCOMPARE(store->taskCounts(a).dead, 3);
    for (const bd::DeadTask &task : store->deadTasks(a, 10, 0))
        QCOMPARE(task.attempts, 2);

    // Selected ids only; ids that are not dead (completed, pending, unknown) do not count.
    const qint64 completedId = first.at(3).outcome.taskId;
    QCOMPARE(store->replayDead(a, {deadIds.at(0), completedId, 999'999}, kT0 + 5'000), 1);
    bd::TaskCounts counts = store->taskCounts(a);
    QCOMPARE(counts.dead, 2);
    QCOMPARE(counts.pending, 2);
    QCOMPARE(counts.completed, 1);
    // A task id of another job does not move when a job is named.
    QCOMPARE(store->replayDead(a, {bDead}, kT0 + 5'000), 0);
    QCOMPARE(store->taskCounts(b).dead, 1);

    // The replayed task starts afresh: attempts 0, due from the replay time.
    QVERIFY(store->claimTasks(a, kOwnerB, 10, kT0 + 5'000, kT0 + kLease, &claimed));
    QList<qint64> claimedIds = idsOf(claimed);
    QVERIFY(claimedIds.contains(deadIds.at(0)));
    for (const ClaimedTask &task : claimed)
        QCOMPARE(task.attempts, 0);
    QVERIFY(store->releaseLeasesOf(kOwnerB, kT0 + 5'000) == 2);

    // All of the job's remaining dead tasks.
    QCOMPARE(store->replayDead(a, {}, kT0 + 6'000), 2);
    counts = store->taskCounts(a);
    QCOMPARE(counts.dead, 0);
    QCOMPARE(counts.pending, 4);
    QCOMPARE(store->taskCounts(b).dead, 1);
    for (const auto &row : exportRows(*store, a)) {
        if (row.status == u"pending"_s)
            QCOMPARE(row.attempts, 0);
    }
    QVERIFY(store->claimTasks(a, kOwnerA, 10, kT0 + 5'999, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 2); // the two replayed at 5 000 and pending task 5, not the two at 6 000
    QVERIFY(store->releaseLeasesOf(kOwnerA, kT0 + 5'999) == 2);

    // Job 0: every job's dead tasks.
    QCOMPARE(store->replayDead(0, {}, kT0 + 7'000), 1);
    QCOMPARE(store->taskCounts(b).dead, 0);
    QCOMPARE(store->replayDead(0, {}, kT0 + 7'000), 0);

    // The history of the old tries stays.
    QCOMPARE(store->attempts(deadIds.at(1)).size(), 2);
}

// ---- export -----------------------------------------------------------------------------

void TestStore::exportRowsOrderAndFields()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 6);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 5, kT0, kT0 + kLease, &claimed));
    // 1 completed, 2 dead, 3 completed without a price, 4 back to pending, 5 leased, 6 pending.
    TaskTransition unpriced = transition(claimed.at(2).id, OutcomeAction::Complete);
    unpriced.outcome.costUsd = std::nullopt;
    unpriced.outcome.model = u"local-model"_s;
    TaskTransition dead = transition(claimed.at(1).id, OutcomeAction::DeadLetter,
                                     ErrorClass::Malformed);
    dead.outcome.errorMessage = QString(); // no message: just the class
    QVERIFY(store->applyTransitions(
        kOwnerA,
        {transition(claimed.at(0).id, OutcomeAction::Complete), dead, unpriced,
         transition(claimed.at(3).id, OutcomeAction::Retry, ErrorClass::Overloaded, true, kT0)},
        kT0));

    const auto rows = exportRows(*store, id);
    QCOMPARE(rows.size(), 6);
    const QList<QStringList> input = makeRows(6);
    for (int i = 0; i < 6; ++i) {
        QCOMPARE(rows.at(i).inputValues, input.at(i));
        if (i > 0)
            QVERIFY(rows.at(i).taskId > rows.at(i - 1).taskId);
    }
    QCOMPARE(rows.at(0).status, u"completed"_s);
    QCOMPARE(rows.at(0).costUsd, std::optional<double>(0.25));
    QCOMPARE(rows.at(0).attempts, 1);

    QCOMPARE(rows.at(1).status, u"dead"_s);
    QCOMPARE(rows.at(1).error, u"malformed_reply"_s);
    QVERIFY(rows.at(1).output.isEmpty());
    QCOMPARE(rows.at(1).costUsd, std::optional<double>(0.0));

    QCOMPARE(rows.at(2).status, u"completed"_s);
    QCOMPARE(rows.at(2).model, u"local-model"_s);
    QVERIFY(!rows.at(2).costUsd.has_value()); // unknown cost stays unknown
    QCOMPARE(rows.at(2).outputTokens, 5);

    QCOMPARE(rows.at(3).status, u"pending"_s);
    QCOMPARE(rows.at(3).error, u"overloaded: message for %1"_s.arg(claimed.at(3).id));
    QCOMPARE(rows.at(3).attempts, 1);

    QCOMPARE(rows.at(4).status, u"pending"_s); // leased shows as pending
    QVERIFY(rows.at(4).error.isEmpty());
    QCOMPARE(rows.at(4).attempts, 0);
    QCOMPARE(rows.at(5).status, u"pending"_s);
    QCOMPARE(rows.at(5).inputTokens, 0);

    // The sink can stop early.
    int seen = 0;
    QVERIFY(store->forEachExportRow(id, [&](const bd::ingest::ExportRow &) { return ++seen < 2; }));
    QCOMPARE(seen, 2);
    // Another job's rows never mix in.
    const qint64 other = makeJob(*store, 2, u"b"_s);
    QCOMPARE(exportRows(*store, other).size(), 2);
    QCOMPARE(exportRows(*store, id).size(), 6);
}

void TestStore::exportPagesThroughLargeJobs()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 first = makeJob(*store, 0, u"a"_s);
    const qint64 second = makeJob(*store, 0, u"b"_s);
    // Interleave the two jobs' task ids so that paging must skip foreign rows.
    for (int chunk = 0; chunk < 5; ++chunk) {
        QVERIFY(store->appendTasks(first, chunk * 1'000 + 1, makeRows(1'000, chunk * 1'000 + 1), 2, kT0));
        QVERIFY(store->appendTasks(second, chunk * 10 + 1, makeRows(10, chunk * 10 + 1), 2, kT0));
    }
    QList<QString> ids;
    qint64 lastTask = 0;
    bool ordered = true;
    QVERIFY(store->forEachExportRow(first, [&](const bd::ingest::ExportRow &row) {
        ids.append(row.inputValues.at(0));
        ordered = ordered && row.taskId > lastTask;
        lastTask = row.taskId;
        return true;
    }));
    QCOMPARE(ids.size(), 5'000);
    QVERIFY(ordered);
    for (int i = 0; i < 5'000; ++i) {
        if (ids.at(i) != u"R%1"_s.arg(i + 1))
            QFAIL(qPrintable(u"row %1 is %2"_s.arg(i + 1).arg(ids.at(i))));
    }
    QCOMPARE(exportRows(*store, second).size(), 50);
}

void TestStore::jobTotals()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 id = makeJob(*store, 4);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(id, kOwnerA, 4, kT0, kT0 + kLease, &claimed));
    TaskTransition unpriced = transition(claimed.at(1).id, OutcomeAction::Complete);
    unpriced.outcome.costUsd = std::nullopt;
    QVERIFY(store->applyTransitions(
        kOwnerA,
        {transition(claimed.at(0).id, OutcomeAction::Complete), unpriced,
         transition(claimed.at(2).id, OutcomeAction::Complete),
         transition(claimed.at(3).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0));
    bd::Usage usage;
    double cost = -1;
    qint64 billed = -1;
    QVERIFY(store->jobTotals(id, &usage, &cost, &billed));
    QCOMPARE(usage.inputTokens, 30);
    QCOMPARE(usage.outputTokens, 15);
    QCOMPARE(usage.cachedTokens, 6);
    QCOMPARE(usage.cacheWriteTokens, 3);
    QCOMPARE(cost, 0.5);
    QCOMPARE(billed, 2);
    const auto job = store->job(id);
    QCOMPARE(job->costUsd, 0.5);
    QCOMPARE(job->usage.outputTokens, 15);
    QCOMPARE(job->counts.completed, 3);
    QCOMPARE(job->counts.dead, 1);
}

// ---- alerts -----------------------------------------------------------------------------

void TestStore::alertsRaiseRefreshClear()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 job = makeJob(*store, 1);
    QVERIFY(store->alerts(true).isEmpty());

    const qint64 quota = store->raiseAlert(job, u"quota_exhausted"_s, u"out of credit"_s, kT0);
    QVERIFY(quota > 0);
    // Raising the same kind for the same job again refreshes the one open alert.
    QCOMPARE(store->raiseAlert(job, u"quota_exhausted"_s, u"still out of credit"_s, kT0 + 10), quota);
    const qint64 global = store->raiseAlert(0, u"circuit_open"_s, u"provider down"_s, kT0 + 20);
    QVERIFY(global > 0 && global != quota);
    const qint64 auth = store->raiseAlert(job, u"auth"_s, u"bad key"_s, kT0 + 30);
    QVERIFY(auth != quota && auth != global);

    QList<bd::AlertRecord> open = store->alerts(false);
    QCOMPARE(open.size(), 3);
    QCOMPARE(open.at(0).id, quota);
    QCOMPARE(open.at(0).jobId, job);
    QCOMPARE(open.at(0).kind, u"quota_exhausted"_s);
    QCOMPARE(open.at(0).message, u"still out of credit"_s);
    QCOMPARE(open.at(0).raisedAt.toMSecsSinceEpoch(), kT0); // first raised, not refreshed
    QVERIFY(!open.at(0).clearedAt.isValid());
    QCOMPARE(open.at(1).jobId, 0);

    // Clearing one kind of one job.
    QVERIFY(store->clearAlerts(job, u"quota_exhausted"_s, kT0 + 100));
    open = store->alerts(false);
    QCOMPARE(open.size(), 2);
    QCOMPARE(open.at(0).id, global);
    QCOMPARE(open.at(1).id, auth);
    const QList<bd::AlertRecord> all = store->alerts(true);
    QCOMPARE(all.size(), 3);
    QCOMPARE(all.at(0).clearedAt.toMSecsSinceEpoch(), kT0 + 100);

    // A new raise after clearing opens a new alert.
    const qint64 again = store->raiseAlert(job, u"quota_exhausted"_s, u"out again"_s, kT0 + 200);
    QVERIFY(again != quota);
    QCOMPARE(store->alerts(false).size(), 3);

    // Empty kind: every kind of that job; the global alert is untouched.
    QVERIFY(store->clearAlerts(job, QString(), kT0 + 300));
    open = store->alerts(false);
    QCOMPARE(open.size(), 1);
    QCOMPARE(open.at(0).id, global);
    QVERIFY(store->clearAlerts(0, u"circuit_open"_s, kT0 + 400));
    QVERIFY(store->alerts(false).isEmpty());
    QCOMPARE(store->alerts(true).size(), 4);
}

// Two workers (two connections to one file) raise the same alert: one row, opened by the
// first; the figures are kept, refreshed, and the ones at clearing stored beside them.
void TestStore::alertFiguresAndOneOpenAlertAcrossWorkers()
{
    auto first = openStore(u"worker-1"_s);
    auto second = openStore(u"worker-2"_s);
    QVERIFY(first->isOpen() && second->isOpen());
    const QJsonObject raisedFigures{{u"value"_s, 0.074}, {u"threshold"_s, 0.05}, {u"window_s"_s, 600}};
    bool created = false;
    const qint64 id = first->raiseAlert(0, u"error_rate_high"_s, u"7.4%"_s, kT0, raisedFigures, &created);
    QVERIFY(id > 0);
    QVERIFY(created);
    const QJsonObject fresher{{u"value"_s, 0.081}, {u"threshold"_s, 0.05}, {u"window_s"_s, 600}};
    QCOMPARE(second->raiseAlert(0, u"error_rate_high"_s, u"8.1%"_s, kT0 + 5, fresher, &created), id);
    QVERIFY(!created); // open already: the second worker does not notify
    QList<bd::AlertRecord> open = first->alerts(false);
    QCOMPARE(open.size(), 1);
    QCOMPARE(open.at(0).message, u"8.1%"_s);
    QCOMPARE(open.at(0).figures, fresher);
    QCOMPARE(open.at(0).raisedAt.toMSecsSinceEpoch(), kT0);

    // The second worker clears it for both; the first one's clear finds nothing left.
    int cleared = -1;
    QVERIFY(second->clearAlerts(0, u"error_rate_high"_s, kT0 + 60, QJsonObject{{u"value"_s, 0.03}}, &cleared));
    QCOMPARE(cleared, 1);
    QVERIFY(first->clearAlerts(0, u"error_rate_high"_s, kT0 + 61, QJsonObject{{u"value"_s, 0.02}}, &cleared));
    QCOMPARE(cleared, 0);
    const QList<bd::AlertRecord> all = first->alerts(true);
    QCOMPARE(all.size(), 1);
    QCOMPARE(all.at(0).clearedAt.toMSecsSinceEpoch(), kT0 + 60);
    QCOMPARE(all.at(0).figures.value(u"value"_s).toDouble(), 0.081);
    QCOMPARE(all.at(0).figures.value(u"cleared"_s).toObject().value(u"value"_s).toDouble(), 0.03);

    // A clear without figures keeps what was stored; job alerts are keyed apart from global ones.
    const qint64 job = makeJob(*first, 1);
    QVERIFY(first->raiseAlert(job, u"error_rate_high"_s, u"job"_s, kT0 + 100, raisedFigures, &created) > 0);
    QVERIFY(created);
    QVERIFY(second->raiseAlert(0, u"error_rate_high"_s, u"global again"_s, kT0 + 100, {}, &created) > 0);
    QVERIFY(created);
    QVERIFY(first->clearAlerts(job, u"error_rate_high"_s, kT0 + 200));
    const QList<bd::AlertRecord> after = first->alerts(true);
    QCOMPARE(after.size(), 3);
    QCOMPARE(after.at(1).figures, raisedFigures);
    QVERIFY(after.at(1).clearedAt.isValid());
    QVERIFY(!after.at(2).clearedAt.isValid());
}

// Settings are shared by every connection; the spend ledger sums completed tasks' cost by
// UTC day, whichever connection wrote them, and never counts a failure.
void TestStore::settingsAndSpendLedger()
{
    auto first = openStore(u"worker-1"_s);
    auto second = openStore(u"worker-2"_s);
    QVERIFY(!first->setting(u"global_budget_usd"_s).has_value());
    QVERIFY(first->setSetting(u"global_budget_usd"_s, u"5"_s));
    QVERIFY(first->setSetting(u"global_budget_usd"_s, u"12.5"_s));
    QCOMPARE(second->setting(u"global_budget_usd"_s).value_or(QString()), u"12.5"_s);

    constexpr qint64 kDay = 86'400'000;
    const qint64 dayStart = kT0 / kDay * kDay;
    QCOMPARE(first->spendSince(0), 0.0);
    const qint64 a = makeJob(*first, 4, u"a"_s);
    const qint64 b = makeJob(*second, 2, u"b"_s);
    QList<ClaimedTask> ca, cb;
    QVERIFY(first->claimTasks(a, kOwnerA, 4, kT0, kT0 + kLease, &ca));
    QVERIFY(second->claimTasks(b, kOwnerB, 2, kT0, kT0 + kLease, &cb));
    QVERIFY(first->applyTransitions(kOwnerA,
                                    {transition(ca.at(0).id, OutcomeAction::Complete),
                                     transition(ca.at(1).id, OutcomeAction::Complete),
                                     transition(ca.at(2).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest),
                                     transition(ca.at(3).id, OutcomeAction::Retry, ErrorClass::ServerError)},
                                    kT0));
    // The next UTC day, from the other worker.
    QVERIFY(second->applyTransitions(kOwnerB,
                                     {transition(cb.at(0).id, OutcomeAction::Complete),
                                      transition(cb.at(1).id, OutcomeAction::Complete)},
                                     dayStart + kDay + 1000));
    QCOMPARE(first->spendSince(0), 1.0);
    QCOMPARE(second->spendSince(dayStart), 1.0);
    QCOMPARE(first->spendSince(dayStart + kDay), 0.5);
    QCOMPARE(first->spendSince(dayStart + kDay + 5000), 0.5); // rounded down to its day
    QCOMPARE(first->spendSince(dayStart + 2 * kDay), 0.0);
    // A task completes once: the same answer again is skipped and not counted twice.
    int skipped = 0;
    QVERIFY(first->applyTransitions(kOwnerA, {transition(ca.at(0).id, OutcomeAction::Complete)}, kT0, &skipped));
    QCOMPARE(skipped, 1);
    QCOMPARE(first->spendSince(0), 1.0);
}

// A database from before the alert-figures step: duplicate open alerts (two workers raised
// the same one) are closed but the first, figures start empty, and the spend ledger is
// filled from the tasks already completed.
void TestStore::alertFiguresMigrationUpgradesAnOlderDatabase()
{
    const QList<bd::store::Migration> &steps = bd::store::sqliteMigrations();
    const auto step = std::find_if(steps.cbegin(), steps.cend(), [](const bd::store::Migration &m) {
        return QByteArray(m.description).startsWith("alert figures");
    });
    QVERIFY(step != steps.cend() && step != steps.cbegin());
    const int before = std::prev(step)->version;
    qint64 job = 0;
    {
        auto store = openStore();
        job = makeJob(*store, 3);
        QList<ClaimedTask> claimed;
        QVERIFY(store->claimTasks(job, kOwnerA, 3, kT0, kT0 + kLease, &claimed));
        QVERIFY(store->applyTransitions(kOwnerA,
                                        {transition(claimed.at(0).id, OutcomeAction::Complete),
                                         transition(claimed.at(1).id, OutcomeAction::Complete)},
                                        kT0));
    }
    {
        // Back to the older schema, with what older versions could leave behind.
        QSqlDatabase side = sideConnection();
        QSqlQuery query(side);
        // The later steps' objects go too (intake queues, jobs.runner, job controls, job
        // charges, workers and batch owners, job cost lines and their triggers, refused answers'
        // charges, shared limits).
        for (const QString &trigger : {u"tasks_lines_insert"_s, u"tasks_lines_delete"_s,
                                       u"tasks_lines_update"_s, u"jobs_cost_delete"_s})
            QVERIFY2(query.exec(u"DROP TRIGGER "_s + trigger), qPrintable(trigger));
        QVERIFY(query.exec(u"DROP VIEW task_line_moves"_s)); // and its trigger
        for (const QString &sql :
             {u"DROP INDEX tasks_job"_s,
              u"DROP INDEX tasks_active"_s,
              u"CREATE INDEX tasks_job_state ON tasks (job_id, state)"_s,
              u"CREATE INDEX tasks_lease ON tasks (lease_expires) WHERE state = 1"_s,
              u"DROP TABLE rate_schedules"_s,
              u"DROP TABLE breakers"_s,
              u"DROP TABLE worker_shares"_s,
              u"ALTER TABLE tasks DROP COLUMN rejected_input_tokens"_s,
              u"ALTER TABLE tasks DROP COLUMN rejected_output_tokens"_s,
              u"ALTER TABLE tasks DROP COLUMN rejected_cost_usd"_s,
              u"DROP TABLE job_cost_lines"_s,
              u"DROP TABLE job_charges"_s,
              u"DROP TABLE workers"_s,
              u"ALTER TABLE provider_batches DROP COLUMN owner"_s,
              u"DROP TABLE job_controls"_s,
              u"DROP INDEX tasks_requeued"_s,
              u"ALTER TABLE jobs DROP COLUMN runner"_s,
              u"DROP TABLE intake_tasks"_s,
              u"DROP TABLE intake_queues"_s,
              u"DROP TABLE spend_days"_s,
              u"DROP TABLE settings"_s,
              u"DROP INDEX alerts_open"_s,
              u"ALTER TABLE alerts DROP COLUMN figures"_s,
              u"CREATE INDEX alerts_open ON alerts (kind, job_id) WHERE cleared_at IS NULL"_s,
              u"INSERT INTO alerts (job_id, kind, message, raised_at) VALUES "
              "(NULL, 'circuit_open', 'first', 10), (NULL, 'circuit_open', 'second', 20), "
              "(%1, 'circuit_open', 'job', 30)"_s.arg(job),
              u"PRAGMA user_version = %1"_s.arg(before)}) {
            QVERIFY2(query.exec(sql), qPrintable(sql + u": "_s + query.lastError().text()));
        }
    }
    auto store = openStore(u"upgraded"_s);
    QVERIFY2(store->isOpen(), qPrintable(store->errorString()));
    QVERIFY(!store->migrationBackupPath().isEmpty());
    const QList<bd::AlertRecord> open = store->alerts(false);
    QCOMPARE(open.size(), 2);
    QCOMPARE(open.at(0).message, u"first"_s);
    QCOMPARE(open.at(1).jobId, job);
    QVERIFY(open.at(0).figures.isEmpty());
    QCOMPARE(store->alerts(true).size(), 3);
    QCOMPARE(store->spendSince(0), 0.5);
    QCOMPARE(store->job(job)->costUsd, 0.5); // the cost lines were filled from the tasks
    QCOMPARE(store->costLines(job).size(), 1);
    bool created = true;
    store->raiseAlert(0, u"circuit_open"_s, u"again"_s, kT0, {}, &created);
    QVERIFY(!created);
}

void TestStore::deleteJobCascades()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 doomed = makeJob(*store, 4, u"a"_s);
    const qint64 kept = makeJob(*store, 2, u"b"_s);
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(doomed, kOwnerA, 2, kT0, kT0 + kLease, &claimed));
    QVERIFY(store->applyTransitions(
        kOwnerA,
        {transition(claimed.at(0).id, OutcomeAction::Retry, ErrorClass::ServerError, true, kT0),
         transition(claimed.at(1).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0));
    QSqlDatabase side = sideConnection();
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM attempts"_s).toInt(), 2);

    QVERIFY(store->deleteJob(doomed));
    QVERIFY(!store->job(doomed).has_value());
    QCOMPARE(store->taskCounts(doomed).total(), 0);
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM tasks WHERE job_id = %1"_s.arg(doomed)).toInt(), 0);
    QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM attempts"_s).toInt(), 0);
    QCOMPARE(store->taskCounts(kept).pending, 2);
    QCOMPARE(store->jobs().size(), 1);
    QVERIFY(store->deadTasks(0, 10, 0).isEmpty());
}

// The job's cost lines (job_cost_lines, kept by triggers on tasks since migration 14) equal
// a scan of the tasks after every kind of write: completions through the store and by hand,
// cache hits, batch lanes, tiers, unpriced answers, classifier spend on tasks not completed,
// replays, changed figures and days, inserts, deletes and a deleted job; and the migration's
// backfill gives the same lines. `status` and the job list read these lines instead of
// scanning the job (6-8 s on 300,000 tasks before).
void TestStore::costLinesFollowEveryWrite()
{
    auto store = openStore();
    QVERIFY(store->isOpen());
    const qint64 jobA = makeJob(*store, 40, u"a"_s);
    const qint64 jobB = makeJob(*store, 20, u"b"_s);
    const qint64 batchApi =
        store->createBatch(jobA, u"openai"_s, u"batch-api"_s, 5, 100, u"submitted"_s, kT0);
    const qint64 grouped =
        store->createBatch(jobA, u"openai"_s, u"sync"_s, 5, 100, u"submitted"_s, kT0);
    QVERIFY(batchApi > 0 && grouped > 0);
    QSqlDatabase side = sideConnection();

    // The lines as a scan of the tasks would give them, and as they are kept.
    const QString scan =
        u"SELECT t.job_id, CASE WHEN t.cache_hit = 1 THEN 'response-cache' WHEN b.lane = "
        "'batch-api' THEN 'batch-api' ELSE 'sync' END, COALESCE(t.model, ''), "
        "COALESCE(CAST(julianday(t.finished_at / 1000, 'unixepoch', 'start of day') - "
        "2440587.5 AS INTEGER), -1), COALESCE(t.tier, ''), COUNT(*), SUM(t.cost_usd IS NULL), "
        "TOTAL(t.cost_usd), "
        "SUM(t.input_tokens), SUM(t.output_tokens), SUM(t.cached_tokens), "
        "SUM(t.cache_write_tokens), SUM(t.classify_input_tokens), SUM(t.classify_output_tokens), "
        "TOTAL(t.classify_cost_usd) FROM tasks t LEFT JOIN provider_batches b ON b.id = "
        "t.batch_id WHERE t.state = 2 GROUP BY 1, 2, 3, 4, 5 UNION ALL SELECT job_id, '', '', "
        "-1, '', COUNT(*), 0, 0, 0, 0, 0, 0, 0, 0, TOTAL(classify_cost_usd) FROM tasks WHERE "
        "state <> 2 AND classify_cost_usd <> 0 GROUP BY job_id ORDER BY 1, 2, 3, 4, 5"_s;
    const QString kept =
        u"SELECT job_id, lane, model, day, tier, tasks, unpriced, cost_usd, input_tokens, "
        "output_tokens, cached_tokens, cache_write_tokens, classify_input_tokens, "
        "classify_output_tokens, classify_cost_usd FROM job_cost_lines ORDER BY 1, 2, 3, 4, 5"_s;
    const auto rows = [&](const QString &sql) {
        QStringList lines;
        QSqlQuery query(side);
        if (!query.exec(sql)) {
            lines.append(u"error: "_s + query.lastError().text());
            return lines;
        }
        while (query.next()) {
            QStringList fields;
            for (int i = 0; i < 15; ++i) {
                const QVariant value = query.value(i);
                fields.append(i == 7 || i == 14 ? QString::number(value.toDouble(), 'f', 9)
                                                : value.toString());
            }
            lines.append(fields.join(u'|'));
        }
        return lines;
    };
    const auto exec = [&](const QString &sql) {
        QSqlQuery query(side);
        if (!query.exec(sql))
            qWarning("%s: %s", qPrintable(sql), qPrintable(query.lastError().text()));
    };
    int step = 0;
    const auto same = [&](const char *what) {
        ++step;
        const QStringList expected = rows(scan);
        const QStringList actual = rows(kept);
        if (expected != actual) {
            qWarning("after step %d (%s):\nscan:\n%s\nkept:\n%s", step, what,
                     qPrintable(expected.join(u'\n')), qPrintable(actual.join(u'\n')));
        }
        return expected == actual;
    };

    // Through the store: claims, completions (one unpriced), a dead letter, a retry.
    QList<ClaimedTask> claimed;
    QVERIFY(store->claimTasks(jobA, kOwnerA, 10, kT0, kT0 + kLease, &claimed));
    TaskTransition unpriced = transition(claimed.at(1).id, OutcomeAction::Complete);
    unpriced.outcome.costUsd = std::nullopt;
    QVERIFY(store->applyTransitions(
        kOwnerA,
        {transition(claimed.at(0).id, OutcomeAction::Complete), unpriced,
         transition(claimed.at(2).id, OutcomeAction::Complete),
         transition(claimed.at(3).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest),
         transition(claimed.at(4).id, OutcomeAction::Retry, ErrorClass::ServerError, true, kT0)},
        kT0 + 1000));
    QVERIFY(same("store transitions"));

    // By hand, in a fixed pseudo-random order: every column a line depends on changes.
    const qint64 firstId = scalar(side, u"SELECT MIN(id) FROM tasks"_s).toLongLong();
    const qint64 lastId = scalar(side, u"SELECT MAX(id) FROM tasks"_s).toLongLong();
    quint32 seed = 12345;
    const auto next = [&](quint32 n) {
        seed = seed * 1664525u + 1013904223u;
        return (seed >> 8) % n;
    };
    static const char *const kModels[] = {"sim-1", "gpt-4.1-mini", "claude-haiku-4-5"};
    static const char *const kTiers[] = {"", "simple", "complex"};
    for (int i = 0; i < 400; ++i) {
        const qint64 id = firstId + qint64(next(quint32(lastId - firstId + 1)));
        switch (next(9)) {
        case 0:
        case 1: // completed, with any model, tier, day, price, cache hit and batch (a
                // running task completes only through the store, which counts it itself)
            exec(u"UPDATE tasks SET state = 2, model = '%1', tier = %2, input_tokens = %3, "
                 "output_tokens = %4, cached_tokens = %5, cache_write_tokens = %6, cost_usd = %7, "
                 "cache_hit = %8, batch_id = CASE WHEN job_id = %12 THEN %9 END, "
                 "finished_at = %10 WHERE id = %11 AND state <> 1"_s
                     .arg(QString::fromLatin1(kModels[next(3)]))
                     .arg(next(3) ? u"'%1'"_s.arg(QString::fromLatin1(kTiers[next(3)])) : u"NULL"_s)
                     .arg(next(5000))
                     .arg(next(900))
                     .arg(next(50))
                     .arg(next(7))
                     .arg(next(4) ? QString::number(double(next(100000)) / 1e6, 'f', 6) : u"NULL"_s)
                     .arg(next(5) == 0 ? 1 : 0)
                     .arg(next(3) == 0   ? QString::number(batchApi)
                          : next(2) == 0 ? QString::number(grouped)
                                         : u"NULL"_s)
                     .arg(kT0 + qint64(next(4)) * 86'400'000 + next(1000))
                     .arg(id)
                     .arg(jobA));
            break;
        case 2: // back to pending (a replay) or dead
            exec(u"UPDATE tasks SET state = %1 WHERE id = %2"_s.arg(next(2) ? 0 : 3).arg(id));
            break;
        case 3: // a classifier's spend, whatever the state
            exec(u"UPDATE tasks SET classify_cost_usd = %1, classify_input_tokens = %2, "
                 "classify_output_tokens = %3 WHERE id = %4"_s
                     .arg(next(3) ? QString::number(double(next(5000)) / 1e6, 'f', 6) : u"0"_s)
                     .arg(next(300))
                     .arg(next(3))
                     .arg(id));
            break;
        case 4: // one figure of a task changes (completed or not)
            exec(u"UPDATE tasks SET output_tokens = output_tokens + 1, cost_usd = "
                 "COALESCE(cost_usd, 0) + 0.001 WHERE id = %1"_s.arg(id));
            break;
        case 5: // the day it finished, or the batch it went in
            exec(next(2)
                     ? u"UPDATE tasks SET finished_at = finished_at + 86400000 WHERE id = %1"_s.arg(
                           id)
                     : u"UPDATE tasks SET batch_id = %1 WHERE id = %2 AND job_id = %3"_s
                           .arg(batchApi)
                           .arg(id)
                           .arg(jobA));
            break;
        case 6: // a leased task, and a lease renewed (no line changes)
            exec(u"UPDATE tasks SET state = 1, lease_owner = 'x', lease_expires = %1 WHERE id = "
                 "%2 AND state = 0"_s.arg(kT0 + kLease)
                     .arg(id));
            break;
        case 7: // a task inserted completed (with a classifier's spend), or deleted
            if (next(2)) {
                exec(u"INSERT INTO tasks (job_id, row_no, vals, priority, state, model, "
                     "input_tokens, output_tokens, cost_usd, classify_cost_usd, created_at, "
                     "finished_at) VALUES (%1, 999, '[]', 2, %2, 'sim-1', 7, 3, 0.002, 0.0005, "
                     "%3, %3)"_s.arg(next(2) ? jobA : jobB)
                         .arg(next(2) ? 2 : 0)
                         .arg(kT0));
            } else {
                exec(u"DELETE FROM tasks WHERE id = %1"_s.arg(id));
            }
            break;
        case 8: // moved to the other job (a provider batch holds tasks of its own job only)
            exec(u"UPDATE tasks SET job_id = %1, batch_id = NULL WHERE id = %2"_s
                     .arg(next(2) ? jobA : jobB)
                     .arg(id));
            break;
        }
        if (i % 20 == 19)
            QVERIFY(same("writes by hand"));
    }
    QVERIFY(same("writes by hand"));

    // A database of schema 16 (the eight triggers of migrations 14 and 15, tasks_job_state and
    // tasks_lease): migration 17 keeps its lines and counts, and the store counts a group's
    // completions itself from then on, in every lane, tier and day, priced or not, with a
    // classifier's spend.
    {
        const QStringList linesBefore = rows(kept);
        const bd::TaskCounts countsBefore = store->taskCounts(jobA);
        exec(u"DROP TRIGGER tasks_lines_insert"_s);
        exec(u"DROP TRIGGER tasks_lines_delete"_s);
        exec(u"DROP TRIGGER tasks_lines_update"_s);
        exec(u"DROP INDEX tasks_requeued"_s); // migration 19's
        exec(u"DROP VIEW task_line_moves"_s);
        exec(u"DROP INDEX tasks_job"_s);
        exec(u"DROP INDEX tasks_active"_s);
        exec(u"CREATE INDEX tasks_job_state ON tasks (job_id, state)"_s);
        exec(u"CREATE INDEX tasks_lease ON tasks (lease_expires) WHERE state = 1"_s);
        for (const bd::store::Migration &migration : bd::store::sqliteMigrations()) {
            if (migration.version != 14 && migration.version != 15)
                continue;
            for (const QString &statement : migration.statements) {
                if (statement.startsWith(u"CREATE TRIGGER tasks_"_s) ||
                    statement.startsWith(u"DROP TRIGGER tasks_"_s))
                    exec(statement);
            }
        }
        exec(u"ALTER TABLE workers DROP COLUMN stopped_at"_s); // migration 18's
        exec(u"PRAGMA user_version = 16"_s);
        QCOMPARE(scalar(side, u"SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND "
                              "tbl_name = 'tasks'"_s)
                     .toInt(),
                 8);
        auto upgraded = openStore(u"upgraded-17"_s);
        QVERIFY2(upgraded->isOpen(), qPrintable(upgraded->errorString()));
        QCOMPARE(scalar(side, u"PRAGMA user_version"_s).toInt(), bd::store::latestSchemaVersion());
        QCOMPARE(rows(kept), linesBefore);
        const bd::TaskCounts countsAfter = upgraded->taskCounts(jobA);
        QCOMPARE(countsAfter.pending, countsBefore.pending);
        QCOMPARE(countsAfter.leased, countsBefore.leased);
        QCOMPARE(countsAfter.completed, countsBefore.completed);
        QCOMPARE(countsAfter.dead, countsBefore.dead);
        QCOMPARE(countsAfter.cancelled, countsBefore.cancelled);
        QVERIFY(same("migrated to 17"));

        QList<ClaimedTask> more;
        QVERIFY(upgraded->claimTasks(jobB, kOwnerA, 6, kT0, kT0 + kLease, &more));
        QList<ClaimedTask> ofA;
        QVERIFY(upgraded->claimTasks(jobA, kOwnerA, 6, kT0, kT0 + kLease, &ofA));
        QVERIFY(more.size() >= 4 && ofA.size() >= 4);
        QCOMPARE(upgraded->assignTasksToBatch(batchApi, kOwnerA, {ofA.at(0).id, ofA.at(1).id},
                                              kOwnerA, kT0 + kLease),
                 2);
        QList<TaskTransition> group;
        for (const ClaimedTask &task : more + ofA)
            group.append(transition(task.id, OutcomeAction::Complete));
        group[1].outcome.costUsd = std::nullopt;
        group[2].outcome.cacheHit = true;
        group[2].outcome.costUsd = 0.0;
        group[3].outcome.tier = u"simple"_s;
        group[3].outcome.classifyCostUsd = 0.003;
        group[3].outcome.classifyUsage.inputTokens = 30;
        group[4].outcome.model = u"gpt-4.1-mini"_s;
        QVERIFY(upgraded->applyTransitions(kOwnerA, group.mid(0, 5), kT0 + 2000));
        QVERIFY(same("store completions after migration 17"));
        QVERIFY(upgraded->applyTransitions(kOwnerA, group.mid(5), kT0 + 3 * 86'400'000));
        QVERIFY(same("a second group, another day, a batch-api lane"));
        // Sent again, the same group completes nothing and adds nothing.
        int skipped = 0;
        QVERIFY(upgraded->applyTransitions(kOwnerA, group, kT0 + 4000, &skipped));
        QCOMPARE(skipped, group.size());
        QVERIFY(same("a group sent twice"));
    }
    QVERIFY(rows(kept).size() > 10); // many lines: models, lanes, days and tiers
    QVERIFY(rows(kept).join(u'\n').contains(u"|batch-api|"_s));

    // The store's reads come from the lines; the totals equal the scan's.
    bd::Usage usage;
    double cost = -1;
    QVERIFY(store->jobTotals(jobA, &usage, &cost, nullptr));
    QCOMPARE(usage.outputTokens,
             scalar(side,
                    u"SELECT TOTAL(output_tokens) FROM tasks WHERE job_id = %1 AND state = 2"_s.arg(
                        jobA))
                 .toLongLong());
    QVERIFY(
        qAbs(cost - scalar(side, u"SELECT TOTAL(CASE WHEN state = 2 THEN cost_usd ELSE "
                                 "classify_cost_usd END) FROM tasks WHERE job_id = %1"_s.arg(jobA))
                        .toDouble()) < 1e-9);
    qint64 lineTasks = 0;
    for (const bd::store::CostLine &line : store->costLines(jobA))
        lineTasks += line.tasks;
    QCOMPARE(lineTasks, store->taskCounts(jobA).completed);

    // The migration's backfill makes the same lines from the tasks alone.
    const QStringList before = rows(kept);
    // (Completed tasks' lines come from migration 14; the open line's fill was made again
    // by a later one that counts refused answers too: the newest of each.)
    QString completedFill;
    QString openFill;
    for (const bd::store::Migration &migration : bd::store::sqliteMigrations()) {
        for (const QString &statement : migration.statements) {
            if (!statement.startsWith(u"INSERT INTO job_cost_lines"_s))
                continue;
            (statement.contains(u"'', '', -1"_s) ? openFill : completedFill) = statement;
        }
    }
    QVERIFY(!completedFill.isEmpty() && !openFill.isEmpty());
    exec(u"DELETE FROM job_cost_lines"_s);
    exec(completedFill);
    exec(openFill);
    QCOMPARE(rows(kept), before);

    // A deleted job leaves no line behind.
    QVERIFY(store->deleteJob(jobA));
    QVERIFY(same("job deleted"));
    QCOMPARE(
        scalar(side, u"SELECT COUNT(*) FROM job_cost_lines WHERE job_id = %1"_s.arg(jobA)).toInt(),
        0);
}

// Two stores on one file and one on another, open at once (two engines in one process):
// each names its own connection, so closing one never takes another's away.
void TestStore::storesSideBySideHaveTheirOwnConnections()
{
    auto first = openStore();
    auto second = openStore();
    auto elsewhere = std::make_unique<SqliteStore>(m_dir->filePath(u"other.sqlite"_s));
    QVERIFY(first->isOpen() && second->isOpen() && elsewhere->isOpen());
    const QStringList names{first->connectionName(), second->connectionName(),
                            elsewhere->connectionName()};
    QCOMPARE(QSet<QString>(names.cbegin(), names.cend()).size(), 3);
    for (const QString &name : names)
        QVERIFY(QSqlDatabase::contains(name));

    const qint64 job = makeJob(*first, 2);
    QCOMPARE(second->taskCounts(job).pending, 2);
    QVERIFY(elsewhere->jobs().isEmpty());
    const QString firstName = first->connectionName();
    first.reset();
    QVERIFY(!QSqlDatabase::contains(firstName));
    QCOMPARE(second->taskCounts(job).pending, 2);
    QVERIFY(makeJob(*elsewhere, 1) > 0);
    QCOMPARE(elsewhere->jobs().size(), 1);
}

QTEST_GUILESS_MAIN(TestStore)

#include "test_store.moc"
