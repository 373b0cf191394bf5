// JobRunner end to end on a real SqliteStore with the in-process simulator: every row
// answered exactly once, invalid rows dead at once, failing rows dead after 1 + maxRetries
// tries that respect their backoff, quota pauses, stop() hands unsent work back, 429s are
// free, and leases of a vanished worker come back. Time is a FakeClock; the event loop is
// driven with QTRY_* (which only polls, it never decides what time it is).

#include "core/clock.h"
#include "cost/pricetable.h"
#include "dispatch/jobrunner.h"
#include "ingest/exportwriter.h"
#include "ingest/prompttemplate.h"
#include "jobio.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <QFile>
#include <QHash>
#include <QSet>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <functional>
#include <memory>

using namespace Qt::StringLiterals;
using bd::JobState;
using bd::dispatch::JobRunner;
using bd::providers::ChatReply;
using bd::providers::ChatRequest;
using bd::providers::SimulatorProvider;

Q_DECLARE_METATYPE(bd::JobState)

namespace {

const QString kSystem = u"You label product reviews."_s;
const QString kTemplate = u"Review {{id}} ({{product}}): {{text}}"_s;
const QStringList kHeader = {u"id"_s, u"product"_s, u"text"_s};

struct Send
{
    qint64 taskId = 0;
    int attempt = 0;
    qint64 atMs = 0;
    qint64 notBeforeMs = -1; // the task's not_before in the store when it was sent
    QString prompt;
};

// What went over the wire, shared between a test and the provider the runner owns.
struct WireLog
{
    QList<Send> sends;
    QList<ChatReply> replies;
    std::function<void(const ChatReply &)> onReply; // called after the runner saw the reply

    QList<Send> sendsOf(qint64 taskId) const
    {
        QList<Send> result;
        for (const Send &send : sends) {
            if (send.taskId == taskId)
                result.append(send);
        }
        return result;
    }
    int okReplies() const
    {
        return int(std::count_if(replies.cbegin(), replies.cend(),
                                 [](const ChatReply &r) { return r.ok(); }));
    }
};

// A SimulatorProvider with a tap: records every request (with the task's not_before read
// through an independent connection) and every reply.
class TappedProvider final : public bd::providers::Provider
{
public:
    TappedProvider(const bd::ProviderConfig &config, bd::Clock *clock, WireLog *log,
                   const QString &databasePath)
        : m_inner(config, clock)
        , m_clock(clock)
        , m_log(log)
    {
        m_db = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"tap-%1"_s.arg(++s_instances));
        m_db.setDatabaseName(databasePath);
        m_db.open();
        QObject::connect(&m_inner, &bd::providers::Provider::replied, this,
                         [this](const ChatReply &reply) {
                             m_log->replies.append(reply);
                             Q_EMIT replied(reply);
                             if (m_log->onReply)
                                 m_log->onReply(reply);
                         });
    }
    ~TappedProvider() override
    {
        const QString name = m_db.connectionName();
        m_db.close();
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(name);
    }

    QString id() const override { return m_inner.id(); }
    QString displayName() const override { return m_inner.displayName(); }
    bool isSimulated() const override { return true; }
    QString defaultModel() const override { return m_inner.defaultModel(); }
    QStringList knownModels() const override { return m_inner.knownModels(); }
    int inFlight() const override { return m_inner.inFlight(); }
    void cancelAll() override { m_inner.cancelAll(); }
    void send(const ChatRequest &request) override
    {
        Send send;
        send.taskId = request.taskId;
        send.attempt = request.attempt;
        send.atMs = m_clock->nowMs();
        send.prompt = request.prompt;
        QSqlQuery query(m_db);
        query.prepare(u"SELECT not_before, state FROM tasks WHERE id = ?"_s);
        query.addBindValue(request.taskId);
        if (query.exec() && query.next()) {
            send.notBeforeMs = query.value(0).toLongLong();
            if (query.value(1).toInt() != int(bd::TaskState::Leased))
                qWarning("task %lld sent while not leased", request.taskId);
        }
        m_log->sends.append(send);
        m_inner.send(request);
    }

private:
    static inline int s_instances = 0;
    SimulatorProvider m_inner;
    bd::Clock *m_clock;
    WireLog *m_log;
    QSqlDatabase m_db;
};

