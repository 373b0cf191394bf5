// Response-cache coalescing of one job: the first task of a request key leads and is sent,
// later tasks of the key wait for it and come back when it settles (in the order they
// came), other keys are untouched; answers are kept for their key (first one wins, never
// for a task that led nothing) until they are due to be written — by count, by time on the
// caller's clock, or when the runner stops.

#include "dispatch/responsecoalescer.h"

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

    void answersAreWrittenByTimeCountOrStop()
    {
        ResponseCoalescer cache(true, ResponseCoalescer::Options{.flushEntries = 3,
                                                                 .flushIntervalMs = 10'000});
        QVERIFY(!cache.writeDue(0, true)); // nothing kept: nothing to write, even stopping
        cache.takeUnstored(0);             // the interval starts at 0
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
        QVERIFY(!cache.unstored("1")); // written: the store answers for it now
        cache.lead("4", 4);
        cache.remember(4, u"answer"_s, u"m"_s, Usage(), 400);
        QVERIFY(!cache.writeDue(10'299, false)); // the interval restarted at 300
        QVERIFY(cache.writeDue(10'300, false));
    }

    void disabledSaysSo()
    {
        QVERIFY(!ResponseCoalescer(false).isEnabled());
        QVERIFY(ResponseCoalescer(true).isEnabled());
    }
};

QTEST_APPLESS_MAIN(TestResponseCoalescer)
#include "test_responsecoalescer.moc"
