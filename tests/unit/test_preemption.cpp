// Preemption across jobs: urgent (priority 1) work holds lower-priority sync work back,
// which resumes where it stopped, unharmed. Runs the real engine facade on the simulator.

#include "engine.h"
#include "ingest/exportwriter.h"
#include "store/sqlitestore.h"

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;

class TestPreemption : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void urgentJobOvertakesBulkJob();

private:
    static QString writeCsv(const QTemporaryDir &dir, const QString &name, int rows)
    {
        const QString path = dir.filePath(name);
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly))
            return {};
        file.write("id,text\n");
        for (int i = 0; i < rows; ++i)
            file.write(QByteArray::number(i) + ",row " + QByteArray::number(i) + " of " + name.toUtf8() + '\n');
        return path;
    }
};

void TestPreemption::urgentJobOvertakesBulkJob()
{
    QTemporaryDir dir;
    bd::Engine::Options options;
    options.databasePath = dir.filePath(u"preempt.sqlite"_s);
    options.runner.concurrency = 8;
    bd::Engine engine(options);
    QSignalSpy opened(&engine, &bd::Engine::opened);
    engine.open();
    QTRY_COMPARE(opened.count(), 1);
    QVERIFY(opened.at(0).at(0).toBool());

    QSignalSpy imported(&engine, &bd::Engine::importFinished);
    QSignalSpy stopped(&engine, &bd::Engine::jobStopped);
    const auto importJob = [&](const QString &csv, int priority) -> qint64 {
        bd::JobSpec spec;
        spec.sourcePath = csv;
        spec.templateText = u"Echo {{text}}"_s;
        spec.model = u"sim-1"_s;
        spec.priority = priority;
        spec.mode = u"grouped"_s; // bulk work on the sync lane: the one preemption applies to
        const int before = int(imported.count());
        engine.importJob(spec);
        if (!QTest::qWaitFor([&] { return imported.count() > before; }, 20'000))
            return 0;
        return imported.last().at(0).value<bd::ImportResult>().jobId;
    };
    bd::providers::ProviderConfig simulator;
    simulator.settings = QJsonObject{{u"latency_ms"_s, 10}};

    const qint64 bulk = importJob(writeCsv(dir, u"bulk.csv"_s, 3'000), 3);
    QVERIFY(bulk > 0);
    engine.startJob(bulk, simulator);
    bd::store::SqliteStore reader(options.databasePath, u"preempt-reader"_s);
    QTRY_VERIFY_WITH_TIMEOUT(reader.taskCounts(bulk).completed >= 100, 20'000);

    const qint64 urgent = importJob(writeCsv(dir, u"urgent.csv"_s, 1'000), 1);
    QVERIFY(urgent > 0);
    const qint64 bulkBeforeUrgent = reader.taskCounts(bulk).completed;
    engine.startJob(urgent, simulator);
    QTRY_VERIFY_WITH_TIMEOUT(!stopped.isEmpty(), 30'000);
    // The urgent job ended first, while most of the bulk job was still waiting.
    QCOMPARE(stopped.at(0).at(0).toLongLong(), urgent);
    QCOMPARE(stopped.at(0).at(1).value<bd::JobState>(), bd::JobState::Finished);
    const bd::TaskCounts bulkAtUrgentEnd = reader.taskCounts(bulk);
    QVERIFY2(bulkAtUrgentEnd.completed < 2'000, qPrintable(QString::number(bulkAtUrgentEnd.completed)));

    // While the urgent job ran (about 1.3 s at 8 in flight and 10 ms each), the bulk job
    // sent nothing new: it only finished what it had in flight, plus what its last write
    // group had not yet stored when the urgent job began. Unheld, it would have done ~1,000.
    QCOMPARE(reader.taskCounts(urgent).completed, qint64(1'000));
    const qint64 bulkDuringUrgent = bulkAtUrgentEnd.completed - bulkBeforeUrgent;
    QVERIFY2(bulkDuringUrgent < 150, qPrintable(QString::number(bulkDuringUrgent)));

    // The bulk job resumes where it stopped and finishes every row exactly once, with no
    // attempt charged for the tasks it handed back.
    QTRY_COMPARE_WITH_TIMEOUT(stopped.count(), 2, 60'000);
    QCOMPARE(stopped.at(1).at(0).toLongLong(), bulk);
    const bd::TaskCounts done = reader.taskCounts(bulk);
    QCOMPARE(done.completed, qint64(3'000));
    int maxAttempts = 0;
    reader.forEachExportRow(bulk, [&](const bd::ingest::ExportRow &row) {
        maxAttempts = qMax(maxAttempts, row.attempts);
        return true;
    });
    QCOMPARE(maxAttempts, 1);
}

QTEST_GUILESS_MAIN(TestPreemption)
#include "test_preemption.moc"