// One job on one database with a fake clock and a runner to drive it.
class Harness
{
public:
    explicit Harness(const QList<QStringList> &rows, int maxRetries = 3)
    {
        m_path = m_dir.filePath(u"queue.sqlite"_s);
        m_store = std::make_unique<bd::store::SqliteStore>(m_path);
        if (!m_store->isOpen()) {
            m_error = m_store->errorString();
            return;
        }
        const QString csv = m_dir.filePath(u"input.csv"_s);
        QFile file(csv);
        if (!file.open(QIODevice::WriteOnly)) {
            m_error = file.errorString();
            return;
        }
        QByteArray data = kHeader.join(u',').toUtf8() + "\n";
        for (const QStringList &row : rows) {
            QStringList quoted;
            for (QString value : row)
                quoted.append(u"\""_s + value.replace(u"\""_s, u"\"\""_s) + u"\""_s);
            data += quoted.join(u',').toUtf8() + "\n";
        }
        file.write(data);
        file.close();

        bd::JobSpec spec;
        spec.sourcePath = csv;
        spec.templateText = kTemplate;
        spec.systemPrompt = kSystem;
        spec.provider = u"simulator"_s;
        spec.model = u"sim-1"_s;
        spec.maxRetries = maxRetries;
        const bd::ImportResult imported = bd::importJob(*m_store, spec, clock.nowMs());
        if (!imported.ok) {
            m_error = imported.error;
            return;
        }
        m_jobId = imported.jobId;
        m_prices = bd::cost::PriceTable::builtIn();
        m_template = bd::ingest::PromptTemplate(kTemplate);
        QString error;
        m_template.bind(kHeader, &error);
        m_rows = rows;
    }

    bool ok() const { return m_jobId > 0; }
    QString error() const { return m_error; }
    qint64 jobId() const { return m_jobId; }
    bd::store::SqliteStore &store() { return *m_store; }
    QString databasePath() const { return m_path; }

    QString expectedAnswer(int rowIndex) const
    {
        return SimulatorProvider::answerFor(kSystem, m_template.render(m_rows.at(rowIndex)));
    }

    JobRunner *startRunner(const QJsonObject &providerSettings = {},
                           std::function<void(JobRunner::Options &)> tweak = {})
    {
        JobRunner::Options options;
        options.concurrency = 16;
        options.claimBatch = 64;
        options.flushIntervalMs = 5;
        options.progressIntervalMs = 20;
        options.idlePollMs = 5;
        if (tweak)
            tweak(options);
        bd::ProviderConfig config;
        config.settings = providerSettings;
        auto provider = std::make_unique<TappedProvider>(config, &clock, &log, m_path);
        const auto job = m_store->job(m_jobId);
        m_runner = std::make_unique<JobRunner>(m_store.get(), std::move(provider), *job, m_prices,
                                               &clock, u"localhost:1:test%1"_s.arg(++m_runs),
                                               options);
        finished = std::make_unique<QSignalSpy>(m_runner.get(), &JobRunner::finished);
        failed = std::make_unique<QSignalSpy>(m_runner.get(), &JobRunner::failed);
        alerts = std::make_unique<QSignalSpy>(m_runner.get(), &JobRunner::alertRaised);
        progressed = std::make_unique<QSignalSpy>(m_runner.get(), &JobRunner::progressed);
        m_runner->start();
        return m_runner.get();
    }
    JobRunner *runner() { return m_runner.get(); }

    QList<bd::ingest::ExportRow> exportRows()
    {
        QList<bd::ingest::ExportRow> rows;
        m_store->forEachExportRow(m_jobId, [&](const bd::ingest::ExportRow &row) {
            rows.append(row);
            return true;
        });
        return rows;
    }

    bd::FakeClock clock;
    WireLog log;
    std::unique_ptr<QSignalSpy> finished;
    std::unique_ptr<QSignalSpy> failed;
    std::unique_ptr<QSignalSpy> alerts;
    std::unique_ptr<QSignalSpy> progressed;

private:
    QTemporaryDir m_dir;
    QString m_path;
    QString m_error;
    std::unique_ptr<bd::store::SqliteStore> m_store;
    qint64 m_jobId = 0;
    bd::cost::PriceTable m_prices;
    bd::ingest::PromptTemplate m_template;
    QList<QStringList> m_rows;
    std::unique_ptr<JobRunner> m_runner;
    int m_runs = 0;
};

