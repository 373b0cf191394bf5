// Replaying dead-lettered tasks through the engine facade: by error class with an edited
// template, by ids with an edited system prompt; replayed tasks render with their new
// revision, the rest keep the job's template, and the response cache never answers a
// replayed task with an answer to the old template. Real SQLite, the simulator.

#include "api/engine.h"
#include "ingest/exportwriter.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <QFile>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::providers::SimulatorProvider;

class TestReplay : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void replayWithEditedTemplate();
};

void TestReplay::replayWithEditedTemplate()
{
    QTemporaryDir dir;
    const QString csvPath = dir.filePath(u"rows.csv"_s);
    {
        QFile csv(csvPath);
        QVERIFY(csv.open(QIODevice::WriteOnly));
        // Rows 1 and 2 ask the same; 3 and 5 are refused as invalid requests.
        csv.write("id,text\n1,alpha\n2,alpha\n3,beta [[sim:invalid]]\n4,gamma\n5,delta [[sim:invalid]]\n");
    }
    bd::EngineOptions options;
    options.database = dir.filePath(u"replay.sqlite"_s);
    auto engineOwner = bd::createEngine(options);
    bd::Engine &engine = *engineOwner;
    QSignalSpy opened(&engine, &bd::Engine::opened);
    engine.open();
    QTRY_COMPARE(opened.count(), 1);
    bd::JobSpec spec;
    spec.sourcePath = csvPath;
    spec.templateText = u"Echo {{text}}"_s;
    spec.model = u"sim-1"_s;
    spec.priority = 2;
    spec.mode = u"grouped"_s;
    spec.settings = {{u"batch_max_wait_ms"_s, 0}};
    QSignalSpy imported(&engine, &bd::Engine::importFinished);
    engine.importJob(spec);
    QTRY_COMPARE(imported.count(), 1);
    const qint64 jobId = imported.at(0).at(0).value<bd::ImportResult>().jobId;
    QSignalSpy stopped(&engine, &bd::Engine::jobStopped);
    engine.startJob(jobId, bd::ProviderConfig{});
    QTRY_COMPARE(stopped.count(), 1);

    bd::store::SqliteStore reader(options.database);
    QCOMPARE(reader.taskCounts(jobId).dead, 2);
    QList<qint64> taskIds; // by row
    reader.forEachExportRow(jobId, [&](const bd::ingest::ExportRow &row) {
        taskIds.append(row.taskId);
        return true;
    });
    QCOMPARE(taskIds.size(), 5);

    // A placeholder the job does not have is refused, and nothing moves.
    QSignalSpy acted(&engine, &bd::Engine::tasksActedOn);
    bd::ReplayRequest bad;
    bad.jobId = jobId;
    bad.errorClass = u"invalid_request"_s;
    bad.templateText = u"Echo {{nope}}"_s;
    engine.replayDead(bad);
    QTRY_COMPARE(acted.count(), 1);
    QCOMPARE(acted.at(0).at(1).toInt(), -1);
    QVERIFY2(acted.at(0).at(2).toString().contains(u"unknown placeholder {{nope}}"_s),
             qPrintable(acted.at(0).at(2).toString()));
    QVERIFY(acted.at(0).at(2).toString().contains(u"id, text"_s));
    QCOMPARE(reader.taskCounts(jobId).dead, 2);

    // By error class, with a template that no longer carries the marker.
    bd::ReplayRequest byClass;
    byClass.jobId = jobId;
    byClass.errorClass = u"invalid_request"_s;
    byClass.templateText = u"Echo row {{id}}"_s;
    engine.replayDead(byClass);
    QTRY_COMPARE(acted.count(), 2);
    QCOMPARE(acted.at(1).at(1).toInt(), 2); // changed
    QCOMPARE(acted.at(1).at(3).toInt(), 0); // skipped

    // Row 2 took row 1's answer from the cache; say it had died of a server error instead.
    // Replayed with a new system prompt, its prompt text is the same as row 1's: the cache
    // must not hand it the answer given under the old system prompt.
    {
        QSqlDatabase side = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"replay-side"_s);
        side.setDatabaseName(options.database);
        QVERIFY(side.open());
        QSqlQuery query(side);
        QVERIFY(query.exec(u"UPDATE tasks SET state = 3, output = NULL, error_class = 'server_error', "
                           "attempts = 4 WHERE id = %1"_s.arg(taskIds.at(1))));
        side.close();
    }
    QSqlDatabase::removeDatabase(u"replay-side"_s);
    bd::ReplayRequest byIds;
    byIds.jobId = jobId;
    byIds.taskIds = {taskIds.at(1), taskIds.at(3)}; // row 4 completed: skipped
    byIds.systemPrompt = u"Answer in French"_s;
    engine.replayDead(byIds);
    QTRY_COMPARE(acted.count(), 3);
    QCOMPARE(acted.at(2).at(1).toInt(), 1);
    QCOMPARE(acted.at(2).at(3).toInt(), 1);

    engine.startJob(jobId, bd::ProviderConfig{});
    QTRY_COMPARE(stopped.count(), 2);
    QCOMPARE(stopped.at(1).at(1).value<bd::JobState>(), bd::JobState::Finished);

    const QStringList expected = {
        SimulatorProvider::answerFor(QString(), u"Echo alpha"_s),
        SimulatorProvider::answerFor(u"Answer in French"_s, u"Echo alpha"_s),
        SimulatorProvider::answerFor(QString(), u"Echo row 3"_s),
        SimulatorProvider::answerFor(QString(), u"Echo gamma"_s),
        SimulatorProvider::answerFor(QString(), u"Echo row 5"_s),
    };
    QVERIFY(expected.at(0) != expected.at(1));
    int row = 0;
    reader.forEachExportRow(jobId, [&](const bd::ingest::ExportRow &r) {
        [&] {
            QCOMPARE(r.status, u"completed"_s);
            QCOMPARE(r.output, expected.at(row));
            // Each row sent once since its last reset (row 2 not answered from the cache).
            QCOMPARE(r.attempts, 1);
        }();
        ++row;
        return true;
    });
    QCOMPARE(row, 5);
}

QTEST_GUILESS_MAIN(TestReplay)
#include "test_replay.moc"
