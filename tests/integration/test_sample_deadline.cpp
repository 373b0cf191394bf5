// A sample before the whole file and a deadline instead of a lane (CLI.md "Structured
// answers, samples and deadlines"), with the real batchctl on the simulator provider and
// a real SQLite database: `run --sample N` imports N rows spread over the input as a job
// of its own and projects the whole input's cost; the whole run after it answers the
// sampled rows from the response cache; `estimate --deadline` plans the lanes; a running
// job with a deadline leaves the batch API once the batch window would overrun it
// (an engine on a fake clock).

#include "api/engine.h"
#include "api/jobsettings.h"
#include "batchctlrun.h"
#include "core/clock.h"

#include <QDateTime>
#include <QJsonArray>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

using namespace Qt::StringLiterals;

class TestSampleDeadline : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void sampleSpreadsRowsAndProjectsTheWholeInput();
    void wholeRunAnswersSampledRowsFromTheCache();
    void sampleUsageErrors();
    void exportSaysWhenItIsPartial();
    void compareShowsAgreementAndCostPerCandidate();
    void estimatePlansLanesForADeadline();
    void deadlineUsageErrors();
    void deadlinePicksThePriority();
    void runningJobLeavesTheBatchApiWhenTheWindowWouldMissIt();

private:
    QString writeCsv(int rows);
    BatchctlRun batchctl(const QStringList &arguments);
    QStringList runArguments(const QStringList &extra) const;
    // Values of one column over the tasks of a job, by row number.
    QList<qint64> column(qint64 jobId, const QString &expression);

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_db;
    QString m_csv;
};

void TestSampleDeadline::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_db = m_dir->filePath(u"jobs.sqlite"_s);
    m_csv = writeCsv(100);
}

QString TestSampleDeadline::writeCsv(int rows)
{
    const QString path = m_dir->filePath(u"reviews.csv"_s);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write("id,review\n");
    for (int row = 1; row <= rows; ++row)
        file.write(QByteArray::number(row) + ",\"parcel " + QByteArray::number(row)
                   + " arrived, box was fine\"\n");
    return path;
}

BatchctlRun TestSampleDeadline::batchctl(const QStringList &arguments)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, isolatedEnvironment(m_dir->path()),
                       m_dir->path(), 60'000);
}

QStringList TestSampleDeadline::runArguments(const QStringList &extra) const
{
    return QStringList{u"run"_s, m_csv, u"--template"_s, u"Classify: {{review}}"_s,
                       u"--db"_s, m_db, u"--json"_s}
           + extra;
}

QList<qint64> TestSampleDeadline::column(qint64 jobId, const QString &expression)
{
    QList<qint64> values;
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"peek"_s);
        database.setDatabaseName(m_db);
        if (database.open()) {
            QSqlQuery query(database);
            query.prepare(u"SELECT %1 FROM tasks WHERE job_id = ? ORDER BY row_no"_s.arg(expression));
            query.addBindValue(jobId);
            if (query.exec())
                while (query.next())
                    values.append(query.value(0).toLongLong());
        }
    }
    QSqlDatabase::removeDatabase(u"peek"_s);
    return values;
}

void TestSampleDeadline::sampleSpreadsRowsAndProjectsTheWholeInput()
{
    const BatchctlRun run = batchctl(runArguments({u"--sample"_s, u"10"_s}));
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    const QJsonObject job = run.json();
    QCOMPARE(job.value(u"tasks"_s).toInteger(), 10);
    QCOMPARE(job.value(u"completed"_s).toInteger(), 10);
    QCOMPARE(job.value(u"sample_of_rows"_s).toInteger(), 100);
    // Rows 1, 11, 21 ... 91: the first row always, then one per tenth of the file.
    const qint64 jobId = job.value(u"job"_s).toInteger();
    QCOMPARE(column(jobId, u"row_no"_s),
             (QList<qint64>{1, 11, 21, 31, 41, 51, 61, 71, 81, 91}));
    // The projection is the sample's real cost per row times the input's rows.
    const double cost = job.value(u"cost_usd"_s).toDouble();
    QVERIFY(cost > 0);
    QVERIFY2(qAbs(job.value(u"projected_cost_usd"_s).toDouble() - cost * 10) < 1e-6,
             qPrintable(run.describe()));
    const qint64 tokens = job.value(u"input_tokens"_s).toInteger()
                          + job.value(u"cached_tokens"_s).toInteger()
                          + job.value(u"output_tokens"_s).toInteger();
    QCOMPARE(job.value(u"projected_tokens"_s).toInteger(), tokens * 10);
    QVERIFY2(run.err.contains("the whole input would cost about"), qPrintable(run.describe()));

    // The same sample again continues that job; it is never the whole input's job.
    const BatchctlRun again = batchctl(runArguments({u"--sample"_s, u"10"_s}));
    QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
    QCOMPARE(again.json().value(u"job"_s).toInteger(), jobId);
}

