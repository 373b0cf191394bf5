// The store conformance suite (tests/store/storeconformance.h) on the PostgreSQL backend,
// against a private server this program starts (tests/store/privatepostgres.h): every
// test gets a new database, which opening read-write creates. Then what only PostgreSQL
// has: opening a new database from several threads at once, passwords kept out of
// messages. Skipped (exit 77) when the PostgreSQL server is not installed.

#include "../store/privatepostgres.h"
#include "../store/storeconformance.h"
#include "store/database.h"
#include "store/postgres/postgresconnection.h"
#include "store/sharedlimits.h"
#include "store/store.h"

#include <cstdio>
#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QRegularExpression>
#include <QSet>
#include <QSqlQuery>
#include <QTest>
#include <QThread>

using namespace Qt::StringLiterals;

namespace {

class PostgresOnly : public QObject
{
    Q_OBJECT

public:
    explicit PostgresOnly(bd::storetest::PrivatePostgres *server)
        : m_server(server)
    {
    }

private Q_SLOTS:
    void concurrentOpenersMigrateOnce()
    {
        // Four threads open the same new database at once: it is created and migrated
        // once (advisory lock), and every opener gets a working queue.
        const QString url = m_server->url(u"race"_s);
        QList<QThread *> threads;
        QList<QString> errors(4);
        QList<qint64> jobs(4, 0);
        for (int i = 0; i < 4; ++i) {
            threads.append(QThread::create([&, i] {
                QString error;
                auto db =
                    bd::store::Database::open(url, bd::store::Database::Access::ReadWrite, &error);
                if (!db) {
                    errors[i] = error;
                    return;
                }
                bd::JobSpec spec;
                spec.sourcePath = u"/race-%1.csv"_s.arg(i);
                spec.templateText = u"{{a}}"_s;
                jobs[i] = db->queue().createJob(spec, {u"a"_s}, 1);
            }));
        }
        for (QThread *thread : std::as_const(threads))
            thread->start();
        for (QThread *thread : std::as_const(threads)) {
            thread->wait();
            delete thread;
        }
        for (int i = 0; i < 4; ++i) {
            QVERIFY2(errors.at(i).isEmpty(), qPrintable(errors.at(i)));
            QVERIFY(jobs.at(i) > 0);
        }
        QString error;
        auto db = bd::store::Database::open(url, bd::store::Database::Access::ReadOnly, &error);
        QVERIFY2(db, qPrintable(error));
        QCOMPARE(db->queue().jobs().size(), 4);
    }

    void concurrentClaimsNeverOverlap()
    {
        // Four connections drain one job at once (SKIP LOCKED): every task is claimed and
        // completed exactly once.
        const QString url = m_server->url(u"drain"_s);
        constexpr int kTasks = 2000;
        qint64 jobId = 0;
        {
            QString error;
            auto db =
                bd::store::Database::open(url, bd::store::Database::Access::ReadWrite, &error);
            QVERIFY2(db, qPrintable(error));
            bd::JobSpec spec;
            spec.sourcePath = u"/drain.csv"_s;
            spec.templateText = u"{{a}}"_s;
            jobId = db->queue().createJob(spec, {u"a"_s}, 1);
            QList<QStringList> rows;
            for (int i = 0; i < kTasks; ++i)
                rows.append({QString::number(i)});
            QVERIFY(db->queue().appendTasks(jobId, 1, rows, 2, 1));
        }
        QList<QList<qint64>> claimedBy(4);
        QList<int> skippedBy(4, 0);
        QList<QThread *> threads;
        for (int w = 0; w < 4; ++w) {
            threads.append(QThread::create([&, w] {
                QString error;
                auto db =
                    bd::store::Database::open(url, bd::store::Database::Access::ReadWrite, &error);
                if (!db)
                    return;
                const QString owner = u"test:%1:1"_s.arg(w);
                QList<bd::ClaimedTask> claimed;
                while (db->queue().claimTasks(jobId, owner, 37, 10, 1'000'000, &claimed) &&
                       !claimed.isEmpty()) {
                    QList<bd::TaskTransition> done;
                    for (const bd::ClaimedTask &task : std::as_const(claimed)) {
                        claimedBy[w].append(task.id);
                        bd::TaskTransition t;
                        t.outcome.taskId = task.id;
                        t.outcome.output = u"ok"_s;
                        done.append(t);
                    }
                    int skipped = 0;
                    db->queue().applyTransitions(owner, done, 20, &skipped);
                    skippedBy[w] += skipped;
                }
            }));
        }
        for (QThread *thread : std::as_const(threads))
            thread->start();
        for (QThread *thread : std::as_const(threads)) {
            thread->wait();
            delete thread;
        }
        QSet<qint64> all;
        qint64 total = 0;
        for (int w = 0; w < 4; ++w) {
            total += claimedBy.at(w).size();
            for (qint64 id : claimedBy.at(w))
                all.insert(id);
            QCOMPARE(skippedBy.at(w), 0);
        }
        QCOMPARE(total, qint64(kTasks));
        QCOMPARE(all.size(), kTasks);
        QString error;
        auto db = bd::store::Database::open(url, bd::store::Database::Access::ReadOnly, &error);
        QVERIFY2(db, qPrintable(error));
        QCOMPARE(db->queue().taskCounts(jobId).completed, qint64(kTasks));
    }

