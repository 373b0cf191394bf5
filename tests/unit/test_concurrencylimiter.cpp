// The adaptive concurrency limit against simulated providers on a virtual clock: a server
// that takes at most K requests at once and refuses the rest with 429 (a gateway's or a
// self-hosted server's parallel limit), one whose latency jumps, and a client that keeps
// limit() requests in flight and sends a refused request again at once.

#include "dispatch/concurrencylimiter.h"

#include <algorithm>
#include <functional>
#include <map>
#include <QList>
#include <QTest>
#include <set>

using bd::dispatch::ConcurrencyLimiter;

namespace {

struct Simulation
{
    int parallelLimit = 4;              // the server refuses a request beyond this many (0: none)
    std::function<qint64(qint64)> latencyAt = [](qint64) { return qint64(100); };
    std::function<int(qint64)> demandAt;  // requests the client has to send at most (empty: always more)
    // The client tells a 429 about concurrency from others (dispatch/refusal.h), and holds
    // a refused request's slot for the retry-after as the runner does.
    bool refusalsAboutConcurrency = false;
    qint64 retryAfterMs = 100;

    // Figures over [measureFromMs, end).
    qint64 measureFromMs = 0;
    qint64 answered = 0;
    qint64 refused = 0;
    double inFlightIntegral = 0;
    int minLimit = 1 << 30;
    int maxLimit = 0;
    QList<int> limitEverySecond;

    void run(ConcurrencyLimiter &limiter, qint64 untilMs)
    {
        std::multimap<qint64, qint64> outstanding; // answer time -> sent time
        std::multiset<qint64> cooling;             // refused slots, taken until then
        for (qint64 now = 0; now < untilMs; ++now) {
            while (!cooling.empty() && *cooling.begin() <= now)
                cooling.erase(cooling.begin());
            // Answers due now.
            while (!outstanding.empty() && outstanding.begin()->first <= now) {
                const qint64 sentAt = outstanding.begin()->second;
                outstanding.erase(outstanding.begin());
                limiter.recordAnswer(now - sentAt, int(outstanding.size()), now);
                if (now >= measureFromMs)
                    ++answered;
            }
            // Fill up to the limit; the server refuses (at once) what passes its own limit.
            const int demand = demandAt ? demandAt(now) : 1 << 30;
            while (int(outstanding.size() + cooling.size()) < std::min(limiter.limit(), demand)) {
                if (parallelLimit > 0 && int(outstanding.size()) >= parallelLimit) {
                    if (now >= measureFromMs)
                        ++refused;
                    if (!refusalsAboutConcurrency) {
                        limiter.recordOverload(now);
                        break; // sent again on the next tick
                    }
                    limiter.recordRefusal(now);
                    cooling.insert(now + retryAfterMs);
                    continue;
                }
                outstanding.emplace(now + latencyAt(now), now);
            }
            if (now >= measureFromMs) {
                inFlightIntegral += double(outstanding.size());
                minLimit = std::min(minLimit, limiter.limit());
                maxLimit = std::max(maxLimit, limiter.limit());
            }
            if (now % 1000 == 0)
                limitEverySecond.append(limiter.limit());
        }
    }
    double refusedShare() const { return double(refused) / double(std::max<qint64>(1, answered + refused)); }
    double meanInFlight(qint64 untilMs) const { return inFlightIntegral / double(untilMs - measureFromMs); }
};

} // namespace

class TestConcurrencyLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void startsAtTheCeilingAndNeverPassesIt()
    {
        ConcurrencyLimiter limiter(8);
        QCOMPARE(limiter.limit(), 8);
        Simulation sim;
        sim.parallelLimit = 0; // a provider with no limit of its own
        sim.run(limiter, 20'000);
        QCOMPARE(sim.maxLimit, 8);
        QCOMPARE(sim.minLimit, 8);
        QCOMPARE(sim.refused, 0);
    }

    void convergesOnTheServersParallelLimit()
    {
        ConcurrencyLimiter limiter(32); // a generous ceiling, not a guess
        Simulation sim;
        sim.parallelLimit = 4;
        sim.measureFromMs = 10'000;
        sim.run(limiter, 120'000);
        qInfo("limit %d..%d, mean in flight %.2f, refused %.2f %%", sim.minLimit, sim.maxLimit,
              sim.meanInFlight(120'000), 100.0 * sim.refusedShare());
        // Near the server's limit, without a refusal every few rounds.
        QVERIFY2(sim.minLimit >= 2 && sim.maxLimit <= 6,
                 qPrintable(QStringLiteral("limit %1..%2").arg(sim.minLimit).arg(sim.maxLimit)));
        QVERIFY2(sim.refusedShare() <= 0.02, qPrintable(QString::number(sim.refusedShare())));
        QVERIFY2(sim.meanInFlight(120'000) >= 3.0, qPrintable(QString::number(sim.meanInFlight(120'000))));
    }

    void concurrencyRefusalsLandOnTheLimitAndProbeRarely()
    {
        // The client holds a refused request's slot for its retry-after (100 ms) and tells
        // 429s about concurrency from others. From the first request on, a server of K=4
        // under the default ceiling of 16 (bench_dispatch --part e): at most 1 % refused,
        // at least 95 % of K in flight.
        ConcurrencyLimiter limiter(16);
        Simulation sim;
        sim.refusalsAboutConcurrency = true;
        sim.parallelLimit = 4;
        sim.run(limiter, 40'000);
        qInfo("K=4: refused %lld of %lld (%.2f %%), %.2f in flight", sim.refused, sim.answered,
              100.0 * sim.refusedShare(), sim.meanInFlight(40'000));
        QVERIFY2(sim.refusedShare() <= 0.01, qPrintable(QString::number(sim.refusedShare())));
        QVERIFY2(sim.meanInFlight(40'000) >= 0.95 * 4,
                 qPrintable(QString::number(sim.meanInFlight(40'000))));
        // K=12: the same.
        ConcurrencyLimiter twelve(16);
        Simulation more;
        more.refusalsAboutConcurrency = true;
        more.parallelLimit = 12;
        more.run(twelve, 40'000);
        QVERIFY2(more.refusedShare() <= 0.01, qPrintable(QString::number(more.refusedShare())));
        QVERIFY2(more.meanInFlight(40'000) >= 0.95 * 12,
                 qPrintable(QString::number(more.meanInFlight(40'000))));
    }

    void aBurstOfConcurrencyRefusalsShowsTheSlotsThatAreNot()
    {
        ConcurrencyLimiter limiter(16);
        limiter.recordAnswer(200, 15, 0);
        for (int i = 0; i < 12; ++i)
            limiter.recordRefusal(1000 + i); // 16 sent together, 12 refused: the server takes 4
        QCOMPARE(limiter.limit(), 4);
        // Back at the refused level a while later: the level below held, the next probe
        // waits longer.
        for (int i = 0; i < 400 && limiter.limit() < 5; ++i)
            limiter.recordAnswer(200, limiter.limit(), 2000 + i);
        QCOMPARE(limiter.limit(), 5);
        limiter.recordRefusal(5000);
        QCOMPARE(limiter.limit(), 4); // not a cut by a quarter (3)
        int answers = 0;
        while (limiter.limit() < 5 && answers < 10'000)
            limiter.recordAnswer(200, limiter.limit(), 6000 + answers++);
        QCOMPARE(limiter.limit(), 5);
        QVERIFY2(answers > 4 * 2 * 20 * 3 / 4, qPrintable(QString::number(answers))); // ~40 rounds
    }

    void aBurstOfRefusalsCountsOnce()
    {
        ConcurrencyLimiter limiter(16);
        limiter.recordAnswer(200, 15, 0); // a round trip of about 200 ms is known
        for (int i = 0; i < 12; ++i)
            limiter.recordOverload(1000 + i); // twelve refusals of one moment
        QCOMPARE(limiter.limit(), 12);        // one cut of a quarter
        limiter.recordOverload(1000 + 250);   // a round trip later: a new signal
        QCOMPARE(limiter.limit(), 9);
    }

    void growsBackWhenTheServerTakesMore()
    {
        ConcurrencyLimiter limiter(32);
        Simulation sim;
        sim.parallelLimit = 4;
        sim.run(limiter, 60'000);
        QVERIFY(limiter.limit() <= 6);
        // The server now takes 16 at once: the limit climbs to it (first slowly past the
        // old pushback level, then a step a round once that level is forgotten).
        Simulation more;
        more.parallelLimit = 16;
        more.measureFromMs = 240'000;
        more.run(limiter, 300'000);
        qInfo("after the server took 16: limit %d..%d", more.minLimit, more.maxLimit);
        QVERIFY2(more.minLimit >= 11, qPrintable(QString::number(more.minLimit)));
        QVERIFY(more.maxLimit <= 17);
    }

    void aLatencyClimbCutsTheLimit()
    {
        ConcurrencyLimiter limiter(24);
        Simulation sim;
        sim.parallelLimit = 0;
        // 100 ms, then from t = 30 s the server queues: 1 s for everything.
        sim.latencyAt = [](qint64 now) { return now < 30'000 ? qint64(100) : qint64(1000); };
        sim.run(limiter, 40'000);
        QCOMPARE(sim.limitEverySecond.at(29), 24);
        QVERIFY2(limiter.limit() < 24, qPrintable(QString::number(limiter.limit())));
    }

    void anIdleLimitDoesNotGrow()
    {
        ConcurrencyLimiter limiter(32);
        for (int i = 0; i < 4; ++i)
            limiter.recordOverload(i * 1000); // 32 -> 24 -> 18 -> 13 -> 9
        const int cut = limiter.limit();
        QCOMPARE(cut, 9);
        Simulation sim;
        sim.parallelLimit = 0;
        sim.demandAt = [](qint64) { return 2; }; // the job has only two to send at a time
        sim.run(limiter, 30'000);
        QCOMPARE(limiter.limit(), cut);
    }

    void aLoweredCeilingAppliesAtOnce()
    {
        ConcurrencyLimiter limiter(32);
        limiter.recordAnswer(100, 31, 0);
        limiter.setCeiling(8);
        QCOMPARE(limiter.limit(), 8);
        limiter.setCeiling(16); // raised: reached by growth
        QCOMPARE(limiter.limit(), 8);
        for (int i = 0; i < 200; ++i)
            limiter.recordAnswer(100, limiter.limit(), 1000 + i);
        QCOMPARE(limiter.limit(), 16);
    }
};

QTEST_APPLESS_MAIN(TestConcurrencyLimiter)
#include "test_concurrencylimiter.moc"
