// Response-cache coalescing of one job: the first task of a request key leads and is sent,
// later tasks of the key wait for it and come back when it settles (in the order they
// came), other keys are untouched; answers are kept for their key (first one wins, never
// for a task that led nothing) until they are due to be written — by count, by time on the
// caller's clock, or when the runner stops. A sync group's keys are read from a real
// store in one lookup and that read holds until answers are written; keys the store cannot
// hold (it had no entry but the ones written here when last counted) are not read; each
// task's verdict (send, follow, answered) comes from the coalescer.

#include "dispatch/responsecoalescer.h"
#include "jobio.h"
#include "store/sqlite/sqlitestore.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::Usage;
using bd::dispatch::ResponseCoalescer;

namespace {

ClaimedTask task(qint64 id)
{
    ClaimedTask claimed;
    claimed.id = id;
    claimed.values = {QString::number(id)};
    return claimed;
}

QList<qint64> ids(const QList<ClaimedTask> &tasks)
{
    QList<qint64> result;
    for (const ClaimedTask &t : tasks)
        result.append(t.id);
    return result;
}

// A job of `rows` rows (one column, "id") imported into the store and claimed whole by "w".
QList<ClaimedTask> claimNewJob(bd::store::SqliteStore &store, const QString &dir, int rows)
{
    QFile csv(dir + u"/in.csv"_s);
    if (!csv.open(QIODevice::WriteOnly))
        return {};
    csv.write("id\n");
    for (int row = 1; row <= rows; ++row)
        csv.write(QByteArray::number(row) + '\n');
    csv.close();
    bd::JobSpec spec;
    spec.sourcePath = csv.fileName();
    spec.templateText = u"Row {{id}}"_s;
    spec.provider = u"simulator"_s;
    spec.model = u"sim-1"_s;
    const bd::ImportResult imported = bd::importJob(store, spec, 0);
    QList<ClaimedTask> claimed;
    if (!imported.ok || !store.claimTasks(imported.jobId, u"w"_s, rows, 0, 60'000, &claimed))
        return {};
    return claimed;
}

// The task completes with `output`, cached under `key` (a lookup needs both).
bool answerInStore(bd::store::SqliteStore &store, const ClaimedTask &task, const QByteArray &key,
                   const QString &output)
{
    bd::TaskTransition done;
    done.action = bd::OutcomeAction::Complete;
    done.outcome = ResponseCoalescer::answeredOutcome(task.id, output, u"sim-1"_s, 0);
    bd::store::CachedResponse entry;
    entry.key = key;
    entry.taskId = task.id;
    return store.applyTransitions(u"w"_s, {done}, 0) && store.storeCachedResponses({entry});
}

// A new job of `rows` rows on its own store, claimed whole.
struct ClaimedJob
{
    explicit ClaimedJob(int rows)
        : store(dir.filePath(u"q.sqlite"_s))
        , tasks(claimNewJob(store, dir.path(), rows))
    {
    }
    QTemporaryDir dir;
    bd::store::SqliteStore store;
    QList<ClaimedTask> tasks;
};

ResponseCoalescer::Rendered rendered(const QByteArray &key, const ClaimedTask &task)
{
    return {u"prompt of "_s + QString::fromLatin1(key), key, task.templateRevision};
}

} // namespace

class TestResponseCoalescer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void duplicatesWaitForTheirLeader()
    {
        ResponseCoalescer cache(true);
        QVERIFY(!cache.follow("a", task(1))); // nobody leads "a": task 1 is sent
        cache.lead("a", 1);
        QVERIFY(!cache.follow("b", task(2)));
        cache.lead("b", 2);
        QVERIFY(cache.follow("a", task(3)));
        QVERIFY(cache.follow("a", task(5)));
        QVERIFY(cache.follow("b", task(4)));
        QCOMPARE(cache.followerCount(), 3);
        QCOMPARE(cache.keyOf(1), QByteArray("a"));
        QVERIFY(cache.keyOf(3).isEmpty()); // a follower leads nothing

        // The leader of "a" settles: its followers come back in order, "b"'s stay.
        QCOMPARE(ids(cache.settleLeader(1)), (QList<qint64>{3, 5}));
        QVERIFY(!cache.isLeading("a"));
        QVERIFY(cache.isLeading("b"));
        QCOMPARE(cache.followerCount(), 1);
        // "a" is free: the next task of it leads again.
        QVERIFY(!cache.follow("a", task(6)));
        // A task that led nothing has no followers to give back.
        QVERIFY(cache.settleLeader(3).isEmpty());
        QCOMPARE(ids(cache.takeAllFollowers()), (QList<qint64>{4}));
        QCOMPARE(cache.followerCount(), 0);
    }

    void aReplacedLeaderKeepsTheKey()
    {
        // A key led anew by another task: the old lead ending later must not free the key
        // under the new leader.
        ResponseCoalescer cache(true);
        cache.lead("k", 1);
        cache.lead("k", 2);
        cache.settleLeader(1);
        QVERIFY(cache.isLeading("k"));
        QCOMPARE(cache.keyOf(2), QByteArray("k"));
        QVERIFY(cache.follow("k", task(3)));
        QCOMPARE(ids(cache.settleLeader(2)), (QList<qint64>{3}));
        QVERIFY(!cache.isLeading("k"));
    }

    void firstAnswerForAKeyIsKept()
    {
        ResponseCoalescer cache(true);
        cache.lead("k", 1);
        cache.lead("k", 2);
        Usage usage;
        usage.inputTokens = 12;
        usage.outputTokens = 3;
        cache.remember(1, u"positive"_s, u"m1"_s, usage, 1'000);
        cache.remember(2, u"negative"_s, u"m1"_s, usage, 1'500);
        cache.remember(9, u"led nothing"_s, u"m1"_s, usage, 1'500); // no key: not kept
        const auto hit = cache.unstored("k");
        QVERIFY(hit);
        QCOMPARE(hit->output, u"positive"_s);
        QCOMPARE(hit->taskId, qint64(1));
        QCOMPARE(hit->usage.inputTokens, qint64(12));
        QCOMPARE(hit->createdAtMs, qint64(1'000));
        QVERIFY(!cache.unstored("other"));
    }

    // Kept answers are found by their key's first 64 bits; keys that share them stay apart.
    void keysThatStartAlikeAreKeptApart()
    {
        ResponseCoalescer cache(true);
        const QByteArray first = "0123456789abcdef" + QByteArray(48, '0');
        const QByteArray second = "0123456789abcdef" + QByteArray(48, '1');
        const QByteArray third = "0123456789ABCDEF" + QByteArray(48, '2'); // the same bits
        cache.lead(first, 1);
        cache.lead(second, 2);
        cache.lead(third, 3);
        cache.lead(second, 4);
        cache.remember(1, u"first"_s, u"m"_s, Usage(), 100);
        QVERIFY(!cache.unstored(second));
        cache.remember(2, u"second"_s, u"m"_s, Usage(), 100);
        cache.remember(3, u"third"_s, u"m"_s, Usage(), 100);
        cache.remember(4, u"second again"_s, u"m"_s, Usage(), 100); // the first answer stays
        QCOMPARE(cache.unstored(first)->output, u"first"_s);
        QCOMPARE(cache.unstored(second)->output, u"second"_s);
        QCOMPARE(cache.unstored(third)->output, u"third"_s);
        QVERIFY(!cache.unstored("0123456789abcdef" + QByteArray(48, '9')));
        const QList<bd::store::CachedResponse> written = cache.takeUnstored(200);
        QCOMPARE(written.size(), 3);
        QCOMPARE(written.at(1).key, second);
        QCOMPARE(cache.unstored(second)->output, u"second"_s); // taken, its write not ended
        QCOMPARE(cache.unstored(third)->output, u"third"_s);
        cache.takenStored();
        QVERIFY(!cache.unstored(second)); // written
    }

    void answersAreWrittenByTimeCountOrStop()
    {
        ResponseCoalescer cache(true, ResponseCoalescer::Options{.flushEntries = 3,
                                                                 .flushIntervalMs = 10'000});
        QVERIFY(!cache.writeDue(0, true)); // nothing kept: nothing to write, even stopping
        cache.takeUnstored(0);             // the interval starts at 0
        cache.takenStored();
        for (qint64 id : {1, 2}) {
            const QByteArray key = QByteArray::number(id);
            cache.lead(key, id);
            cache.remember(id, u"answer"_s, u"m"_s, Usage(), 100);
        }
        QVERIFY(!cache.writeDue(9'999, false));
        QVERIFY(cache.writeDue(9'999, true)); // the runner stops: written now
        QVERIFY(cache.writeDue(10'000, false)); // the interval has passed
        cache.lead("3", 3);
        cache.remember(3, u"answer"_s, u"m"_s, Usage(), 200);
        QVERIFY(cache.writeDue(300, false)); // three kept: the count is reached
        const QList<bd::store::CachedResponse> written = cache.takeUnstored(300);
        QCOMPARE(written.size(), 3);
        // Taken, not yet written (a write behind the engine thread): still answered here.
        QVERIFY(cache.unstored("1"));
        cache.takenStored();
        QVERIFY(!cache.unstored("1")); // written: the store answers for it now
        cache.lead("4", 4);
        cache.remember(4, u"answer"_s, u"m"_s, Usage(), 400);
        QVERIFY(!cache.writeDue(10'299, false)); // the interval restarted at 300
        QVERIFY(cache.writeDue(10'300, false));
    }

    void groupLookupHoldsUntilAnswersAreWritten()
    {
        // A job of three rows, the first one completed with an answer cached under "k1".
        ClaimedJob job(3);
        bd::store::SqliteStore &store = job.store;
        const QList<ClaimedTask> &claimed = job.tasks;
        QCOMPARE(claimed.size(), 3);
        QVERIFY(answerInStore(store, claimed.at(0), "k1", u"yes"_s));

        ResponseCoalescer cache(true);
        cache.setStore(&store);
        const ClaimedTask &second = claimed.at(1);
        const ClaimedTask &third = claimed.at(2);
        cache.lookAhead({{second.id, {u"p2"_s, "k1", second.templateRevision}},
                         {third.id, {u"p3"_s, "k3", third.templateRevision}}},
                        0);
        QCOMPARE(cache.lookedAhead(second)->prompt, u"p2"_s);
        ClaimedTask replayed = third;
        replayed.templateRevision += 1; // replayed with another template since the lookup
        QVERIFY(!cache.lookedAhead(replayed));

        bd::store::CachedResponse answer;
        QCOMPARE(cache.coalesce("k1", second, &answer), ResponseCoalescer::Verdict::Answered);
        QCOMPARE(answer.output, u"yes"_s);
        // "k3" was not in the store when the group was read. Written since by another
        // worker: the group's read still holds (no read per task)...
        bd::store::CachedResponse k3;
        k3.key = "k3";
        k3.taskId = claimed.at(0).id;
        QVERIFY(store.storeCachedResponses({k3}));
        QCOMPARE(cache.coalesce("k3", third, &answer), ResponseCoalescer::Verdict::Send);
        // ...until this runner writes answers: then a task's key is read again.
        cache.lead("k9", 99);
        cache.remember(99, u"x"_s, u"sim-1"_s, Usage{}, 0);
        QVERIFY(cache.writeDue(0, true));
        cache.takeUnstored(0);
        cache.takenStored();
        QCOMPARE(cache.coalesce("k3", third, &answer), ResponseCoalescer::Verdict::Answered);
        // A key in flight: the task follows its leader, whatever the store holds.
        cache.lead("k1", second.id);
        QCOMPARE(cache.coalesce("k1", third, &answer), ResponseCoalescer::Verdict::Follows);
        QCOMPARE(ids(cache.settleLeader(second.id)), QList<qint64>{third.id});
        // An answer kept here and not yet written is found without the store.
        ResponseCoalescer alone(true);
        alone.lead("k7", 7);
        alone.remember(7, u"seven"_s, u"sim-1"_s, Usage{}, 0);
        alone.settleLeader(7);
        QCOMPARE(alone.coalesce("k7", task(8), &answer), ResponseCoalescer::Verdict::Answered);
        QCOMPARE(answer.output, u"seven"_s);
        QCOMPARE(alone.coalesce("k8", task(9), &answer), ResponseCoalescer::Verdict::Send);
    }

    void keysTheStoreCannotHoldAreNotRead()
    {
        // A new job on an empty cache: its first group finds no entry at all, so none of its
        // keys can be there until someone writes one.
        ClaimedJob job(4);
        bd::store::SqliteStore &store = job.store;
        const QList<ClaimedTask> &t = job.tasks;
        QCOMPARE(t.size(), 4);
        ResponseCoalescer cache(true); // counted again each 30 s at the latest
        cache.setStore(&store);
        bd::store::CachedResponse answer;
        cache.lookAhead({{t[0].id, rendered("k0", t[0])}}, 0);
        QCOMPARE(cache.coalesce("k0", t[0], &answer), ResponseCoalescer::Verdict::Send);

        // Another worker answers "k5" meanwhile. Until the store is counted again, the key
        // is not read: a miss (one request more), never a wrong answer...
        QVERIFY(answerInStore(store, t[3], "k5", u"five"_s));
        cache.lookAhead({{t[1].id, rendered("k5", t[1])}}, 29'999);
        QCOMPARE(cache.coalesce("k5", t[1], &answer), ResponseCoalescer::Verdict::Send);
        // ...and a flush interval after the count it is: the store holds someone else's
        // entry, so every key is read from then on.
        cache.lookAhead({{t[2].id, rendered("k5", t[2])}}, 30'000);
        QCOMPARE(cache.coalesce("k5", t[2], &answer), ResponseCoalescer::Verdict::Answered);
        QCOMPARE(answer.output, u"five"_s);
    }

    void answersWrittenHereAreReadBack()
    {
        ClaimedJob job(6);
        bd::store::SqliteStore &store = job.store;
        const QList<ClaimedTask> &t = job.tasks;
        QCOMPARE(t.size(), 6);
        ResponseCoalescer cache(true);
        cache.setStore(&store);
        bd::store::CachedResponse answer;
        // A task leads its key and is answered; the answer is written as the runner does it.
        const auto answerAndWrite = [&](const ClaimedTask &leader, const QByteArray &key,
                                        const QString &output, qint64 nowMs) {
            cache.lead(key, leader.id);
            cache.remember(leader.id, output, u"sim-1"_s, Usage{}, nowMs);
            cache.settleLeader(leader.id);
            const bool written = answerInStore(store, leader, key, output) &&
                                 store.storeCachedResponses(cache.takeUnstored(nowMs));
            cache.takenStored();
            return written;
        };
        cache.lookAhead({{t[0].id, rendered("k0", t[0])}}, 0);
        QCOMPARE(cache.coalesce("k0", t[0], &answer), ResponseCoalescer::Verdict::Send);
        QVERIFY(answerAndWrite(t[0], "k0", u"zero"_s, 10));

        // A later duplicate of t0's request is read from the store, in a group or alone.
        cache.lookAhead({{t[1].id, rendered("k0", t[1])}, {t[2].id, rendered("k2", t[2])}}, 20);
        QCOMPARE(cache.coalesce("k0", t[1], &answer), ResponseCoalescer::Verdict::Answered);
        QCOMPARE(answer.output, u"zero"_s);
        QCOMPARE(cache.coalesce("k0", task(t[1].id + 100), &answer),
                 ResponseCoalescer::Verdict::Answered);
        QCOMPARE(cache.coalesce("k2", t[2], &answer), ResponseCoalescer::Verdict::Send);

        // Someone else writes "k5"; this coalescer's next write has the store counted again
        // at the next group, well within the interval: more entries than written here.
        QVERIFY(answerInStore(store, t[5], "k5", u"five"_s));
        QVERIFY(answerAndWrite(t[2], "k2", u"two"_s, 30));
        cache.lookAhead({{t[3].id, rendered("k5", t[3])}}, 40);
        QCOMPARE(cache.coalesce("k5", t[3], &answer), ResponseCoalescer::Verdict::Answered);
        QCOMPARE(answer.output, u"five"_s);
    }

    void answeredOutcomeCostsNothing()
    {
        const bd::TaskOutcome outcome =
            ResponseCoalescer::answeredOutcome(5, u"out"_s, u"m"_s, 1'234);
        QCOMPARE(outcome.taskId, 5);
        QVERIFY(outcome.cacheHit);
        QCOMPARE(outcome.costUsd.value_or(-1.0), 0.0);
        QCOMPARE(outcome.startedAtMs, 1'234);
        QCOMPARE(outcome.finishedAtMs, 1'234);
        QCOMPARE(outcome.error, bd::ErrorClass::None);
    }

    void disabledSaysSo()
    {
        QVERIFY(!ResponseCoalescer(false).isEnabled());
        QVERIFY(ResponseCoalescer(true).isEnabled());
    }
};

QTEST_GUILESS_MAIN(TestResponseCoalescer)
#include "test_responsecoalescer.moc"