    void passwordsStayOutOfMessages()
    {
        QString error;
        const QString url =
            u"postgresql://someone:s3cretpw@127.0.0.1:%1/none"_s.arg(m_server->port());
        auto db = bd::store::Database::open(url, bd::store::Database::Access::ReadOnly, &error);
        QVERIFY(!db);
        QVERIFY2(!error.isEmpty() && !error.contains(u"s3cretpw"_s), qPrintable(error));
        QVERIFY(!bd::store::Database::displayLocation(url).contains(u"s3cretpw"_s));
        QVERIFY(!bd::store::Database::exists(url));
        // Read-only opening never creates a database.
        QVERIFY(!bd::store::Database::exists(m_server->url(u"never_made"_s)));
        QVERIFY(!bd::store::Database::exists(m_server->url(u"never_made"_s)));
    }

    void deadServersAreNoticedWithinAMinute()
    {
        using bd::store::PostgresConnection;
        // The defaults, on a live session as libpq took them.
        PostgresConnection plain(m_server->url(u"keepalive_plain"_s),
                                 bd::store::Database::Access::ReadWrite);
        QVERIFY2(plain.isOpen(), qPrintable(plain.errorString()));
        QCOMPARE(plain.sessionOption("keepalives"), u"1"_s);
        QCOMPARE(plain.sessionOption("keepalives_idle"), u"30"_s);
        QCOMPARE(plain.sessionOption("keepalives_interval"), u"10"_s);
        QCOMPARE(plain.sessionOption("keepalives_count"), u"3"_s);
        QCOMPARE(plain.sessionOption("tcp_user_timeout"), u"60000"_s);
        QCOMPARE(plain.sessionOption("connect_timeout"), u"10"_s);

        // What the URL says wins, once (before, connect_timeout=10 was added after it).
        const QString given = m_server->url(u"keepalive_given"_s) +
                              u"?connect_timeout=4&keepalives_idle=7&password=nope"_s;
        const QString options = PostgresConnection::connectOptions(QUrl(given));
        QCOMPARE(options.count(u"connect_timeout="_s), 1);
        QCOMPARE(options.count(u"keepalives_idle="_s), 1);
        QVERIFY(!options.contains(u"nope"_s));
        PostgresConnection tuned(given, bd::store::Database::Access::ReadWrite);
        QVERIFY2(tuned.isOpen(), qPrintable(tuned.errorString()));
        QCOMPARE(tuned.sessionOption("connect_timeout"), u"4"_s);
        QCOMPARE(tuned.sessionOption("keepalives_idle"), u"7"_s);
        QCOMPARE(tuned.sessionOption("keepalives_count"), u"3"_s);
    }

