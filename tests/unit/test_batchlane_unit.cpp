// BatchLane on its own (dispatch/batchlane.h): a real SQLite store, a scripted provider whose
// batch answers the test gives, a fake clock and a host that records what the lane asks of
// its runner. Lines settle from the results (a duplicate line counts once, a missing line
// settles as expired); a batch refused for the provider's reasons hands its lines back
// uncharged and tells the breaker; a batch failed for its own reasons gives every line its
// answer; a cancelled job's batches are cancelled at the provider; a new lane (a restart)
// polls the stored batches, and looks up one whose id was lost before handing it back.
// Budget reservations are held while a batch is out and released whatever becomes of it.

#include "batchlanefakes.h"
#include "core/clock.h"
#include "dispatch/batchlane.h"
#include "dispatch/budgetgate.h"
#include "store/sqlite/sqlitestore.h"

#include <memory>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::ErrorClass;
using bd::TaskTransition;
using bd::dispatch::BatchLane;
using bd::dispatch::BudgetGate;
using bd::providers::ChatReply;
using bd::providers::ChatRequest;
using bd::testing::RecordingLaneHost;
using bd::testing::ScriptedBatches;

namespace {

const QString kWorker = u"worker-1"_s;

class Harness
{
public:
    explicit Harness(double capUsd = 0.0)
        : budget(capUsd)
    {
        store = std::make_unique<bd::store::SqliteStore>(dir.filePath(u"lane.sqlite"_s));
        bd::JobSpec spec;
        spec.sourcePath = u"rows.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = u"{{text}}"_s;
        spec.model = u"m-1"_s;
        spec.priority = 3;
        spec.mode = u"batch-api"_s;
        jobId = store->createJob(spec, {u"text"_s}, clock.nowMs());
        QList<QStringList> rows;
        for (int i = 0; i < 5; ++i)
            rows.append({QString::number(i)});
        store->appendTasks(jobId, 1, rows, 3, clock.nowMs());
    }

    std::unique_ptr<BatchLane> lane()
    {
        BatchLane::Options options;
        options.jobId = jobId;
        options.workerId = kWorker;
        options.maxBatchSize = 100;
        options.pollFirstMs = 1;
        return std::make_unique<BatchLane>(&host, store.get(), &provider, &clock, &budget, options);
    }