void TestSampleDeadline::wholeRunAnswersSampledRowsFromTheCache()
{
    const BatchctlRun sample = batchctl(runArguments({u"--sample"_s, u"10"_s}));
    QVERIFY2(sample.exitCode == 0, qPrintable(sample.describe()));
    const double sampleCost = sample.json().value(u"cost_usd"_s).toDouble();
    const double projected = sample.json().value(u"projected_cost_usd"_s).toDouble();

    const BatchctlRun whole = batchctl(runArguments({}));
    QVERIFY2(whole.exitCode == 0, qPrintable(whole.describe()));
    const QJsonObject job = whole.json();
    const qint64 jobId = job.value(u"job"_s).toInteger();
    QVERIFY(jobId != sample.json().value(u"job"_s).toInteger());
    QCOMPARE(job.value(u"tasks"_s).toInteger(), 100);
    QCOMPARE(job.value(u"completed"_s).toInteger(), 100);
    // The sampled rows cost nothing the second time: no attempt, no tokens.
    const QList<qint64> attempts = column(jobId, u"attempts"_s);
    QCOMPARE(attempts.size(), 100);
    for (int row : {1, 11, 21, 31, 41, 51, 61, 71, 81, 91})
        QVERIFY2(attempts.at(row - 1) == 0, qPrintable(u"row %1"_s.arg(row)));
    QCOMPARE(column(jobId, u"COUNT(*) FILTER (WHERE attempts = 0)"_s).value(0), 10);
    const QList<qint64> nanodollars = column(jobId, u"CAST(COALESCE(cost_usd, 0) * 1e9 AS INTEGER)"_s);
    for (int row : {1, 11, 21, 31, 41, 51, 61, 71, 81, 91})
        QCOMPARE(nanodollars.at(row - 1), 0);
    QVERIFY(nanodollars.at(1) > 0); // row 2 was sent
    // The whole run's real cost: the projection minus what the sample paid already, within
    // 25 % (the simulator's answers vary in length).
    const double cost = job.value(u"cost_usd"_s).toDouble();
    QVERIFY2(qAbs(cost + sampleCost - projected) <= 0.25 * projected,
             qPrintable(u"whole %1 + sample %2 vs projected %3"_s.arg(cost).arg(sampleCost).arg(projected)));
}

void TestSampleDeadline::compareShowsAgreementAndCostPerCandidate()
{
    // The simulator answers from the prompt and system prompt alone: two models agree on
    // every row, another system prompt on none.
    const auto sample = [this](const QStringList &extra) {
        const BatchctlRun run = batchctl(runArguments(QStringList{u"--sample"_s, u"10"_s} + extra));
        return run.exitCode == 0 ? run.json().value(u"job"_s).toInteger() : -1;
    };
    const qint64 big = sample({u"--model"_s, u"sim-1"_s});
    const qint64 mini = sample({u"--model"_s, u"sim-1-mini"_s});
    const qint64 terse = sample({u"--model"_s, u"sim-1"_s, u"--system"_s, u"Answer in one word."_s});
    const qint64 wider = sample({u"--model"_s, u"sim-1"_s, u"--sample"_s, u"20"_s});
    QVERIFY(big > 0 && mini > 0 && terse > 0 && wider > 0);

    const auto compare = [this](const QList<qint64> &jobs) {
        QStringList arguments{u"compare"_s};
        for (qint64 job : jobs)
            arguments.append(QString::number(job));
        return batchctl(arguments + QStringList{u"--db"_s, m_db, u"--json"_s});
    };
    const BatchctlRun models = compare({big, mini});
    QVERIFY2(models.exitCode == 0, qPrintable(models.describe()));
    QJsonObject json = models.json();
    QCOMPARE(json.value(u"rows"_s).toInteger(), 10);
    QCOMPARE(json.value(u"compared_rows"_s).toInteger(), 10);
    const QJsonObject agreement = json.value(u"fields"_s).toArray().at(0).toObject();
    QCOMPARE(agreement.value(u"field"_s).toString(), u"output"_s);
    QCOMPARE(agreement.value(u"agreeing"_s).toInteger(), 10);
    QCOMPARE(agreement.value(u"agreement"_s).toDouble(), 1.0);
    // Each candidate with what the whole input would cost on it: the mini model for less.
    const QJsonArray jobs = json.value(u"jobs"_s).toArray();
    QCOMPARE(jobs.size(), 2);
    const double bigCost = jobs.at(0).toObject().value(u"projected_cost_usd"_s).toDouble();
    const double miniCost = jobs.at(1).toObject().value(u"projected_cost_usd"_s).toDouble();
    QVERIFY2(miniCost > 0 && miniCost < bigCost, qPrintable(models.describe()));

    const BatchctlRun three = compare({big, mini, terse});
    QVERIFY2(three.exitCode == 0, qPrintable(three.describe()));
    QCOMPARE(three.json().value(u"fields"_s).toArray().at(0).toObject().value(u"agreeing"_s).toInteger(), 0);
    QCOMPARE(three.json().value(u"jobs"_s).toArray().size(), 3);

    const BatchctlRun words = batchctl({u"compare"_s, QString::number(big), QString::number(mini), u"--db"_s, m_db});
    QVERIFY2(words.exitCode == 0 && words.out.contains("agree on 10 of 10 rows (100.0 %)"),
             qPrintable(words.describe()));

    // Different rows, one job, or an unknown job: usage errors.
    for (const QList<qint64> &wrong : {QList<qint64>{big, wider}, QList<qint64>{big}, QList<qint64>{big, 999}}) {
        const BatchctlRun refused = compare(wrong);
        QVERIFY2(refused.exitCode == 2, qPrintable(refused.describe()));
    }
}

