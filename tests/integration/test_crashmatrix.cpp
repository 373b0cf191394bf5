// The crash matrix: batchctl killed (SIGKILL, through BATCHDESK_CRASH_AT, see
// engine/core/crashpoint.h) at twenty points across import, sync dispatch, provider batch
// submit and poll, dead-letter replay and export, then recovered the way a user would
// (`resume`, the same `dlq replay`, the same `export`). After each: no row lost, none
// completed twice, every stored answer the provider's for that row, no provider batch
// submitted twice, no job left half-imported, no export file or temporary left behind.

#include "batchctlrun.h"
#include "fakeprovider.h"
#include "sqlitepeek.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

const QString kKey = u"sk-crashmatrix-TEST-0123456789abcdef"_s;
const QString kSystem = u"Label the row in one word."_s;

enum class Scenario
{
    Import, // 20,000 rows on the simulator: the import is long enough to cut
    Sync,   // 300 rows, realtime, against the loopback OpenAI-style server
    Batch,  // 250 rows in provider batches of 100 against the same server
    Replay, // 40 dead-lettered rows replayed with an edited template (simulator)
    Export, // 3,000 finished rows exported to XLSX
};

} // namespace

Q_DECLARE_METATYPE(Scenario)

class TestCrashMatrix final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void crashThenRecover_data();
    void crashThenRecover();

private:
    QProcessEnvironment environment(const QString &crashAt = {}) const;
    BatchctlRun batchctl(const QStringList &arguments, const QString &crashAt = {});
    QString writeCsv(int rows, bool withDeadRows);
    QStringList runArguments(Scenario scenario, const QString &csv) const;
    qint64 scalar(const QString &sql);
    void expectEveryRowCompletedOnce(Scenario scenario, int rows);

    std::unique_ptr<FakeProvider> m_server;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_db;
    QStringList m_texts;
};

void TestCrashMatrix::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_server->options().requiredKey = kKey;
    m_server->options().latencyMs = 2; // answers interleave with the writer's groups
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_db = m_dir->filePath(u"jobs.sqlite"_s);
    m_texts.clear();
}

void TestCrashMatrix::cleanup()
{
    m_server.reset();
    m_dir.reset();
}

QProcessEnvironment TestCrashMatrix::environment(const QString &crashAt) const
{
    QProcessEnvironment env = isolatedEnvironment(m_dir->path());
    env.insert(u"TMPDIR"_s, m_dir->path());
    env.remove(u"OPENAI_BASE_URL"_s);
    env.insert(u"OPENAI_API_KEY"_s, kKey);
    if (crashAt.isEmpty())
        env.remove(u"BATCHDESK_CRASH_AT"_s);
    else
        env.insert(u"BATCHDESK_CRASH_AT"_s, crashAt);
    return env;
}

BatchctlRun TestCrashMatrix::batchctl(const QStringList &arguments, const QString &crashAt)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, environment(crashAt),
                       m_dir->path(), 120'000);
}

QString TestCrashMatrix::writeCsv(int rows, bool withDeadRows)
{
    const QString path = m_dir->filePath(u"rows.csv"_s);
    QFile csv(path);
    if (!csv.open(QIODevice::WriteOnly))
        return {};
    csv.write("id,text,flag\n");
    for (int row = 1; row <= rows; ++row) {
        const QString text =
            u"row %1: the parcel came %2"_s.arg(row).arg(row % 2 ? u"late"_s : u"early"_s);
        m_texts.append(text);
        // Every tenth row is refused by the simulator until a replay leaves the flag out.
        const QByteArray flag = withDeadRows && row % 10 == 0 ? "[[sim:invalid]]" : "";
        csv.write(QByteArray::number(row) + ",\"" + text.toUtf8() + "\"," + flag + "\n");
    }
    return path;
}

