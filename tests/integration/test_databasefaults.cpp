// The database under faults, through the real batchctl: a damaged page (every command exits
// 1 naming the file, what is wrong and what to do, and nothing is imported), the full check
// on demand, processes racing to create one new database, and imports cut short by SIGKILL
// or SIGTERM (resume or a second run finishes them; a polite stop keeps nothing).

#include "batchctlrun.h"
#include "sqlitepeek.h"
#include "store/sqlite/migrations.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QProcess>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <csignal>
#include <memory>
#include <vector>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;

using bd::test::sqliteScalar;
using bd::test::withSqlite;

class TestDatabaseFaults : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void damagedPageStopsEveryCommand_data();
    void damagedPageStopsEveryCommand();
    void fullCheckOnDemand();
    void newDatabaseRaceMigratesOnce();
    void killedImportIsFinishedByResume();
    void killedImportIsFinishedByRunningAgain();
    void sigtermDuringImportKeepsNothing();
    void signalsPauseARun();

private:
    BatchctlRun batchctl(const QStringList &arguments, int timeoutMs = 120'000);
    QString writeCsv(const QString &name, int rows);
    // Whether process's import into db was seen under way (rows of an importing job stored).
    bool waitUntilImporting(QProcess &process, const QString &db);
    // Starts `run` of csv on db and SIGKILLs it once its job is importing with rows stored.
    void killDuringImport(const QString &csv, const QString &db);

    QTemporaryDir m_dir;
    QProcessEnvironment m_env;
};

void TestDatabaseFaults::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_env = isolatedEnvironment(m_dir.path());
}

BatchctlRun TestDatabaseFaults::batchctl(const QStringList &arguments, int timeoutMs)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, m_env, m_dir.path(), timeoutMs);
}

QString TestDatabaseFaults::writeCsv(const QString &name, int rows)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write("id,text\n");
    QByteArray chunk;
    for (int i = 1; i <= rows; ++i) {
        chunk += "R" + QByteArray::number(i) + ",row number " + QByteArray::number(i) +
                 " of a file long enough to take a while to import\n";
        if (chunk.size() > (1 << 20)) {
            file.write(chunk);
            chunk.clear();
        }
    }
    file.write(chunk);
    return path;
}

void TestDatabaseFaults::damagedPageStopsEveryCommand_data()
{
    QTest::addColumn<int>("fillerMiB");
    // Small: caught by the quick_check at open. Large (over the 16 MiB quick-check limit):
    // the bounded check at open or the query that meets the page.
    QTest::newRow("small database") << 0;
    QTest::newRow("large database") << 24;
}