    // Claims every task and opens one batch of them; the reference the provider got.
    QString openAll(BatchLane &lane, double reservation = 1.25)
    {
        QList<ClaimedTask> claimed;
        const qint64 now = clock.nowMs();
        if (!store->claimTasks(jobId, kWorker, 100, now, now + 60'000, &claimed))
            return {};
        QList<ChatRequest> requests;
        QHash<qint64, ClaimedTask> tasks;
        for (const ClaimedTask &task : claimed) {
            qint64 tokens = 0;
            requests.append(*host.batchLine(task, &tokens));
            tasks.insert(task.id, task);
            ids.append(task.id);
        }
        if (!lane.open(requests, tasks, reservation))
            return {};
        return provider.submitted.constLast().first;
    }

    QList<ClaimedTask> claimAll()
    {
        QList<ClaimedTask> claimed;
        const qint64 now = clock.nowMs();
        store->claimTasks(jobId, kWorker, 100, now, now + 60'000, &claimed);
        for (const ClaimedTask &task : std::as_const(claimed))
            ids.append(task.id);
        return claimed;
    }

    QString batchState()
    {
        const auto all = store->batches(jobId, {u"assembling"_s, u"submitted"_s, u"ended"_s,
                                                 u"failed"_s, u"cancelled"_s});
        return all.isEmpty() ? QString() : all.constLast().state;
    }

    ChatReply answer(qint64 taskId, const QString &text)
    {
        ChatReply reply;
        reply.taskId = taskId;
        reply.text = text;
        return reply;
    }

    QTemporaryDir dir;
    bd::FakeClock clock;
    std::unique_ptr<bd::store::SqliteStore> store;
    qint64 jobId = 0;
    ScriptedBatches provider;
    RecordingLaneHost host;
    BudgetGate budget;
    QList<qint64> ids;
};

} // namespace

class TestBatchLaneUnit : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void sendOpensABatchPerModelWithoutTheCoalescedLines()
    {
        Harness h;
        auto lane = h.lane();
        const QList<ClaimedTask> claimed = h.claimAll();
        QCOMPARE(claimed.size(), 5);
        h.host.coalescedIds = {h.ids.at(1)};
        h.host.modelOf.insert(h.ids.at(3), u"m-2"_s);
        const BatchLane::Sending sending = lane->send(claimed, h.clock.nowMs());
        QCOMPARE(sending.sent, BatchLane::Sent::Opened);
        QCOMPARE(h.provider.submitted.size(), 2); // one batch per model
        QList<qint64> sent;
        for (const auto &[reference, requests] : std::as_const(h.provider.submitted)) {
            QSet<QString> models;
            for (const ChatRequest &request : requests) {
                sent.append(request.taskId);
                models.insert(request.model);
            }
            QCOMPARE(models.size(), 1);
        }
        std::sort(sent.begin(), sent.end());
        QCOMPARE(sent, (QList<qint64>{h.ids.at(0), h.ids.at(2), h.ids.at(3), h.ids.at(4)}));
        // Each line sent leads its key; the coalesced one leads nothing and is not charged.
        QCOMPARE(h.host.led.size(), 4);
        QVERIFY(!h.host.led.contains("key-" + QByteArray::number(h.ids.at(1))));
        QCOMPARE(h.budget.reservedUsd(), 1.0);
        QCOMPARE(lane->openCount(), 2);
    }

    void sendKeepsToTheBudget()
    {
        // $0.25 a line, $0.60 left: two lines go, the others go back pending uncharged.
        Harness h(0.6);
        auto lane = h.lane();
        const QList<ClaimedTask> claimed = h.claimAll();
        BatchLane::Sending sending = lane->send(claimed, h.clock.nowMs());
        QCOMPARE(sending.sent, BatchLane::Sent::Opened);
        QCOMPARE(sending.refusedUsd, 0.25);
        QCOMPARE(h.provider.submitted.constFirst().second.size(), 2);
        QCOMPARE(h.host.unsent, h.ids.mid(2));
        QCOMPARE(h.host.returned, 3);
        QCOMPARE(h.store->taskCounts(h.jobId).pending, 3);

        // Nothing fits: every line goes back and the runner hears what was refused.
        Harness poor(0.1);
        auto poorLane = poor.lane();
        sending = poorLane->send(poor.claimAll(), poor.clock.nowMs());
        QCOMPARE(sending.sent, BatchLane::Sent::OverBudget);
        QCOMPARE(sending.refusedUsd, 0.25);
        QVERIFY(poor.provider.submitted.isEmpty());
        QCOMPARE(poor.store->taskCounts(poor.jobId).pending, 5);

        // Every line answered without a request: nothing opens, nothing is reserved.
        Harness cached;
        auto cachedLane = cached.lane();
        const QList<ClaimedTask> all = cached.claimAll();
        for (const qint64 id : std::as_const(cached.ids))
            cached.host.coalescedIds.insert(id);
        QCOMPARE(cachedLane->send(all, cached.clock.nowMs()).sent, BatchLane::Sent::Answered);
        QVERIFY(cached.provider.submitted.isEmpty());
        QCOMPARE(cached.budget.reservedUsd(), 0.0);
    }

    void linesSettleFromTheResults()
    {
        Harness h;
        auto lane = h.lane();
        const QString reference = h.openAll(*lane);
        QCOMPARE(h.provider.submitted.size(), 1);
        QCOMPARE(h.provider.submitted.constFirst().second.size(), 5);
        QCOMPARE(h.host.opened.constFirst(), (std::pair<int, int>{5, 100}));
        QCOMPARE(h.budget.reservedUsd(), 1.25);
        QCOMPARE(lane->openCount(), 1);
        QCOMPARE(h.batchState(), u"assembling"_s);
        // The lines are the batch's while the provider holds them, not this worker's.
        QCOMPARE(h.store->leasedTasksOfBatch(reference.toLongLong()).size(), 5);

        Q_EMIT h.provider.batchSubmitted(reference, u"b-1"_s, ErrorClass::None, QString());
        QCOMPARE(h.batchState(), u"submitted"_s);
        QCOMPARE(h.host.answered, 1);
        QTRY_COMPARE(h.provider.polled, QStringList{u"b-1"_s});
        bd::providers::BatchStatus pending;
        pending.batchId = u"b-1"_s;
        Q_EMIT h.provider.batchPolled(pending); // still running: polled again, later
        QTRY_COMPARE(h.provider.polled.size(), 2);
        bd::providers::BatchStatus ended = pending;
        ended.phase = bd::providers::BatchPhase::Ended;
        Q_EMIT h.provider.batchPolled(ended);
        QCOMPARE(h.provider.fetched, QStringList{u"b-1"_s});
        QCOMPARE(h.provider.fetchedIds.size(), 5);

        // Four lines answered, one of them twice; the fifth missing.
        QList<ChatReply> replies;
        for (int i = 0; i < 4; ++i)
            replies.append(h.answer(h.ids.at(i), u"answer %1"_s.arg(i)));
        replies.append(h.answer(h.ids.at(0), u"a second answer"_s));
        Q_EMIT h.provider.batchResultsFetched(u"b-1"_s, replies, ErrorClass::None, QString());
        QCOMPARE(h.host.settledReplies.size(), 5);
        QCOMPARE(h.host.settledReplies.at(0).text, u"answer 0"_s); // the first answer counts
        const ChatReply missing = h.host.settledReplies.constLast();
        QCOMPARE(missing.taskId, h.ids.at(4));
        QCOMPARE(missing.error, ErrorClass::Timeout);
        QVERIFY(missing.errorMessage.contains(u"no result line"_s));
        QCOMPARE(h.host.written, 5);
        QCOMPARE(h.host.closed, QList<bool>{true});
        QCOMPARE(h.batchState(), u"ended"_s);
        QCOMPARE(h.budget.reservedUsd(), 0.0);
        QCOMPARE(lane->openCount(), 0);
        const bd::TaskCounts counts = h.store->taskCounts(h.jobId);
        QCOMPARE(counts.completed, qint64(4));
        QCOMPARE(counts.dead, qint64(1));
    }

    void refusedForTheProvidersReasonsGoesBackUncharged()
    {
        Harness h;
        auto lane = h.lane();
        const QString reference = h.openAll(*lane);
        Q_EMIT h.provider.batchSubmitted(reference, QString(), ErrorClass::ServerError,
                                         u"503 Service Unavailable"_s);
        QCOMPARE(h.host.outages.size(), 1);
        QVERIFY(h.host.outages.constFirst().contains(u"503"_s));
        QCOMPARE(h.host.handedBack.size(), 5);
        QCOMPARE(h.host.returned, 5);
        QCOMPARE(h.host.closed, QList<bool>{false});
        QVERIFY(h.host.settledReplies.isEmpty()); // no line is charged
        QCOMPARE(h.batchState(), u"failed"_s);
        QCOMPARE(h.budget.reservedUsd(), 0.0);
        // Pending again with no attempt used.
        QList<ClaimedTask> again;
        QVERIFY(h.store->claimTasks(h.jobId, kWorker, 100, h.clock.nowMs(),
                                    h.clock.nowMs() + 1'000, &again));
        QCOMPARE(again.size(), 5);
        for (const ClaimedTask &task : again)
            QCOMPARE(task.attempts, 0);
    }

    void failedForItsOwnReasonsAnswersEveryLine()
    {
        Harness h;
        auto lane = h.lane();
        const QString reference = h.openAll(*lane);
        Q_EMIT h.provider.batchSubmitted(reference, u"b-2"_s, ErrorClass::None, QString());
        QTRY_VERIFY(!h.provider.polled.isEmpty());
        bd::providers::BatchStatus failed;
        failed.batchId = u"b-2"_s;
        failed.phase = bd::providers::BatchPhase::Failed;
        failed.error = ErrorClass::InvalidRequest;
        failed.errorMessage = u"line 3: bad json"_s;
        Q_EMIT h.provider.batchPolled(failed);
        QCOMPARE(h.host.settledReplies.size(), 5);
        for (const ChatReply &reply : h.host.settledReplies) {
            QCOMPARE(reply.error, ErrorClass::InvalidRequest);
            QCOMPARE(reply.errorMessage, u"batch b-2 failed: line 3: bad json"_s);
        }
        QVERIFY(h.host.outages.isEmpty());
        QCOMPARE(h.batchState(), u"failed"_s);
        // A batch failed without a word about its lines is the provider's trouble.
        Harness o;
        auto other = o.lane();
        const QString ref = o.openAll(*other);
        Q_EMIT o.provider.batchSubmitted(ref, u"b-3"_s, ErrorClass::None, QString());
        failed.batchId = u"b-3"_s;
        failed.error = ErrorClass::Overloaded;
        Q_EMIT o.provider.batchPolled(failed);
        QVERIFY(o.host.settledReplies.isEmpty());
        QCOMPARE(o.host.returned, 5);
        QCOMPARE(o.host.outages.size(), 1);
    }

    void cancelledJobCancelsItsBatches()
    {
        Harness h;
        auto lane = h.lane();
        const QString reference = h.openAll(*lane);
        Q_EMIT h.provider.batchSubmitted(reference, u"b-4"_s, ErrorClass::None, QString());
        lane->cancelAll();
        QCOMPARE(h.provider.cancelled, QStringList{u"b-4"_s});
        QCOMPARE(h.host.returned, 5);
        QCOMPARE(h.batchState(), u"cancelled"_s);
        QCOMPARE(h.budget.reservedUsd(), 0.0);
        QCOMPARE(h.store->taskCounts(h.jobId).pending, qint64(5));
        QVERIFY(lane->isEmpty());
        // Results arriving after that are not this lane's any more.
        Q_EMIT h.provider.batchResultsFetched(u"b-4"_s, {h.answer(h.ids.at(0), u"late"_s)},
                                              ErrorClass::None, QString());
        QVERIFY(h.host.settledReplies.isEmpty());
    }

    void aRestartPollsTheStoredBatch()
    {
        Harness h;
        {
            auto first = h.lane();
            const QString reference = h.openAll(*first);
            Q_EMIT h.provider.batchSubmitted(reference, u"b-5"_s, ErrorClass::None, QString());
        } // the engine stops; the provider keeps the batch
        h.provider.polled.clear();
        auto second = h.lane();
        QVERIFY(second->recover());
        QCOMPARE(second->openCount(), 1);
        QTRY_COMPARE(h.provider.polled, QStringList{u"b-5"_s});
        QVERIFY(h.provider.submitted.size() == 1); // never submitted again
        bd::providers::BatchStatus ended;
        ended.batchId = u"b-5"_s;
        ended.phase = bd::providers::BatchPhase::Ended;
        Q_EMIT h.provider.batchPolled(ended);
        QList<ChatReply> replies;
        for (qint64 id : std::as_const(h.ids))
            replies.append(h.answer(id, u"ok"_s));
        Q_EMIT h.provider.batchResultsFetched(u"b-5"_s, replies, ErrorClass::None, QString());
        QCOMPARE(h.store->taskCounts(h.jobId).completed, qint64(5));
    }

    void aLostIdIsLookedUpThenTheLinesGoBack()
    {
        Harness h;
        h.provider.findable = true;
        QString reference;
        {
            auto first = h.lane();
            reference = h.openAll(*first);
        } // killed before the provider's answer: no id stored
        auto second = h.lane();
        QVERIFY(second->recover());
        QCOMPARE(h.provider.lookups.size(), 1);
        QCOMPARE(h.provider.lookups.constFirst().first, reference);
        QCOMPARE(h.provider.lookups.constFirst().second.size(), 5); // matched on its lines
        // The list cannot be read: asked again three times, then the lines go back.
        for (int i = 1; i <= 3; ++i) {
            Q_EMIT h.provider.batchFound(reference, QString(), ErrorClass::Network, u"reset"_s);
            QTRY_COMPARE(h.provider.lookups.size(), i + 1);
        }
        QVERIFY(h.host.handedBack.isEmpty());
        Q_EMIT h.provider.batchFound(reference, QString(), ErrorClass::Network, u"reset"_s);
        QCOMPARE(h.host.handedBack.size(), 5);
        QCOMPARE(h.batchState(), u"failed"_s);
        QCOMPARE(h.store->taskCounts(h.jobId).pending, qint64(5));
    }

    void explicitChargesAreCountedOnce()
    {
        Harness h;
        auto lane = h.lane();
        Q_EMIT h.provider.batchCharged(u"cache-1"_s, u"m-1"_s, 0.5, u"24 h cache"_s);
        Q_EMIT h.provider.batchCharged(u"cache-1"_s, u"m-1"_s, 0.5, u"24 h cache"_s);
        QCOMPARE(h.budget.spentUsd(), 0.5);
        QCOMPARE(h.host.charges, 2);
    }
};

QTEST_GUILESS_MAIN(TestBatchLaneUnit)
#include "test_batchlane_unit.moc"
