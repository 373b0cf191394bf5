// Group sizes follow the API's load through a whole JobRunner (issue #12, "group sizes react
// to API load too (429s, latency), not only to queue depth"): with a deep queue the groups
// of sync calls it claims are the large size; a run of 429s, or latency climbing well above
// its usual level, makes the groups it assembles next smaller, and they grow back once the
// load has passed. A scripted provider answers on a fake clock (latency is the fake time
// between a request and its answer); the groups are read from the store's batch records.

#include "core/clock.h"
#include "cost/pricetable.h"
#include "dispatch/jobrunner.h"
#include "store/sqlite/sqlitestore.h"

#include <algorithm>
#include <QJsonArray>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <utility>

using namespace Qt::StringLiterals;
using bd::ErrorClass;
using bd::dispatch::JobRunner;
using bd::providers::ChatReply;
using bd::providers::ChatRequest;

namespace {

constexpr int kSmall = 8;
constexpr int kLarge = 40;
constexpr int kConcurrency = 16;

// Holds every request until the test answers it.
class ScriptedProvider final : public bd::providers::Provider
{
public:
    QString id() const override { return u"loopback"_s; }
    QString displayName() const override { return u"Loopback"_s; }
    QString defaultModel() const override { return u"local-1"_s; }
    bool isLocalServer() const override { return true; } // free: no prices needed
    int inFlight() const override { return int(waiting.size()); }
    void send(const ChatRequest &request) override { waiting.append(request); }
    void cancelAll() override
    {
        const QList<ChatRequest> cancelled = std::exchange(waiting, {});
        for (const ChatRequest &request : cancelled) {
            ChatReply reply;
            reply.taskId = request.taskId;
            reply.error = ErrorClass::Cancelled;
            Q_EMIT replied(reply);
        }
    }

    // Every request out now gets its answer: a 429 (no rate-limit figures, retry after
    // 200 ms), or a success.
    void answerAll(bool refuse)
    {
        const QList<ChatRequest> out = std::exchange(waiting, {});
        for (const ChatRequest &request : out) {
            ChatReply reply;
            reply.taskId = request.taskId;
            reply.model = request.model;
            if (refuse) {
                reply.error = ErrorClass::RateLimited;
                reply.httpStatus = 429;
                reply.retryAfterMs = 200;
                reply.errorMessage = u"too many requests"_s;
            } else {
                reply.httpStatus = 200;
                reply.text = u"ok"_s;
                reply.usage.inputTokens = 10;
                reply.usage.outputTokens = 2;
            }
            Q_EMIT replied(reply);
        }
    }

    QList<ChatRequest> waiting;
};

class Run
{
public:
    explicit Run(int rows)
    {
        m_store = std::make_unique<bd::store::SqliteStore>(m_dir.filePath(u"queue.sqlite"_s));
        bd::JobSpec spec;
        spec.sourcePath = u"rows.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = u"Label {{text}}"_s;
        spec.provider = u"openai-compatible"_s;
        spec.priority = 2;
        spec.mode = u"grouped"_s;
        spec.maxRetries = 3;
        spec.maxOutputTokens = 16;
        // Deep enough for the large group all along; a wait that never holds a group back.
        spec.settings = QJsonObject{{u"concurrency"_s, kConcurrency},
                                    {u"group_sizes"_s, QJsonArray{kSmall, 16, kLarge}},
                                    {u"medium_depth"_s, 20},
                                    {u"large_depth"_s, 40},
                                    {u"batch_max_wait_ms"_s, 0}};
        const qint64 jobId = m_store->createJob(spec, {u"text"_s}, clock.nowMs());
        QList<QStringList> values;
        for (int i = 0; i < rows; ++i)
            values.append({u"row %1"_s.arg(i)});
        if (jobId <= 0 || !m_store->appendTasks(jobId, 1, values, 2, clock.nowMs()))
            qFatal("cannot create the job: %s", qPrintable(m_store->errorString()));
        auto owned = std::make_unique<ScriptedProvider>();
        provider = owned.get();
        JobRunner::Options options;
        options.flushIntervalMs = 5;
        options.progressIntervalMs = 20;
        options.idlePollMs = 5;
        runner = std::make_unique<JobRunner>(m_store.get(), std::move(owned), *m_store->job(jobId),
                                             bd::cost::PriceTable::builtIn(), &clock,
                                             u"localhost:1:groups"_s, options);
        failed = std::make_unique<QSignalSpy>(runner.get(), &JobRunner::failed);
        m_side = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"groups-side"_s);
        m_side.setDatabaseName(m_dir.filePath(u"queue.sqlite"_s));
        m_side.open();
        runner->start();
    }
    ~Run()
    {
        runner.reset();
        m_side.close();
        m_side = QSqlDatabase();
        QSqlDatabase::removeDatabase(u"groups-side"_s);
    }