void TestDatabaseFaults::damagedPageStopsEveryCommand()
{
    QFETCH(int, fillerMiB);
    const QString db = m_dir.filePath(u"damaged-%1.sqlite"_s.arg(fillerMiB));
    const QString csv = writeCsv(u"small-%1.csv"_s.arg(fillerMiB), 400);
    const BatchctlRun first =
        batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(first.exitCode == 0, qPrintable(first.describe()));
    const double spent = first.json().value(u"cost_usd"_s).toDouble();
    QVERIFY(spent > 0);

    qint64 damagedPage = 0;
    QVERIFY(withSqlite(db, [&](QSqlDatabase &sql) {
        QSqlQuery query(sql);
        if (fillerMiB > 0) {
            // Completed rows of a second job, big enough to pass the quick-check limit.
            QVERIFY(query.exec(u"INSERT INTO jobs SELECT 2, fingerprint || 'x', source_path, "
                               "source_sha256, template, system_prompt, provider, model, "
                               "base_url, priority, mode, max_retries, max_output_tokens, "
                               "settings, columns, 3, state_reason, created_at, updated_at, runner "
                               "FROM jobs WHERE id = 1"_s));
            QVERIFY2(
                query.exec(
                    u"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i < %1) INSERT INTO tasks (job_id, row_no, vals, priority, "
                    "state, output, cost_usd, created_at) SELECT 2, i, '[\"x\", \"y\"]', 2, 2, "
                    "hex(randomblob(500)), 0.0001, 0 FROM n"_s.arg(fillerMiB * 1024)),
                qPrintable(query.lastError().text()));
        }
        QVERIFY(query.exec(u"PRAGMA wal_checkpoint(TRUNCATE)"_s));
        // A leaf page of the tasks table in the middle of the file.
        QVERIFY(query.exec(u"SELECT pageno FROM dbstat WHERE name = 'tasks' AND pagetype = 'leaf' "
                           "ORDER BY pageno"_s));
        QList<qint64> leaves;
        while (query.next())
            leaves.append(query.value(0).toLongLong());
        QVERIFY(!leaves.isEmpty());
        damagedPage = leaves.at(leaves.size() / 2);
    }));
    QVERIFY(damagedPage > 1);
    {
        QFile file(db);
        QVERIFY(file.open(QIODevice::ReadWrite));
        QVERIFY(file.seek((damagedPage - 1) * 4096));
        QCOMPARE(file.write(QByteArray(4096, '\x5a')), qint64(4096));
    }
    const qint64 jobsBefore = sqliteScalar(db, u"SELECT COUNT(*) FROM jobs"_s);

    const auto expectDamaged = [&](const BatchctlRun &run) {
        QVERIFY2(run.exitCode == 1, qPrintable(run.describe()));
        const QString err = QString::fromUtf8(run.err);
        QVERIFY2(err.contains(db) && err.contains(u"the database is damaged"_s) &&
                     err.contains(u".recover"_s) && err.contains(u"pre-v"_s),
                 qPrintable(run.describe()));
    };
    const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    if (fillerMiB == 0) {
        // The quick_check at open reads every page.
        expectDamaged(status);
        expectDamaged(batchctl({u"status"_s, u"--db"_s, db}));
    } else if (status.exitCode != 0) {
        expectDamaged(status); // the bounded check at open met the page
    } else {
        // status reads the jobs and their kept totals, not the damaged task page: never
        // zeros, the real spend (it read $0 before).
        const QJsonArray jobs = status.json().value(u"jobs"_s).toArray();
        QVERIFY2(!jobs.isEmpty(), status.out.constData());
        QCOMPARE(jobs.at(0).toObject().value(u"cost_usd"_s).toDouble(), spent);
    }
    // The export of the job whose page is damaged meets it.
    const QString exported = m_dir.filePath(u"out-%1.csv"_s.arg(fillerMiB));
    expectDamaged(batchctl(
        {u"export"_s, fillerMiB > 0 ? u"2"_s : u"1"_s, u"--out"_s, exported, u"--db"_s, db}));
    QVERIFY(!QFileInfo::exists(exported));
    expectDamaged(batchctl({u"resume"_s, u"--db"_s, db}));
    const QString other = writeCsv(u"other-%1.csv"_s.arg(fillerMiB), 50);
    expectDamaged(batchctl({u"run"_s, other, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db}));
    const qint64 jobsAfter = sqliteScalar(db, u"SELECT COUNT(*) FROM jobs"_s);
    QCOMPARE(jobsAfter, jobsBefore);

    const BatchctlRun check = batchctl({u"check"_s, u"--db"_s, db});
    expectDamaged(check);
    QVERIFY2(!check.out.trimmed().isEmpty(), qPrintable(check.describe()));
}