    void sharedLimitsOnAClosedConnectionFailQuietly()
    {
        // Between reconnect attempts the connection is closed: the shared limits' calls
        // fail with a reason of ours, and Qt has no "database not open" to print (workers
        // printed it while their server was away).
        bd::storetest::PrivatePostgres own;
        QVERIFY2(own.start(bd::storetest::PrivatePostgres::Server::Own),
                 qPrintable(own.errorString()));
        QString error;
        auto db = bd::store::Database::open(own.url(u"away"_s),
                                            bd::store::Database::Access::ReadWrite, &error);
        QVERIFY2(db, qPrintable(error));
        const QString key = u"openai|http://127.0.0.1:9/v1|gpt-4.1-mini"_s;
        QVERIFY(db->sharedLimits().breaker(key)); // prepared on the first session
        QVERIFY2(own.stopServer(), qPrintable(own.errorString()));
        QVERIFY(!db->reconnect(&error)); // nobody there: the connection stays closed
        QTest::failOnWarning(QRegularExpression(u"not open|Unable to free statement"_s));
        QVERIFY(!db->sharedLimits().breaker(key));
        QVERIFY(!db->sharedLimits().setShare(key, u"w"_s, 1, 1));
        QVERIFY(!db->sharedLimits().reserveSlots(key, 10.0, 1, 1.0, 100.0));
        QVERIFY2(db->sharedLimits().errorString().endsWith(u": the database connection is closed"_s),
                 qPrintable(db->sharedLimits().errorString()));
        // Back: the same calls work on the new session.
        QVERIFY2(own.startServer(), qPrintable(own.errorString()));
        QVERIFY2(db->reconnect(&error), qPrintable(error));
        QVERIFY2(db->sharedLimits().breaker(key), qPrintable(db->sharedLimits().errorString()));
    }

    void aListenerLosingItsSessionSaysNothing()
    {
        // A worker listening for work printed "QSocketNotifier: Invalid socket N" each time
        // its server went: the watch on the session's socket outlived the socket libpq
        // closed. Lost while idle, then lost under a query, then heard again after each
        // reconnect: nothing from Qt at any step.
        const QString url = m_server->url(u"listen_lost"_s);
        QString error;
        auto db = bd::store::Database::open(url, bd::store::Database::Access::ReadWrite, &error);
        QVERIFY2(db, qPrintable(error));
        int heard = 0;
        QVERIFY(db->listenForWork([&heard] { ++heard; }));
        bd::store::PostgresConnection other(url, bd::store::Database::Access::ReadWrite);
        QVERIFY2(other.isOpen(), qPrintable(other.errorString()));
        QTest::failOnWarning(QRegularExpression(u"QSocketNotifier"_s));

        QVERIFY(endOtherSessions(other));
        QTRY_VERIFY(db->connectionLost()); // seen by the event loop, nothing else runs
        QTest::qWait(100);                 // that loop polls what it watches again
        QVERIFY2(db->reconnect(&error), qPrintable(error));
        QVERIFY(QSqlQuery(other.db()).exec(u"NOTIFY bd_work"_s));
        QTRY_COMPARE(heard, 1);

        QVERIFY(endOtherSessions(other));
        QVERIFY(db->queue().jobs().isEmpty()); // this query meets the end first
        QVERIFY(db->connectionLost());
        QTest::qWait(100);
        QVERIFY2(db->reconnect(&error), qPrintable(error));
        QVERIFY(QSqlQuery(other.db()).exec(u"NOTIFY bd_work"_s));
        QTRY_COMPARE(heard, 2);
    }

    void aListenerHearsWhatCameWithAnAnswer()
    {
        // A notification sent while the listener is in a transaction reaches it with the
        // answer to its COMMIT, read into libpq's queue with it: no socket shows it, and it
        // is heard all the same. The listener's own are not.
        using bd::store::PostgresConnection;
        const QString url = m_server->url(u"listen_answer"_s);
        PostgresConnection listener(url, bd::store::Database::Access::ReadWrite);
        PostgresConnection other(url, bd::store::Database::Access::ReadWrite);
        QVERIFY2(listener.isOpen(), qPrintable(listener.errorString()));
        QVERIFY2(other.isOpen(), qPrintable(other.errorString()));
        int heard = 0;
        QVERIFY2(listener.listen(u"bd_work"_s, [&heard] { ++heard; }),
                 qPrintable(listener.errorString()));
        QSqlQuery own(listener.db());
        QVERIFY(own.exec(u"NOTIFY bd_work"_s));
        QVERIFY(own.exec(u"BEGIN"_s));
        QVERIFY(QSqlQuery(other.db()).exec(u"NOTIFY bd_work"_s));
        QTest::qWait(100);
        QCOMPARE(heard, 0); // held by the server until the transaction ends
        QVERIFY(own.exec(u"COMMIT"_s));
        QTRY_COMPARE(heard, 1);
        QTest::qWait(100);
        QCOMPARE(heard, 1);
    }

