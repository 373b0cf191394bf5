// A real full disk under the database, through the real batchctl: a small tmpfs the test
// mounts (root only; skipped with the reason otherwise) and fills. An import that does not
// fit exits 1 (not 2, the input is fine) and leaves nothing half-done that resume cannot
// settle; a drain that runs out of room pauses the job (exit 3, alert disk_full) and resumes
// once there is room, every task completed exactly once and the file sound.

#include "batchctlrun.h"
#include "sqlitepeek.h"
#include "tinytmpfs.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;

class TestDiskFull : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void importThatDoesNotFitExitsOne();
    void drainThatDoesNotFitPausesAndResumes();
    void readOnlyDatabaseExitsOne();

private:
    BatchctlRun batchctl(const QStringList &arguments, int timeoutMs = 120'000);
    QString writeCsv(const QString &name, int rows);
    // Leaves about `room` bytes free on the tmpfs (a filler file takes the rest).
    void leaveRoom(bd::test::TinyTmpfs &disk, qint64 room);

    QTemporaryDir m_dir;
    QProcessEnvironment m_env;
};

void TestDiskFull::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_env = isolatedEnvironment(m_dir.path());
}

BatchctlRun TestDiskFull::batchctl(const QStringList &arguments, int timeoutMs)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, m_env, m_dir.path(), timeoutMs);
}

QString TestDiskFull::writeCsv(const QString &name, int rows)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write("id,text\n");
    for (int i = 1; i <= rows; ++i)
        file.write("R" + QByteArray::number(i) + ",row " + QByteArray::number(i) +
                   " with enough words in it to make an answer of a hundred bytes or so\n");
    return path;
}

void TestDiskFull::leaveRoom(bd::test::TinyTmpfs &disk, qint64 room)
{
    const QString filler = disk.path() + u"/filler"_s;
    QFile::remove(filler);
    QVERIFY(disk.fill(u"filler"_s) > 0);
    QFile file(filler);
    QVERIFY(file.open(QIODevice::ReadWrite));
    QVERIFY(file.resize(qMax<qint64>(0, file.size() - room)));
}

void TestDiskFull::importThatDoesNotFitExitsOne()
{
    bd::test::TinyTmpfs disk(m_dir.filePath(u"import-disk"_s), 32 * 1024 * 1024);
    if (!disk.isMounted())
        QSKIP(qPrintable(disk.skipReason()));
    const QString db = disk.path() + u"/jobs.sqlite"_s;
    // The database exists (schema, a first job), then the disk fills up.
    const QString small = writeCsv(u"import-small.csv"_s, 10);
    QCOMPARE(
        batchctl({u"run"_s, small, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db}).exitCode, 0);
    leaveRoom(disk, 256 * 1024);

    const QString big = writeCsv(u"import-big.csv"_s, 60'000); // ~6 MB of rows
    const BatchctlRun full =
        batchctl({u"run"_s, big, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db});
    QVERIFY2(full.exitCode == 1, qPrintable(full.describe()));
    QVERIFY2(full.err.contains(QByteArray(db.toUtf8() + ": the disk is full")),
             qPrintable(full.describe()));

    // Room again: resume settles whatever the refused import left (nothing, or a job still
    // importing, which it finishes), and running the file again imports it whole once.
    QFile::remove(disk.path() + u"/filler"_s);
    const BatchctlRun resumed = batchctl({u"resume"_s, u"--db"_s, db});
    QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.describe()));
    const BatchctlRun again =
        batchctl({u"run"_s, big, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db});
    QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
    QCOMPARE(bd::test::sqliteScalar(db, u"SELECT COUNT(*) FROM jobs"_s), 2);
    QCOMPARE(
        bd::test::sqliteScalar(db, u"SELECT COUNT(*) FROM tasks WHERE job_id = 2 AND state = 2"_s),
        60'000);
    const BatchctlRun check = batchctl({u"check"_s, u"--db"_s, db});
    QVERIFY2(check.exitCode == 0, qPrintable(check.describe()));
}

void TestDiskFull::drainThatDoesNotFitPausesAndResumes()
{
    bd::test::TinyTmpfs disk(m_dir.filePath(u"drain-disk"_s), 8 * 1024 * 1024);
    if (!disk.isMounted())
        QSKIP(qPrintable(disk.skipReason()));
    constexpr int kRows = 6000;
    const QString db = disk.path() + u"/jobs.sqlite"_s;
    const QString csv = writeCsv(u"drain.csv"_s, kRows);
    // Imported, but held back by a global cap of a millionth of a dollar.
    const BatchctlRun imported = batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s,
                                           u"--db"_s, db, u"--global-budget"_s, u"0.000001"_s});
    QVERIFY2(imported.exitCode == 3, qPrintable(imported.describe()));
    QCOMPARE(bd::test::sqliteScalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 0"_s), kRows);

    leaveRoom(disk, 384 * 1024);
    const BatchctlRun full =
        batchctl({u"resume"_s, u"--db"_s, db, u"--global-budget"_s, u"1000"_s});
    QVERIFY2(full.exitCode == 3, qPrintable(full.describe()));
    QVERIFY2(full.err.contains("disk_full") && full.err.contains("is full"),
             qPrintable(full.describe()));

    QFile::remove(disk.path() + u"/filler"_s);
    const BatchctlRun resumed = batchctl({u"resume"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.describe()));
    QCOMPARE(resumed.json().value(u"completed"_s).toInt(), kRows);
    QCOMPARE(bd::test::sqliteScalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s), kRows);
    QCOMPARE(
        bd::test::sqliteScalar(db, u"SELECT COUNT(DISTINCT row_no) FROM tasks WHERE state = 2"_s),
        kRows);
    const BatchctlRun check = batchctl({u"check"_s, u"--db"_s, db});
    QVERIFY2(check.exitCode == 0, qPrintable(check.describe()));
}

void TestDiskFull::readOnlyDatabaseExitsOne()
{
    bd::test::TinyTmpfs disk(m_dir.filePath(u"readonly-disk"_s), 8 * 1024 * 1024);
    if (!disk.isMounted())
        QSKIP(qPrintable(disk.skipReason()));
    const QString db = disk.path() + u"/jobs.sqlite"_s;
    const QString csv = writeCsv(u"readonly.csv"_s, 20);
    QCOMPARE(batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db}).exitCode,
             0);
    // Read-only for everyone, root included (file modes do not stop root).
    QCOMPARE(QProcess::execute(u"mount"_s, {u"-o"_s, u"remount,ro"_s, disk.path()}), 0);
    const QString other = writeCsv(u"readonly-more.csv"_s, 5);
    for (const QStringList &arguments :
         {QStringList{u"run"_s, other, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db},
          QStringList{u"status"_s, u"--db"_s, db}, QStringList{u"resume"_s, u"--db"_s, db}}) {
        const BatchctlRun refused = batchctl(arguments);
        QVERIFY2(refused.exitCode == 1, qPrintable(refused.describe())); // not 2: no usage error
        QVERIFY2(refused.err.contains(QByteArray(db.toUtf8() + ": cannot use the database: the "
                                                               "file or its folder is read-only")),
                 qPrintable(refused.describe()));
    }
}

QTEST_GUILESS_MAIN(TestDiskFull)
#include "test_diskfull.moc"