void TestSampleDeadline::exportSaysWhenItIsPartial()
{
    // Two rows the simulator always fails: dead after one retry, the file still has them.
    QFile file(m_csv);
    QVERIFY(file.open(QIODevice::Append));
    file.write("101,\"[[sim:fail]] never\"\n102,\"[[sim:fail]] again\"\n");
    file.close();
    const QString out = m_dir->filePath(u"out.csv"_s);
    const BatchctlRun run =
        batchctl(runArguments({u"--max-retries"_s, u"1"_s, u"--export"_s, out}));
    QVERIFY2(run.exitCode == 4, qPrintable(run.describe()));
    QVERIFY2(run.err.contains("(partial: 2 dead, 0 not answered yet; replay or resume job 1"),
             qPrintable(run.describe()));
    QVERIFY(QFile::exists(out));
    // A complete export says nothing of the kind.
    writeCsv(5);
    const BatchctlRun whole = batchctl(runArguments({u"--export"_s, out}));
    QVERIFY2(whole.exitCode == 0 && whole.err.contains("exported to") && !whole.err.contains("partial"),
             qPrintable(whole.describe()));
}

void TestSampleDeadline::sampleUsageErrors()
{
    for (const QStringList &extra : {QStringList{u"--sample"_s, u"0"_s}, QStringList{u"--sample"_s, u"ten"_s}}) {
        const BatchctlRun run = batchctl(runArguments(extra));
        QVERIFY2(run.exitCode == 2, qPrintable(run.describe()));
        QVERIFY2(run.err.contains("--sample"), qPrintable(run.describe()));
    }
    const BatchctlRun estimate =
        batchctl({u"estimate"_s, m_csv, u"--template"_s, u"{{review}}"_s, u"--sample"_s, u"5"_s});
    QVERIFY2(estimate.exitCode == 2, qPrintable(estimate.describe()));
    QVERIFY(!QFile::exists(m_db));
}

void TestSampleDeadline::estimatePlansLanesForADeadline()
{
    const auto estimate = [this](const QStringList &extra) {
        return batchctl(QStringList{u"estimate"_s, m_csv, u"--template"_s, u"Classify: {{review}}"_s,
                                    u"--json"_s}
                        + extra);
    };
    const BatchctlRun far = estimate({u"--deadline"_s, u"+36h"_s});
    QVERIFY2(far.exitCode == 0, qPrintable(far.describe()));
    QCOMPARE(far.json().value(u"plan"_s).toObject(),
             (QJsonObject{{u"batch-api"_s, 100}, {u"sync"_s, 0}}));
    QCOMPARE(far.json().value(u"meets_deadline"_s).toBool(), true);

    const BatchctlRun near = estimate({u"--deadline"_s, u"+2h"_s});
    QVERIFY2(near.exitCode == 0, qPrintable(near.describe()));
    QCOMPARE(near.json().value(u"plan"_s).toObject(),
             (QJsonObject{{u"batch-api"_s, 0}, {u"sync"_s, 100}}));
    QCOMPARE(near.json().value(u"meets_deadline"_s).toBool(), true);

    // 100 rows at 60 per minute need 100 s; due in a minute.
    const BatchctlRun tight = estimate({u"--deadline"_s, u"+1m"_s, u"--rpm"_s, u"60"_s});
    QVERIFY2(tight.exitCode == 0, qPrintable(tight.describe()));
    QCOMPARE(tight.json().value(u"meets_deadline"_s).toBool(), false);

    const QString iso = QDateTime::currentDateTimeUtc().addDays(3).toString(Qt::ISODate);
    const BatchctlRun absolute = estimate({u"--deadline"_s, iso});
    QVERIFY2(absolute.exitCode == 0, qPrintable(absolute.describe()));
    QCOMPARE(absolute.json().value(u"plan"_s).toObject().value(u"batch-api"_s).toInteger(), 100);
}