QList<QStringList> makeRows(int n, const QHash<int, QString> &markers = {})
{
    static const char *const products[] = {"kettle", "desk", "lamp", "backpack", "keyboard"};
    QList<QStringList> rows;
    for (int i = 0; i < n; ++i) {
        QString text = u"Row %1 says, \"fine\" — %2 stars"_s.arg(i + 1).arg(i % 5 + 1);
        if (markers.contains(i))
            text += u" "_s + markers.value(i);
        rows.append({u"T%1"_s.arg(i + 1, 4, 10, QLatin1Char('0')),
                     QString::fromLatin1(products[i % 5]), text});
    }
    return rows;
}

} // namespace

class TestDispatcher : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void everyRowCompletesExactlyOnce();
    void invalidRowsAreDeadAtOnce();
    void failingRowsDieAfterTheirRetries();
    void quotaPausesTheJob();
    void stopReleasesUnsentTasks_data();
    void stopReleasesUnsentTasks();
    void rateLimitIsNotCharged();
    void leasesOfAVanishedWorkerComeBack();
    void pacedRunnerLeasesOnlyWhatItSendsSoon();
    void anUnknownTemplateRevisionSaysWhichOne();
};

void TestDispatcher::initTestCase()
{
    qRegisterMetaType<bd::JobState>();
    qRegisterMetaType<bd::TaskCounts>();
    qRegisterMetaType<bd::Usage>();
    qRegisterMetaType<bd::providers::ChatReply>();
}

