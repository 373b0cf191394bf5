// TaskCoalescing on its own (dispatch/taskcoalescing.h), on a fake clock without threads or
// timers: a task whose request was answered completes from the cache at no cost and no
// attempt; one whose request is in flight waits for its leader and takes its answer; when
// the leader fails, sync followers go back to the head of the queue in their order and
// batch-API followers to pending, uncharged; a runner handing its work back releases every
// follower; a sync group's prompts and keys are rendered together (not one task alone, not
// a tiered job's); many answers at once are written without waiting for the flush timer.

#include "core/clock.h"
#include "dispatch/batchassembly.h"
#include "dispatch/retrypolicy.h"
#include "dispatch/router.h"
#include "dispatch/taskcoalescing.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::OutcomeAction;
using bd::TaskTransition;
using bd::dispatch::ClaimedWork;
using bd::dispatch::ResponseCoalescer;
using bd::dispatch::TaskCoalescing;
using bd::dispatch::TaskPrompts;

namespace {

class RecordingHost final : public TaskCoalescing::Host
{
public:
    const TaskPrompts::Revision *templateFor(int revision) override
    {
        return revision == 0 ? &original : nullptr;
    }
    void answeredWithoutRequest(const ClaimedTask &task, const TaskTransition &,
                                qint64 waitMs) override
    {
        answered.append(task.id);
        waits.append(waitMs);
    }
    void flush() override { ++flushes; }
    void scheduleFlush() override { ++scheduled; }

    TaskPrompts::Revision original{bd::ingest::PromptTemplate(u"Say {{text}}"_s), u"sys"_s};
    QList<qint64> answered;
    QList<qint64> waits;
    int flushes = 0;
    int scheduled = 0;
};

class Harness
{
public:
    explicit Harness(int flushMaxTransitions = 2'000, const QString &jobModel = u"m-1"_s,
                     const QJsonObject &settings = {})
        : router(jobModel, settings, {u"text"_s})
    {
        QString error;
        host.original.prompt.bind({u"text"_s}, &error);
        spec.model = u"m-1"_s;
        spec.templateText = u"Say {{text}}"_s;
        lanes.configure(2, false, true); // a sync job whose priority-3 tasks go to the batch API
        coalescing = std::make_unique<TaskCoalescing>(
            &host, TaskCoalescing::Parts{.cache = &cache,
                                         .router = &router,
                                         .retry = &retry,
                                         .lanes = &lanes,
                                         .spec = &spec,
                                         .work = &work,
                                         .clock = &clock,
                                         .flushMaxTransitions = flushMaxTransitions});
    }

    // Claimed: leased as the runner counts it.
    ClaimedTask claim(qint64 id, int priority = 2, const QString &text = u"hi"_s)
    {
        ClaimedTask task;
        task.id = id;
        task.priority = priority;
        task.queuedAtMs = clock.nowMs() - 500;
        task.values = {text};
        work.counts.leased += 1;
        return task;
    }

    TaskTransition completed(qint64 taskId, const QString &output)
    {
        TaskTransition transition;
        transition.outcome.taskId = taskId;
        transition.outcome.output = output;
        transition.outcome.model = u"m-1"_s;
        transition.action = OutcomeAction::Complete;
        return transition;
    }

    TaskTransition failed(qint64 taskId)
    {
        TaskTransition transition;
        transition.outcome.taskId = taskId;
        transition.outcome.error = bd::ErrorClass::ServerError;
        transition.action = OutcomeAction::Retry;
        return transition;
    }

    bd::FakeClock clock;
    RecordingHost host;
    ResponseCoalescer cache{true};
    bd::dispatch::Router router;
    bd::dispatch::RetryPolicy retry{bd::dispatch::RetryPolicy::Options{}};
    bd::dispatch::TaskLanes lanes;
    bd::JobSpec spec;
    ClaimedWork work;
    std::unique_ptr<TaskCoalescing> coalescing;
};

QList<qint64> idsOf(const QList<ClaimedTask> &tasks)
{
    QList<qint64> ids;
    for (const ClaimedTask &task : tasks)
        ids.append(task.id);
    return ids;
}

} // namespace