void TestDatabaseFaults::fullCheckOnDemand()
{
    const QString db = m_dir.filePath(u"sound.sqlite"_s);
    const QString csv = writeCsv(u"sound.csv"_s, 100);
    QCOMPARE(batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db}).exitCode,
             0);
    const BatchctlRun check = batchctl({u"check"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(check.exitCode == 0, qPrintable(check.describe()));
    QCOMPARE(check.json().value(u"ok"_s).toBool(), true);
    QCOMPARE(check.json().value(u"problems"_s).toArray().size(), 0);
    const BatchctlRun missing = batchctl({u"check"_s, u"--db"_s, m_dir.filePath(u"none.sqlite"_s)});
    QVERIFY2(missing.exitCode == 2, qPrintable(missing.describe()));
    QVERIFY(!QFileInfo::exists(m_dir.filePath(u"none.sqlite"_s)));
}

void TestDatabaseFaults::newDatabaseRaceMigratesOnce()
{
    constexpr int kRounds = 5;
    constexpr int kProcesses = 6;
    for (int round = 0; round < kRounds; ++round) {
        const QString db = m_dir.filePath(u"race-%1.sqlite"_s.arg(round));
        std::vector<std::unique_ptr<QProcess>> processes;
        for (int i = 0; i < kProcesses; ++i) {
            auto &process = processes.emplace_back(std::make_unique<QProcess>());
            process->setProcessEnvironment(m_env);
            process->start(QStringLiteral(BATCHCTL_PATH),
                           {u"budget"_s, u"--set"_s, u"5"_s, u"--db"_s, db});
        }
        for (const auto &process : processes) {
            QVERIFY(process->waitForFinished(60'000));
            QVERIFY2(process->exitStatus() == QProcess::NormalExit && process->exitCode() == 0,
                     process->readAllStandardError().constData());
        }
        QCOMPARE(sqliteScalar(db, u"PRAGMA user_version"_s), bd::store::latestSchemaVersion());
        QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM sqlite_schema WHERE name = 'jobs'"_s), 1);
    }
}

bool TestDatabaseFaults::waitUntilImporting(QProcess &process, const QString &db)
{
    // Importing (state 0) with some rows stored: the moment a crash or a stop meets.
    for (int i = 0; i < 3000 && process.state() == QProcess::Running; ++i) {
        QThread::msleep(5);
        if (!QFileInfo::exists(db))
            continue;
        const bool importing = sqliteScalar(db, u"SELECT COUNT(*) FROM tasks WHERE job_id IN "
                                                "(SELECT id FROM jobs WHERE state = 0)"_s) > 0;
        if (importing)
            return true;
    }
    return false;
}

void TestDatabaseFaults::killDuringImport(const QString &csv, const QString &db)
{
    QProcess process;
    process.setProcessEnvironment(m_env);
    process.start(QStringLiteral(BATCHCTL_PATH), {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s,
                                                  u"--db"_s, db, u"--budget"_s, u"0.000001"_s});
    QVERIFY(process.waitForStarted());
    const bool caught = waitUntilImporting(process, db);
    if (caught)
        ::kill(pid_t(process.processId()), SIGKILL);
    process.waitForFinished();
    QVERIFY2(caught, "the import finished before it could be killed: make the file larger");
    QCOMPARE(process.exitStatus(), QProcess::CrashExit);
}

void TestDatabaseFaults::killedImportIsFinishedByResume()
{
    constexpr int kRows = 300'000;
    const QString csv = writeCsv(u"big-resume.csv"_s, kRows);
    const QString db = m_dir.filePath(u"killed-resume.sqlite"_s);
    killDuringImport(csv, db);
    const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QCOMPARE(status.json().value(u"jobs"_s).toArray().at(0).toObject().value(u"state"_s).toString(),
             u"importing"_s);

    // The budget of a millionth of a dollar pauses the job as soon as it runs (exit 3).
    const BatchctlRun resumed = batchctl({u"resume"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(resumed.exitCode == 3, qPrintable(resumed.describe()));
    QVERIFY2(resumed.err.contains("import of") && resumed.err.contains("was interrupted"),
             qPrintable(resumed.describe()));
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM jobs"_s), 1);
    QCOMPARE(sqliteScalar(db, u"SELECT id FROM jobs"_s), 1);    // the same job, finished in place
    QCOMPARE(sqliteScalar(db, u"SELECT state FROM jobs"_s), 2); // paused (budget), not importing
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM tasks"_s), kRows);
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(DISTINCT row_no) FROM tasks"_s), kRows);
    QCOMPARE(sqliteScalar(db, u"SELECT MAX(row_no) FROM tasks"_s), kRows);
}

void TestDatabaseFaults::killedImportIsFinishedByRunningAgain()
{
    constexpr int kRows = 300'000;
    const QString csv = writeCsv(u"big-again.csv"_s, kRows);
    const QString db = m_dir.filePath(u"killed-again.sqlite"_s);
    killDuringImport(csv, db);
    // A changed file cannot finish the old import: resume removes it and says why.
    const QString moved = csv + u".moved"_s;
    QVERIFY(QFile::rename(csv, moved));
    const BatchctlRun gone = batchctl({u"resume"_s, u"--db"_s, db});
    QVERIFY2(gone.err.contains("cannot be finished") && gone.err.contains("removed"),
             qPrintable(gone.describe()));
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM jobs"_s), 0);
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM tasks"_s), 0);
    QVERIFY(QFile::rename(moved, csv));
    killDuringImport(csv, db);
    const BatchctlRun again = batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s,
                                        u"--db"_s, db, u"--budget"_s, u"0.000001"_s});
    QVERIFY2(again.exitCode == 3, qPrintable(again.describe()));
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM jobs"_s), 1);
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM tasks"_s), kRows);
    QCOMPARE(sqliteScalar(db, u"SELECT COUNT(DISTINCT row_no) FROM tasks"_s), kRows);
}

void TestDatabaseFaults::sigtermDuringImportKeepsNothing()
{
    const QString csv = writeCsv(u"big-term.csv"_s, 300'000);
    const QString db = m_dir.filePath(u"term.sqlite"_s);
    for (int signal : {SIGTERM, SIGINT, SIGHUP}) {
        QProcess process;
        process.setProcessEnvironment(m_env);
        process.start(QStringLiteral(BATCHCTL_PATH),
                      {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db});
        QVERIFY(process.waitForStarted());
        QVERIFY2(waitUntilImporting(process, db), "the import was not seen under way");
        ::kill(pid_t(process.processId()), signal);
        QVERIFY(process.waitForFinished(30'000));
        const QByteArray err = process.readAllStandardError();
        QVERIFY2(process.exitStatus() == QProcess::NormalExit && process.exitCode() == 1,
                 err.constData());
        QVERIFY2(err.contains("interrupted: stopping the import; nothing of it is kept"),
                 err.constData());
        QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM jobs"_s), 0);
        QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM tasks"_s), 0);
    }
}

void TestDatabaseFaults::signalsPauseARun()
{
    // Ctrl-C, a polite kill and a closed terminal all pause (exit 3, resumable), and
    // resume finishes every row once.
    const QString csv = writeCsv(u"signals.csv"_s, 400);
    for (int signal : {SIGTERM, SIGINT, SIGHUP}) {
        const QString db = m_dir.filePath(u"signal-%1.sqlite"_s.arg(signal));
        QProcess process;
        process.setProcessEnvironment(m_env);
        process.start(QStringLiteral(BATCHCTL_PATH),
                      {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db,
                       u"--sim-latency-ms"_s, u"50"_s, u"--concurrency"_s, u"4"_s});
        QVERIFY(process.waitForStarted());
        // Once some answers are stored, the job is running.
        QTRY_VERIFY_WITH_TIMEOUT(
            sqliteScalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s) > 0, 30'000);
        ::kill(pid_t(process.processId()), signal);
        QVERIFY(process.waitForFinished(30'000));
        const QByteArray err = process.readAllStandardError();
        QVERIFY2(process.exitStatus() == QProcess::NormalExit && process.exitCode() == 3,
                 err.constData());
        QVERIFY2(err.contains("interrupted: pausing"), err.constData());
        QCOMPARE(sqliteScalar(db, u"SELECT state FROM jobs"_s), 2); // paused
        QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 1"_s), 0);
        const BatchctlRun resumed = batchctl({u"resume"_s, u"--db"_s, db, u"--json"_s});
        QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.describe()));
        QCOMPARE(sqliteScalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s), 400);
    }
}

QTEST_GUILESS_MAIN(TestDatabaseFaults)
#include "test_databasefaults.moc"