void TestDispatcher::everyRowCompletesExactlyOnce()
{
    constexpr int kRows = 500;
    Harness h(makeRows(kRows));
    QVERIFY2(h.ok(), qPrintable(h.error()));
    h.startRunner();
    QTRY_COMPARE_WITH_TIMEOUT(h.finished->count(), 1, 30'000);
    QCOMPARE(h.failed->count(), 0);
    const QList<QVariant> args = h.finished->at(0);
    QCOMPARE(args.at(0).toLongLong(), h.jobId());
    QCOMPARE(args.at(1).value<JobState>(), JobState::Finished);
    QVERIFY(!h.runner()->isRunning());

    const bd::TaskCounts counts = h.store().taskCounts(h.jobId());
    QCOMPARE(counts.completed, kRows);
    QCOMPARE(counts.total(), kRows);
    QCOMPARE(h.store().job(h.jobId())->state, JobState::Finished);
    QVERIFY(h.store().leaseOwners().isEmpty());

    // Exactly one request per task, each its first attempt, each while leased.
    QCOMPARE(h.log.sends.size(), kRows);
    QSet<qint64> sentTasks;
    for (const Send &send : std::as_const(h.log.sends)) {
        QCOMPARE(send.attempt, 1);
        sentTasks.insert(send.taskId);
    }
    QCOMPARE(sentTasks.size(), kRows);

    const QList<bd::ingest::ExportRow> rows = h.exportRows();
    QCOMPARE(rows.size(), kRows);
    const QList<QStringList> input = makeRows(kRows);
    QSet<qint64> taskIds;
    double cost = 0;
    for (int i = 0; i < kRows; ++i) {
        const bd::ingest::ExportRow &row = rows.at(i);
        QCOMPARE(row.inputValues, input.at(i));
        QCOMPARE(row.status, u"completed"_s);
        if (row.output != h.expectedAnswer(i))
            QFAIL(qPrintable(u"row %1: %2"_s.arg(i + 1).arg(row.output)));
        QCOMPARE(row.attempts, 1);
        QCOMPARE(row.model, u"sim-1"_s);
        QVERIFY(row.inputTokens > 0 && row.outputTokens > 0);
        QVERIFY(row.costUsd.has_value() && *row.costUsd > 0);
        QVERIFY(row.error.isEmpty());
        cost += *row.costUsd;
        taskIds.insert(row.taskId);
    }
    QCOMPARE(taskIds.size(), kRows);
    QCOMPARE(taskIds, sentTasks);

    // The last progress report is the final state.
    QVERIFY(h.progressed->count() >= 1);
    const QList<QVariant> last = h.progressed->constLast();
    QCOMPARE(last.at(1).value<bd::TaskCounts>().completed, kRows);
    QVERIFY(qAbs(last.at(3).toDouble() - cost) < 1e-9);
    QVERIFY(qAbs(h.store().job(h.jobId())->costUsd - cost) < 1e-9);
}

void TestDispatcher::invalidRowsAreDeadAtOnce()
{
    const QHash<int, QString> markers = {{4, u"[[sim:invalid]]"_s}, {16, u"[[sim:invalid]]"_s}};
    Harness h(makeRows(30, markers), 3);
    QVERIFY2(h.ok(), qPrintable(h.error()));
    h.startRunner();
    QTRY_COMPARE_WITH_TIMEOUT(h.finished->count(), 1, 20'000);
    QCOMPARE(h.finished->at(0).at(1).value<JobState>(), JobState::Finished);

    const bd::TaskCounts counts = h.store().taskCounts(h.jobId());
    QCOMPARE(counts.completed, 28);
    QCOMPARE(counts.dead, 2);
    QCOMPARE(counts.unfinished(), 0);

    const QList<bd::DeadTask> dead = h.store().deadTasks(h.jobId(), 100, 0);
    QCOMPARE(dead.size(), 2);
    QCOMPARE(dead.at(0).rowNumber, 5);
    QCOMPARE(dead.at(1).rowNumber, 17);
    for (const bd::DeadTask &task : dead) {
        QCOMPARE(task.attempts, 1);
        QCOMPARE(task.errorClass, u"invalid_request"_s);
        QVERIFY2(task.errorMessage.contains(u"[[sim:invalid]]"_s), qPrintable(task.errorMessage));
        QCOMPARE(h.log.sendsOf(task.id).size(), 1); // never retried
        const QList<bd::AttemptRecord> history = h.store().attempts(task.id);
        QCOMPARE(history.size(), 1);
        QCOMPARE(history.at(0).httpStatus, 400);
        QCOMPARE(history.at(0).outcome, u"invalid_request"_s);
        QCOMPARE(history.at(0).attemptNo, 1);
    }
    QCOMPARE(h.log.sends.size(), 30);
    const QList<bd::ingest::ExportRow> rows = h.exportRows();
    QCOMPARE(rows.at(4).status, u"dead"_s);
    QVERIFY(rows.at(4).error.startsWith(u"invalid_request: "_s));
    QCOMPARE(rows.at(5).output, h.expectedAnswer(5));
}

void TestDispatcher::failingRowsDieAfterTheirRetries()
{
    constexpr int kMaxRetries = 2;
    const QHash<int, QString> markers = {{2, u"[[sim:fail]]"_s}, {7, u"[[sim:fail]]"_s}};
    Harness h(makeRows(10, markers), kMaxRetries);
    QVERIFY2(h.ok(), qPrintable(h.error()));
    const qint64 start = h.clock.nowMs();
    h.startRunner();

    // The healthy rows finish while the clock stands still; the failing ones wait for it.
    QTRY_COMPARE_WITH_TIMEOUT(h.store().taskCounts(h.jobId()).completed, 8, 20'000);
    // Move time on in steps smaller than any backoff ceiling until the job is done.
    QTRY_VERIFY_WITH_TIMEOUT((h.clock.advance(250), h.finished->count() == 1), 30'000);
    QCOMPARE(h.finished->at(0).at(1).value<JobState>(), JobState::Finished);

    const QList<bd::DeadTask> dead = h.store().deadTasks(h.jobId(), 100, 0);
    QCOMPARE(dead.size(), 2);
    for (const bd::DeadTask &task : dead) {
        QCOMPARE(task.attempts, 1 + kMaxRetries);
        QCOMPARE(task.errorClass, u"server_error"_s);

        const QList<Send> sends = h.log.sendsOf(task.id);
        QCOMPARE(sends.size(), 1 + kMaxRetries);
        const QList<bd::AttemptRecord> history = h.store().attempts(task.id);
        QCOMPARE(history.size(), 1 + kMaxRetries);
        for (int i = 0; i < sends.size(); ++i) {
            QCOMPARE(sends.at(i).attempt, i + 1);
            QCOMPARE(history.at(i).attemptNo, i + 1);
            QCOMPARE(history.at(i).outcome, u"server_error"_s);
            QCOMPARE(history.at(i).httpStatus, 500);
            QCOMPARE(history.at(i).message, u"simulated server error"_s);
            if (i == 0) {
                QCOMPARE(sends.at(i).atMs, start);
                continue;
            }
            // A retry goes out no earlier than the wait the policy gave it, and that wait
            // lies within the exponential ceiling (1 s, then 2 s) after the failure.
            const qint64 failedAt = history.at(i - 1).at.toMSecsSinceEpoch();
            const qint64 ceiling = 1'000LL << (i - 1);
            QVERIFY2(sends.at(i).notBeforeMs >= failedAt
                         && sends.at(i).notBeforeMs <= failedAt + ceiling,
                     qPrintable(u"retry %1: not_before %2 after failure at %3"_s.arg(i)
                                    .arg(sends.at(i).notBeforeMs)
                                    .arg(failedAt)));
            QVERIFY2(sends.at(i).atMs >= sends.at(i).notBeforeMs,
                     qPrintable(u"retry %1 sent at %2 before its time %3"_s.arg(i)
                                    .arg(sends.at(i).atMs)
                                    .arg(sends.at(i).notBeforeMs)));
        }
    }
    // Every healthy row went out once.
    QCOMPARE(h.log.sends.size(), 8 + 2 * (1 + kMaxRetries));
    for (const bd::ingest::ExportRow &row : h.exportRows()) {
        if (row.status == u"completed"_s)
            QCOMPARE(row.attempts, 1);
        else
            QCOMPARE(row.error, u"server_error: simulated server error"_s);
    }
}

void TestDispatcher::quotaPausesTheJob()
{
    const QHash<int, QString> markers = {{9, u"[[sim:quota]]"_s}};
    Harness h(makeRows(40, markers));
    QVERIFY2(h.ok(), qPrintable(h.error()));
    h.startRunner({}, [](JobRunner::Options &options) {
        options.concurrency = 4;
        options.claimBatch = 8;
    });
    QTRY_COMPARE_WITH_TIMEOUT(h.finished->count(), 1, 20'000);
    const QList<QVariant> args = h.finished->at(0);
    QCOMPARE(args.at(1).value<JobState>(), JobState::Paused);
    const QString reason = args.at(2).toString();
    QVERIFY2(reason.contains(u"quota"_s), qPrintable(reason));
    QCOMPARE(h.alerts->count(), 1);
    QCOMPARE(h.alerts->at(0).at(1).toString(), u"quota_exhausted"_s);

    const auto job = h.store().job(h.jobId());
    QCOMPARE(job->state, JobState::Paused);
    QVERIFY2(job->stateReason.contains(u"quota"_s), qPrintable(job->stateReason));
    QCOMPARE(job->counts.leased, 0);
    QCOMPARE(job->counts.dead, 0);
    QVERIFY(job->counts.pending >= 1);
    QVERIFY(job->counts.completed < 40);
    QCOMPARE(job->counts.completed + job->counts.pending, 40);
    QVERIFY(h.store().leaseOwners().isEmpty());

    const QList<bd::ingest::ExportRow> rows = h.exportRows();
    QCOMPARE(rows.at(9).status, u"pending"_s);
    QCOMPARE(rows.at(9).attempts, 0);
    for (const bd::ingest::ExportRow &row : rows)
        QCOMPARE(row.attempts, row.status == u"completed"_s ? 1 : 0);
    // Nothing after the pause: every request got its answer, none was sent later.
    QCOMPARE(h.log.sends.size(), h.log.replies.size());
    QCOMPARE(h.log.okReplies(), int(job->counts.completed));
}

void TestDispatcher::stopReleasesUnsentTasks_data()
{
    QTest::addColumn<bool>("cancelInFlight");
    QTest::newRow("await in-flight answers") << false;
    QTest::newRow("cancel in-flight requests") << true;
}

void TestDispatcher::stopReleasesUnsentTasks()
{
    QFETCH(bool, cancelInFlight);
    constexpr int kRows = 200;
    Harness h(makeRows(kRows));
    QVERIFY2(h.ok(), qPrintable(h.error()));
    // Stop from the event loop once 20 answers are in: a claim of 64 is then only partly sent.
    int sentAtStop = -1;
    int repliesAtStop = -1;
    qint64 leasedAtStop = -1;
    h.log.onReply = [&](const ChatReply &) {
        if (h.log.replies.size() != 20)
            return;
        QTimer::singleShot(0, h.runner(), [&] {
            sentAtStop = int(h.log.sends.size());
            repliesAtStop = int(h.log.replies.size());
            leasedAtStop = h.store().taskCounts(h.jobId()).leased;
            h.runner()->stop(JobState::Paused, u"paused by the user"_s, cancelInFlight);
        });
    };
    h.startRunner({{u"latency_ms"_s, 15}}, [](JobRunner::Options &options) {
        options.concurrency = 8;
        options.claimBatch = 64;
    });
    QTRY_COMPARE_WITH_TIMEOUT(h.finished->count(), 1, 20'000);
    // One claim of 64 so far, of which sentAtStop went out: the rest were leased, unsent.
    QVERIFY(sentAtStop > 0);
    QVERIFY2(sentAtStop < 64, qPrintable(QString::number(sentAtStop)));
    QVERIFY2(leasedAtStop >= 64 - repliesAtStop, qPrintable(QString::number(leasedAtStop)));
    QCOMPARE(h.finished->at(0).at(1).value<JobState>(), JobState::Paused);
    QCOMPARE(h.finished->at(0).at(2).toString(), u"paused by the user"_s);

    const auto job = h.store().job(h.jobId());
    QCOMPARE(job->state, JobState::Paused);
    QCOMPARE(job->counts.leased, 0);
    QCOMPARE(job->counts.dead, 0);
    QCOMPARE(job->counts.completed, h.log.okReplies());
    QCOMPARE(job->counts.pending, kRows - job->counts.completed);
    QVERIFY(job->counts.pending > 100);
    QVERIFY(h.store().leaseOwners().isEmpty());
    // Nothing went out after the stop, and every request was answered.
    QCOMPARE(int(h.log.sends.size()), sentAtStop);
    QCOMPARE(h.log.replies.size(), h.log.sends.size());
    if (cancelInFlight) {
        const int cancelled = int(std::count_if(h.log.replies.cbegin(), h.log.replies.cend(),
                                                [](const ChatReply &r) {
                                                    return r.error == bd::ErrorClass::Cancelled;
                                                }));
        QVERIFY(cancelled > 0);
        QCOMPARE(cancelled + h.log.okReplies(), sentAtStop);
    } else {
        QCOMPARE(h.log.okReplies(), sentAtStop);
    }
    for (const bd::ingest::ExportRow &row : h.exportRows())
        QCOMPARE(row.attempts, row.status == u"completed"_s ? 1 : 0);

    // Starting again finishes the job without answering anything twice.
    const int completedBefore = int(job->counts.completed);
    const QSet<qint64> doneBefore = [&] {
        QSet<qint64> done;
        for (const ChatReply &reply : std::as_const(h.log.replies)) {
            if (reply.ok())
                done.insert(reply.taskId);
        }
        return done;
    }();
    QCOMPARE(doneBefore.size(), completedBefore);
    h.log.onReply = {};
    const int sendsBefore = int(h.log.sends.size());
    h.startRunner({{u"latency_ms"_s, 1}}, [](JobRunner::Options &options) {
        options.concurrency = 32;
    });
    QTRY_COMPARE_WITH_TIMEOUT(h.finished->count(), 1, 20'000);
    QCOMPARE(h.finished->at(0).at(1).value<JobState>(), JobState::Finished);
    QCOMPARE(h.store().taskCounts(h.jobId()).completed, kRows);
    QCOMPARE(int(h.log.sends.size()) - sendsBefore, kRows - completedBefore);
    for (int i = sendsBefore; i < h.log.sends.size(); ++i)
        QVERIFY(!doneBefore.contains(h.log.sends.at(i).taskId));
    const QList<bd::ingest::ExportRow> rows = h.exportRows();
    for (int i = 0; i < kRows; ++i) {
        QCOMPARE(rows.at(i).attempts, 1);
        QCOMPARE(rows.at(i).output, h.expectedAnswer(i));
    }
}

void TestDispatcher::rateLimitIsNotCharged()
{
    constexpr int kRows = 12;
    Harness h(makeRows(kRows));
    QVERIFY2(h.ok(), qPrintable(h.error()));
    // The simulator takes 5 requests per rolling minute of the fake clock.
    h.startRunner({{u"sim_rpm"_s, 5}});
    const auto settled = [&](int completed, int pending, int replies) {
        const bd::TaskCounts counts = h.store().taskCounts(h.jobId());
        return counts.completed == completed && counts.pending == pending
               && h.log.replies.size() == replies;
    };
    // First minute: 5 answers, 7 refusals that wait for the window named in Retry-After.
    QTRY_VERIFY_WITH_TIMEOUT(settled(5, 7, 12), 20'000);
    QCOMPARE(h.log.sends.size(), 12);
    for (int i = 5; i < 12; ++i) {
        QCOMPARE(h.log.replies.at(i).error, bd::ErrorClass::RateLimited);
        QCOMPARE(h.log.replies.at(i).retryAfterMs, 60'000);
    }
    QCOMPARE(h.finished->count(), 0);

    // The 429s and the headers taught the runner the provider's limit: it now paces itself
    // (5 rpm, halved once for the burst that was refused) instead of bursting again.
    for (int step = 0; step < 2'000 && h.finished->isEmpty(); ++step) {
        h.clock.advance(1'000);
        QTest::qWait(1);
    }
    QTRY_COMPARE_WITH_TIMEOUT(h.finished->count(), 1, 20'000);
    QCOMPARE(h.finished->at(0).at(1).value<JobState>(), JobState::Finished);
    int lateRefusals = 0;
    for (int i = 12; i < h.log.replies.size(); ++i)
        lateRefusals += h.log.replies.at(i).error == bd::ErrorClass::RateLimited;
    QVERIFY2(lateRefusals <= 1, qPrintable(QString::number(lateRefusals)));
    QCOMPARE(h.log.sends.size(), 19 + lateRefusals);

    // Every task completed with one charged attempt, however often it was refused.
    for (const bd::ingest::ExportRow &row : h.exportRows()) {
        QCOMPARE(row.status, u"completed"_s);
        QCOMPARE(row.attempts, 1);
    }
    // The refusals are in the history, uncharged, with their attempt number unchanged.
    QSqlDatabase side = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"side-rpm"_s);
    side.setDatabaseName(h.databasePath());
    QVERIFY(side.open());
    {
        QSqlQuery query(side);
        QVERIFY(query.exec(u"SELECT COUNT(*), SUM(charged), MAX(attempt_no), MIN(http_status) "
                           "FROM attempts WHERE outcome = 'rate_limited'"_s));
        QVERIFY(query.next());
        QVERIFY(query.value(0).toInt() >= 7 && query.value(0).toInt() <= 8);
        QCOMPARE(query.value(1).toInt(), 0);
        QCOMPARE(query.value(2).toInt(), 0);
        QCOMPARE(query.value(3).toInt(), 429);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM attempts WHERE outcome <> 'rate_limited'"_s));
        QVERIFY(query.next());
        QCOMPARE(query.value(0).toInt(), 0);
    }
    side.close();
    side = QSqlDatabase();
    QSqlDatabase::removeDatabase(u"side-rpm"_s);
}

void TestDispatcher::leasesOfAVanishedWorkerComeBack()
{
    constexpr int kRows = 10;
    Harness h(makeRows(kRows));
    QVERIFY2(h.ok(), qPrintable(h.error()));
    // Another worker (on another host: no pid check can help) took three tasks and vanished.
    const qint64 leaseEnd = h.clock.nowMs() + 30'000;
    QList<bd::ClaimedTask> ghost;
    QVERIFY(h.store().claimTasks(h.jobId(), u"elsewhere:4242:dead00"_s, 3, h.clock.nowMs(),
                                 leaseEnd, &ghost));
    QCOMPARE(ghost.size(), 3);

    h.startRunner();
    // The runner does the rest, then waits for the ghost's lease; the store says 3 leased.
    QTRY_COMPARE_WITH_TIMEOUT(h.store().taskCounts(h.jobId()).completed, kRows - 3, 20'000);
    QCOMPARE(h.finished->count(), 0);
    QCOMPARE(h.store().taskCounts(h.jobId()).leased, 3);
    // Time passes beyond the lease: the tasks are handed back and finished here.
    QTRY_VERIFY_WITH_TIMEOUT((h.clock.advance(5'000), h.finished->count() == 1), 20'000);
    QCOMPARE(h.finished->at(0).at(1).value<JobState>(), JobState::Finished);
    QVERIFY(h.clock.nowMs() > leaseEnd);
    QCOMPARE(h.store().taskCounts(h.jobId()).completed, kRows);
    for (const bd::ClaimedTask &task : std::as_const(ghost))
        QCOMPARE(h.log.sendsOf(task.id).size(), 1);
    for (const bd::ingest::ExportRow &row : h.exportRows())
        QCOMPARE(row.attempts, 1);
}

void TestDispatcher::pacedRunnerLeasesOnlyWhatItSendsSoon()
{
    // --rpm 120: two requests a second. Leasing a whole group (100 here) ahead of that left a
    // dead worker holding the rest until their leases ran out; now a group is what the pace
    // sends within the claim horizon (3 s: 6 tasks), and the pace is kept all the same.
    constexpr int kRows = 60;
    Harness h(makeRows(kRows));
    QVERIFY2(h.ok(), qPrintable(h.error()));
    QVERIFY(h.store().setJobSettings(h.jobId(), QJsonObject{{u"rpm"_s, 120}}));
    h.startRunner({}, [](JobRunner::Options &options) { options.claimBatch = 0; });
    int mostLeased = 0;
    for (int step = 0; step < 2'000 && h.finished->isEmpty(); ++step) {
        QTest::qWait(1);
        mostLeased = qMax(mostLeased, int(h.store().taskCounts(h.jobId()).leased));
        h.clock.advance(50);
    }
    QTRY_COMPARE_WITH_TIMEOUT(h.finished->count(), 1, 20'000);
    QCOMPARE(h.finished->at(0).at(1).value<JobState>(), JobState::Finished);
    QCOMPARE(h.store().taskCounts(h.jobId()).completed, kRows);
    // The group, plus the one whose answer has not been written yet.
    QVERIFY2(mostLeased >= 1 && mostLeased <= 7, qPrintable(QString::number(mostLeased)));
    // No rate lost: 60 requests at 120 rpm (0.985 headroom) take about 30 s of the clock.
    const double seconds =
        double(h.log.sends.constLast().atMs - h.log.sends.constFirst().atMs) / 1000;
    QVERIFY2(seconds >= 29.0 && seconds <= 31.5, qPrintable(QString::number(seconds)));
    QCOMPARE(h.log.sends.size(), kRows);
}

void TestDispatcher::anUnknownTemplateRevisionSaysWhichOne()
{
    // A task pointing at a template revision the database does not have (a replay from a
    // newer version, a hand-edited database): the job fails with a message a user can act on.
    Harness h(makeRows(3));
    QVERIFY2(h.ok(), qPrintable(h.error()));
    {
        QSqlDatabase side = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"side-rev"_s);
        side.setDatabaseName(h.databasePath());
        QVERIFY(side.open());
        QSqlQuery query(side);
        QVERIFY(
            query.exec(u"UPDATE tasks SET template_rev = 9 WHERE job_id = %1"_s.arg(h.jobId())));
        QCOMPARE(query.numRowsAffected(), 3);
    }
    QSqlDatabase::removeDatabase(u"side-rev"_s);
    h.startRunner();
    QTRY_COMPARE_WITH_TIMEOUT(h.failed->count(), 1, 20'000);
    const QString error = h.failed->at(0).at(1).toString();
    QVERIFY2(error.startsWith(u"job %1, template revision 9: cannot be read ("_s.arg(h.jobId())),
             qPrintable(error));
    QCOMPARE(h.log.sends.size(), 0);
}

QTEST_GUILESS_MAIN(TestDispatcher)
#include "test_dispatcher.moc"