    // One round trip: what the runner sends now is answered `latencyMs` of the clock later.
    void round(qint64 latencyMs, bool refuse)
    {
        QTest::qWait(2); // the runner's timers (flush, wake) run
        clock.advance(latencyMs);
        provider->answerAll(refuse);
        QCoreApplication::processEvents();
    }

    // Group sizes the runner chose (each group's capacity) after group `afterId`, and the
    // last group's id.
    QList<int> groupsAfter(qint64 afterId, qint64 *lastId)
    {
        QSqlQuery query(m_side);
        query.prepare(u"SELECT id, max_size FROM provider_batches WHERE id > ? AND lane = 'sync' "
                      "ORDER BY id"_s);
        query.addBindValue(afterId);
        QList<int> sizes;
        *lastId = afterId;
        if (!query.exec())
            return sizes;
        while (query.next()) {
            *lastId = query.value(0).toLongLong();
            sizes.append(query.value(1).toInt());
        }
        return sizes;
    }

    bd::FakeClock clock;
    ScriptedProvider *provider = nullptr;
    std::unique_ptr<JobRunner> runner;
    std::unique_ptr<QSignalSpy> failed;

private:
    QTemporaryDir m_dir;
    std::unique_ptr<bd::store::SqliteStore> m_store;
    QSqlDatabase m_side;
};

QString listed(const QList<int> &sizes)
{
    QStringList text;
    for (int size : sizes)
        text.append(QString::number(size));
    return text.join(u' ');
}

} // namespace

class TestGroupsUnderLoad : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        qRegisterMetaType<bd::JobState>();
        qRegisterMetaType<bd::TaskCounts>();
        qRegisterMetaType<bd::Usage>();
        qRegisterMetaType<bd::providers::ChatReply>();
    }

    void groupsShrinkUnderLoadAndGrowBack_data()
    {
        QTest::addColumn<bool>("refusals");
        QTest::newRow("a run of 429s") << true;
        QTest::newRow("latency climbing") << false;
    }

    void groupsShrinkUnderLoadAndGrowBack()
    {
        QFETCH(bool, refusals);
        constexpr qint64 kUsualMs = 100;
        Run run(20'000);
        qint64 last = 0;
        // Calm: the deep queue's large groups.
        for (int i = 0; i < 30; ++i)
            run.round(kUsualMs, false);
        const QList<int> calm = run.groupsAfter(last, &last);
        QVERIFY2(!calm.isEmpty() && calm.last() == kLarge, qPrintable(listed(calm)));

        // Load: a run of refusals, or answers ten times slower than usual.
        int lowestLimit = kConcurrency;
        QList<int> groups;
        for (int i = 0; i < 8; ++i) {
            run.round(refusals ? kUsualMs : 10 * kUsualMs, refusals);
            lowestLimit = qMin(lowestLimit, run.runner->concurrencyLimit());
            groups += run.groupsAfter(last, &last);
        }
        QVERIFY2(lowestLimit <= kConcurrency / 2, qPrintable(QString::number(lowestLimit)));
        // The load passes: the groups claimed from now on are small at first (while the
        // limit is still low: a group under a run of 429s is only claimed once its
        // predecessor has gone out), then back to the large size.
        for (int i = 0; i < 2'000 && (groups.isEmpty() || groups.last() < kLarge); ++i) {
            run.round(kUsualMs, false);
            groups += run.groupsAfter(last, &last);
        }
        QVERIFY2(!groups.isEmpty(), "no group claimed");
        const int smallest = *std::min_element(groups.cbegin(), groups.cend());
        QVERIFY2(smallest <= kLarge / 2, qPrintable(listed(groups)));
        QVERIFY2(smallest >= kSmall, qPrintable(listed(groups))); // never below the smallest
        QVERIFY2(groups.last() == kLarge, qPrintable(listed(groups)));
        QCOMPARE(run.runner->concurrencyLimit(), kConcurrency);
        QCOMPARE(run.failed->count(), 0);
    }
};

QTEST_GUILESS_MAIN(TestGroupsUnderLoad)
#include "test_groupsunderload.moc"