QStringList TestCrashMatrix::runArguments(Scenario scenario, const QString &csv) const
{
    QStringList arguments = {
        u"run"_s,  csv,  u"--template"_s, u"Classify: {{text}}{{flag}}"_s, u"--system"_s, kSystem,
        u"--db"_s, m_db, u"--json"_s};
    if (scenario == Scenario::Sync || scenario == Scenario::Batch) {
        arguments << u"--provider"_s << u"openai"_s << u"--model"_s << u"gpt-4.1-mini"_s
                  << u"--base-url"_s << m_server->openAiBaseUrl() << u"--concurrency"_s << u"8"_s;
    }
    if (scenario == Scenario::Sync)
        arguments << u"--mode"_s << u"realtime"_s;
    if (scenario == Scenario::Batch)
        arguments << u"--mode"_s << u"batch-api"_s << u"--batch-size"_s << u"100"_s
                  << u"--batch-poll-ms"_s << u"100"_s;
    if (scenario == Scenario::Replay)
        arguments << u"--max-retries"_s << u"0"_s;
    return arguments;
}

qint64 TestCrashMatrix::scalar(const QString &sql)
{
    return bd::test::sqliteScalar(m_db, sql);
}

void TestCrashMatrix::expectEveryRowCompletedOnce(Scenario scenario, int rows)
{
    QCOMPARE(scalar(u"SELECT COUNT(*) FROM jobs"_s), 1);
    QCOMPARE(scalar(u"SELECT COUNT(*) FROM jobs WHERE state = 0"_s), 0); // none importing
    QCOMPARE(scalar(u"SELECT COUNT(*) FROM tasks"_s), rows);
    QCOMPARE(scalar(u"SELECT COUNT(DISTINCT row_no) FROM tasks WHERE state = 2"_s), rows);
    QCOMPARE(scalar(u"SELECT COUNT(*) FROM tasks WHERE state <> 2 OR lease_owner IS NOT NULL"_s),
             0);
    if (scenario != Scenario::Sync && scenario != Scenario::Batch)
        return;
    QVERIFY(bd::test::withSqlite(m_db, [&](QSqlDatabase &db) {
        QSqlQuery query(db);
        QVERIFY(query.exec(u"SELECT id, row_no, output FROM tasks ORDER BY row_no"_s));
        while (query.next()) {
            const QString taskId = query.value(0).toString();
            const int row = query.value(1).toInt();
            const QString prompt = u"Classify: "_s + m_texts.at(row - 1);
            QVERIFY2(query.value(2).toString() == FakeProvider::answerFor(kSystem, prompt),
                     qPrintable(u"row %1"_s.arg(row)));
            if (scenario == Scenario::Batch) // never submitted in two batches
                QVERIFY2(m_server->batchLinesFor(taskId) == 1,
                         qPrintable(u"row %1 in %2 batches"_s.arg(row).arg(
                             m_server->batchLinesFor(taskId))));
            else
                QVERIFY2(m_server->successesFor(prompt) >= 1, qPrintable(u"row %1"_s.arg(row)));
        }
    }));
}

void TestCrashMatrix::crashThenRecover_data()
{
    QTest::addColumn<Scenario>("scenario");
    QTest::addColumn<QString>("crashAt");
    const auto add = [](Scenario scenario, const char *point) {
        QTest::newRow(point) << scenario << QString::fromLatin1(point);
    };
    add(Scenario::Import, "import.chunk-stored:1");
    add(Scenario::Import, "import.chunk-stored:2");
    add(Scenario::Import, "import.rows-stored:1");
    add(Scenario::Sync, "dispatch.claimed-unsent:30");
    add(Scenario::Sync, "dispatch.sent:60");
    add(Scenario::Sync, "dispatch.answered-unstored:100");
    add(Scenario::Sync, "dispatch.answers-stored:1");
    add(Scenario::Sync, "dispatch.answers-stored:4");
    add(Scenario::Batch, "batch.row-created:2");
    add(Scenario::Batch, "batch.tasks-handed-over:2");
    add(Scenario::Batch, "batch.created-id-unstored:1");
    add(Scenario::Batch, "batch.id-stored:3");
    add(Scenario::Batch, "batch.polled-ended:1");
    add(Scenario::Batch, "batch.results-fetched:2");
    add(Scenario::Batch, "batch.results-stored:1");
    add(Scenario::Batch, "batch.results-stored:3");
    add(Scenario::Replay, "replay.revision-stored:1");
    add(Scenario::Replay, "replay.requeued:1");
    add(Scenario::Export, "export.row-written:1500");
    add(Scenario::Export, "export.rows-written:1");
}