    void aBigImportLeavesThePlannerItsFigures()
    {
        // Imported 50,000 tasks, the store analyzes tasks itself (last_analyze: autovacuum
        // sets last_autoanalyze), and the claim's plan walks the claim index in order: no
        // read and sort of every pending task per claim, as with the figures of an empty
        // table (110-160 ms a claim at 300,000 tasks).
        const QString url = m_server->url(u"analyzed"_s);
        QString error;
        auto db = bd::store::Database::open(url, bd::store::Database::Access::ReadWrite, &error);
        QVERIFY2(db, qPrintable(error));
        bd::JobSpec spec;
        spec.sourcePath = u"/big.csv"_s;
        spec.templateText = u"{{a}}"_s;
        const qint64 jobId = db->queue().createJob(spec, {u"a"_s}, 1);
        QVERIFY(jobId > 0);
        QList<QStringList> rows;
        for (int i = 0; i < 5'000; ++i)
            rows.append({QString::number(i)});
        for (int chunk = 0; chunk < 10; ++chunk)
            QVERIFY(db->queue().appendTasks(jobId, chunk * 5'000 + 1, rows, 2, 1));
        bd::store::PostgresConnection look(url, bd::store::Database::Access::ReadOnly);
        QVERIFY2(look.isOpen(), qPrintable(look.errorString()));
        QSqlQuery query(look.db());
        QVERIFY(query.exec(u"SELECT last_analyze IS NOT NULL, reltuples FROM pg_stat_user_tables "
                           "s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'tasks'"_s));
        QVERIFY(query.next());
        QVERIFY(query.value(0).toBool());
        QVERIFY2(query.value(1).toDouble() >= 40'000, qPrintable(query.value(1).toString()));
        QVERIFY(query.exec(u"EXPLAIN SELECT id FROM tasks WHERE job_id = %1 AND state = 0 AND "
                           "not_before <= 2 ORDER BY priority, id LIMIT 100 FOR UPDATE SKIP LOCKED"_s
                               .arg(jobId)));
        QString plan;
        while (query.next())
            plan += query.value(0).toString() + u'\n';
        QVERIFY2(plan.contains(u"Index Scan using tasks_claim"_s) && !plan.contains(u"Sort"_s),
                 qPrintable(plan));
    }

private:
    // Ends every other session on by's database, as a restart of the server would, and
    // returns once they are gone.
    static bool endOtherSessions(bd::store::PostgresConnection &by)
    {
        const QString others =
            u"FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"_s;
        QSqlQuery query(by.db());
        if (!query.exec(u"SELECT COUNT(pg_terminate_backend(pid)) "_s + others) || !query.next() ||
            query.value(0).toInt() == 0)
            return false;
        for (QDeadlineTimer deadline(10'000); !deadline.hasExpired(); QThread::msleep(10)) {
            if (query.exec(u"SELECT COUNT(*) "_s + others) && query.next() &&
                query.value(0).toInt() == 0)
                return true;
        }
        return false;
    }

    bd::storetest::PrivatePostgres *m_server;
};

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    if (!bd::storetest::PrivatePostgres::available()) {
        std::fprintf(stderr, "SKIP: PostgreSQL's server (initdb, pg_ctl) is not installed; "
                             "install Debian's postgresql package (scripts/setup-debian.sh)\n");
        return 77;
    }
    bd::storetest::PrivatePostgres server;
    if (!server.start()) {
        std::fprintf(stderr, "cannot start a private PostgreSQL: %s\n",
                     qPrintable(server.errorString()));
        return 1;
    }
    int databases = 0;
    bd::storetest::Backend backend;
    backend.name = u"postgresql"_s;
    backend.newLocation = [&] { return server.url(u"conformance_%1"_s.arg(++databases)); };
    int failures = bd::storetest::runStoreConformance(backend, argc, argv);
    PostgresOnly only(&server);
    failures += QTest::qExec(&only, argc, argv);
    return failures;
}

#include "test_store_postgres.moc"