class TestTaskCoalescing : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void aCachedAnswerCompletesTheTaskUncharged()
    {
        Harness h;
        h.cache.lead("k", 1);
        h.cache.remember(1, u"yes"_s, u"m-1"_s, bd::Usage{}, h.clock.nowMs());
        QVERIFY(!h.cache.settleLeader(1).size());

        const ClaimedTask task = h.claim(2);
        QVERIFY(h.coalescing->coalesce("k", task));
        QCOMPARE(h.work.counts.leased, 0);
        QCOMPARE(h.work.counts.completed, 1);
        QCOMPARE(h.work.toWrite.size(), 1);
        const TaskTransition &written = h.work.toWrite.constFirst();
        QCOMPARE(written.action, OutcomeAction::Complete);
        QVERIFY(!written.chargeAttempt);
        QCOMPARE(written.outcome.output, u"yes"_s);
        QCOMPARE(written.outcome.costUsd.value_or(-1.0), 0.0);
        QVERIFY(written.outcome.cacheHit);
        QCOMPARE(h.host.answered, QList<qint64>{2});
        QCOMPARE(h.host.waits, QList<qint64>{500});
        QCOMPARE(h.host.flushes, 0); // the runner's flush timer writes it
    }

    void anUnknownRequestIsSent()
    {
        Harness h;
        QVERIFY(!h.coalescing->coalesce("new", h.claim(1)));
        QVERIFY(h.work.toWrite.isEmpty());
        QCOMPARE(h.work.counts.leased, 1);
    }

    void followersTakeTheirLeadersAnswer()
    {
        Harness h;
        QVERIFY(!h.coalescing->coalesce("k", h.claim(1)));
        h.cache.lead("k", 1);
        QVERIFY(h.coalescing->coalesce("k", h.claim(2)));
        QVERIFY(h.coalescing->coalesce("k", h.claim(3)));
        QVERIFY(h.work.toWrite.isEmpty()); // they wait, using no slot

        h.work.counts.leased -= 1; // the leader settled (the runner counts it)
        h.coalescing->resolveFollowers(1, h.completed(1, u"answer"_s));
        QCOMPARE(h.work.toWrite.size(), 2);
        for (const TaskTransition &t : std::as_const(h.work.toWrite)) {
            QCOMPARE(t.action, OutcomeAction::Complete);
            QCOMPARE(t.outcome.output, u"answer"_s);
            QVERIFY(!t.chargeAttempt);
        }
        QCOMPARE(h.host.answered, (QList<qint64>{2, 3}));
        QCOMPARE(h.work.counts.leased, 0);
        QCOMPARE(h.work.counts.completed, 2);
        QCOMPARE(h.host.scheduled, 1);
    }

    void aFailedLeadersFollowersAreTriedOnTheirOwn()
    {
        Harness h;
        h.cache.lead("k", 1);
        h.work.ready.enqueue(h.claim(9)); // already queued: the followers go before it
        QVERIFY(h.coalescing->coalesce("k", h.claim(2)));
        QVERIFY(h.coalescing->coalesce("k", h.claim(3, 3))); // lowered: the batch API's
        QVERIFY(h.coalescing->coalesce("k", h.claim(4)));
        h.work.claimedEverything = true;

        h.coalescing->resolveFollowers(1, h.failed(1));
        QCOMPARE(idsOf(h.work.ready), (QList<qint64>{2, 4, 9}));
        QCOMPARE(h.work.toWrite.size(), 1);
        const TaskTransition &release = h.work.toWrite.constFirst();
        QCOMPARE(release.outcome.taskId, 3);
        QCOMPARE(release.action, OutcomeAction::Release);
        QVERIFY(!release.chargeAttempt);
        QCOMPARE(h.work.counts.pending, 1);
        QVERIFY(!h.work.claimedEverything); // it is claimable again
        QCOMPARE(h.host.scheduled, 1);
        QVERIFY(h.host.answered.isEmpty());
    }

    void followersOfAFailedSyncLeaderNeedNoWrite()
    {
        Harness h;
        h.cache.lead("k", 1);
        QVERIFY(h.coalescing->coalesce("k", h.claim(2)));
        h.work.claimedEverything = true;
        h.coalescing->resolveFollowers(1, h.failed(1));
        QCOMPARE(idsOf(h.work.ready), QList<qint64>{2});
        QVERIFY(h.work.toWrite.isEmpty());
        QVERIFY(h.work.claimedEverything);
        QCOMPARE(h.host.scheduled, 0);
    }

    void handingWorkBackReleasesEveryFollower()
    {
        Harness h;
        h.cache.lead("a", 1);
        h.cache.lead("b", 2);
        QVERIFY(h.coalescing->coalesce("a", h.claim(3)));
        QVERIFY(h.coalescing->coalesce("b", h.claim(4)));
        h.coalescing->releaseFollowers();
        QCOMPARE(h.work.toWrite.size(), 2);
        for (const TaskTransition &t : std::as_const(h.work.toWrite)) {
            QCOMPARE(t.action, OutcomeAction::Release);
            QVERIFY(!t.chargeAttempt);
        }
        QCOMPARE(h.work.counts.pending, 2);
        QCOMPARE(h.cache.followerCount(), 0);
        // The leaders' answers, when they come, free their keys with nobody waiting.
        QVERIFY(h.cache.settleLeader(1).isEmpty());
    }

    void aBatchLineIsCoalescedByItsRequest()
    {
        Harness h;
        bd::providers::ChatRequest line;
        line.model = u"m-1"_s;
        line.systemPrompt = u"sys"_s;
        line.prompt = u"Say hi"_s;
        QByteArray key;
        QVERIFY(!h.coalescing->lineCoalesced(h.claim(1), line, &key));
        QCOMPARE(key, h.cache.keyFor(h.spec, u"m-1"_s, u"sys"_s, u"Say hi"_s));
        h.cache.lead(key, 1);
        QByteArray second;
        QVERIFY(h.coalescing->lineCoalesced(h.claim(2), line, &second));
        QCOMPARE(second, key);

        Harness off;
        off.cache = ResponseCoalescer(false);
        QByteArray none;
        QVERIFY(!off.coalescing->lineCoalesced(off.claim(1), line, &none));
        QVERIFY(none.isEmpty());
    }

    void aGroupIsRenderedAheadTogether()
    {
        Harness h;
        const ClaimedTask first = h.claim(1, 2, u"one"_s);
        const ClaimedTask second = h.claim(2, 2, u"two"_s);
        h.coalescing->lookAhead({first, second});
        const auto ahead = h.cache.lookedAhead(second);
        QVERIFY(ahead);
        QCOMPARE(ahead->prompt, u"Say two"_s);
        QCOMPARE(ahead->key, h.cache.keyFor(h.spec, u"m-1"_s, u"sys"_s, u"Say two"_s));

        h.coalescing->lookAhead({h.claim(3)}); // one task: nothing to gain from a group read
        QVERIFY(!h.cache.lookedAhead(second));
        QVERIFY(!h.cache.lookedAhead(h.claim(3)));
    }

    void aTieredJobIsNotRenderedAhead()
    {
        const QJsonObject tiering{
            {u"tiers"_s, QJsonObject{{u"simple"_s, u"m-1"_s},
                                     {u"standard"_s, u"m-1"_s},
                                     {u"complex"_s, u"m-2"_s}}},
            {u"default"_s, u"simple"_s},
            {u"rules"_s, QJsonArray{QJsonObject{{u"tier"_s, u"complex"_s},
                                                {u"prompt_chars"_s, QJsonObject{{u">"_s, 100}}}}}}};
        Harness h(2'000, u"auto"_s, QJsonObject{{u"tiering"_s, tiering}});
        QVERIFY2(h.router.isTiered(), qPrintable(h.router.error()));
        const ClaimedTask first = h.claim(1);
        h.coalescing->lookAhead({first, h.claim(2)});
        QVERIFY(!h.cache.lookedAhead(first));
    }

    void manyAnswersAreWrittenAtOnce()
    {
        Harness h(2);
        h.cache.lead("k", 1);
        for (qint64 id = 2; id <= 4; ++id)
            QVERIFY(h.coalescing->coalesce("k", h.claim(id)));
        h.coalescing->resolveFollowers(1, h.completed(1, u"answer"_s));
        QCOMPARE(h.host.flushes, 2); // at 2 and at 3 transitions: the runner's flush empties them
    }
};

QTEST_GUILESS_MAIN(TestTaskCoalescing)
#include "test_taskcoalescing.moc"