void TestCrashMatrix::crashThenRecover()
{
    QFETCH(Scenario, scenario);
    QFETCH(QString, crashAt);
    const int rows = scenario == Scenario::Import   ? 20'000
                     : scenario == Scenario::Sync   ? 300
                     : scenario == Scenario::Batch  ? 250
                     : scenario == Scenario::Replay ? 400
                                                    : 3'000;
    const QString csv = writeCsv(rows, scenario == Scenario::Replay);
    const QStringList run = runArguments(scenario, csv);
    const bool crashInRun = scenario != Scenario::Replay && scenario != Scenario::Export;

    const BatchctlRun first = batchctl(run, crashInRun ? crashAt : QString());
    if (crashInRun) {
        QVERIFY2(first.status == QProcess::CrashExit && first.err.contains("crash point"),
                 qPrintable(first.describe()));
        const int batchesBefore = m_server->batchesCreated();
        const BatchctlRun resumed = batchctl({u"resume"_s, u"--db"_s, m_db, u"--json"_s});
        QVERIFY2(resumed.status == QProcess::NormalExit && resumed.exitCode == 0,
                 qPrintable(resumed.describe()));
        QVERIFY(m_server->batchesCreated() >= batchesBefore);
        expectEveryRowCompletedOnce(scenario, rows);
        return;
    }

    if (scenario == Scenario::Replay) {
        QVERIFY2(first.exitCode == 4, qPrintable(first.describe()));
        QCOMPARE(scalar(u"SELECT COUNT(*) FROM tasks WHERE state = 3"_s), rows / 10);
        const QStringList replay = {
            u"dlq"_s,  u"replay"_s, u"--job"_s, u"1"_s, u"--template"_s, u"Classify: {{text}}"_s,
            u"--db"_s, m_db};
        const BatchctlRun crashed = batchctl(replay, crashAt);
        QVERIFY2(crashed.status == QProcess::CrashExit, qPrintable(crashed.describe()));
        // The user runs the same command again; whatever the crash left, it ends the job.
        const BatchctlRun again = batchctl(replay);
        QVERIFY2(again.status == QProcess::NormalExit && again.exitCode == 0,
                 qPrintable(again.describe()));
        expectEveryRowCompletedOnce(scenario, rows);
        return;
    }

    // Export: a finished job, the export cut short, then the same export again.
    QVERIFY2(first.exitCode == 0, qPrintable(first.describe()));
    const QString out = m_dir->filePath(u"out/answers.xlsx"_s);
    QVERIFY(QDir().mkpath(QFileInfo(out).absolutePath()));
    const QStringList exportArguments = {u"export"_s, u"1"_s, u"--out"_s, out, u"--db"_s, m_db};
    const BatchctlRun crashed = batchctl(exportArguments, crashAt);
    QVERIFY2(crashed.status == QProcess::CrashExit, qPrintable(crashed.describe()));
    QVERIFY(!QFileInfo::exists(out));
    QCOMPARE(QDir(QFileInfo(out).absolutePath())
                 .entryList(QDir::Files | QDir::Hidden | QDir::System)
                 .size(),
             0);
    const BatchctlRun again = batchctl(exportArguments);
    QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
    QVERIFY(QFileInfo(out).size() > 0);
    QCOMPARE(
        QDir(QFileInfo(out).absolutePath()).entryList(QDir::Files | QDir::Hidden | QDir::System),
        QStringList{u"answers.xlsx"_s});
    expectEveryRowCompletedOnce(scenario, rows);
}

QTEST_GUILESS_MAIN(TestCrashMatrix)
#include "test_crashmatrix.moc"