void TestSampleDeadline::deadlineUsageErrors()
{
    const QString past = QDateTime::currentDateTimeUtc().addSecs(-3600).toString(Qt::ISODate);
    for (const QStringList &extra :
         {QStringList{u"--deadline"_s, u"tomorrow"_s}, QStringList{u"--deadline"_s, u"+36x"_s},
          QStringList{u"--deadline"_s, u"+2h"_s, u"--priority"_s, u"1"_s},
          QStringList{u"--deadline"_s, u"+2h"_s, u"--mode"_s, u"realtime"_s},
          QStringList{u"--deadline"_s, past}}) {
        const BatchctlRun run = batchctl(runArguments(extra));
        QVERIFY2(run.exitCode == 2, qPrintable(run.describe()));
        QVERIFY2(run.err.contains("deadline"), qPrintable(run.describe()));
    }
    QVERIFY(!QFile::exists(m_db)); // usage errors come before the database is opened
}

void TestSampleDeadline::deadlinePicksThePriority()
{
    const BatchctlRun soon = batchctl(runArguments({u"--deadline"_s, u"+30m"_s}));
    QVERIFY2(soon.exitCode == 0, qPrintable(soon.describe()));
    QCOMPARE(soon.json().value(u"priority"_s).toInt(), 1);
    QVERIFY2(soon.err.contains("note: deadline: due in 30 min"), qPrintable(soon.describe()));
    writeCsv(20); // another input: a new job
    const BatchctlRun later = batchctl(runArguments({u"--deadline"_s, u"+5h"_s}));
    QVERIFY2(later.exitCode == 0, qPrintable(later.describe()));
    QCOMPARE(later.json().value(u"priority"_s).toInt(), 2);
}

void TestSampleDeadline::runningJobLeavesTheBatchApiWhenTheWindowWouldMissIt()
{
    bd::FakeClock clock(QDateTime::currentMSecsSinceEpoch());
    bd::EngineOptions options;
    options.database = m_db;
    options.clock = &clock;
    auto engine = bd::createEngine(options);
    engine->setSnapshotInterval(50);

    bd::JobSpec spec;
    spec.sourcePath = m_csv;
    spec.templateText = u"Classify: {{review}}"_s;
    spec.model = u"sim-1"_s;
    spec.priority = 3;
    spec.mode = u"batch-api"_s;
    // Planned 25 h ahead: the batch API. One provider batch of 10 at a time, polled late,
    // so 90 tasks stay pending outside it.
    spec.settings = QJsonObject{{bd::settingkeys::deadlineMs, clock.nowMs() + 25 * 3'600'000LL},
                                {bd::settingkeys::batchSize, 10},
                                {bd::settingkeys::maxConcurrentBatches, 1},
                                {bd::settingkeys::batchPollMs, 600'000}};
    QSignalSpy imported(engine.get(), &bd::Engine::importFinished);
    engine->open();
    engine->importJob(spec);
    QVERIFY(imported.wait(20'000));
    const auto result = imported.at(0).at(0).value<bd::ImportResult>();
    QVERIFY2(result.ok, qPrintable(result.error));

    QSignalSpy reprioritised(engine.get(), &bd::Engine::jobReprioritised);
    QSignalSpy snapshots(engine.get(), &bd::Engine::snapshotTaken);
    engine->startJob(result.jobId, bd::ProviderConfig{});
    // An hour on, 24 h are left: the batch API still fits, nothing moves.
    clock.advance(3'600'000);
    QVERIFY(snapshots.wait(5'000));
    QTest::qWait(500);
    QVERIFY(reprioritised.isEmpty());
    // Another hour: 23 h left, less than the batch window. The pending tasks go to sync calls.
    clock.advance(3'600'000);
    QTRY_VERIFY_WITH_TIMEOUT(!reprioritised.isEmpty(), 10'000);
    QCOMPARE(reprioritised.at(0).at(0).toLongLong(), result.jobId);
    QCOMPARE(reprioritised.at(0).at(1).toInt(), 2);
    // The sync lane completes them; the 10 inside the provider batch stay there.
    QTRY_VERIFY_WITH_TIMEOUT(column(result.jobId, u"COUNT(*) FILTER (WHERE state = 2)"_s).value(0) >= 90,
                             20'000);
    bool noted = false;
    for (const QList<QVariant> &args : std::as_const(snapshots)) {
        for (const bd::JobSnapshot &job : args.at(0).value<bd::EngineSnapshot>().jobs)
            noted = noted || (job.jobId == result.jobId && job.deadlineNote.contains(u"move to sync"_s));
    }
    QVERIFY(noted);
}

QTEST_MAIN(TestSampleDeadline)
#include "test_sample_deadline.moc"
