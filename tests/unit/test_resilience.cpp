// Circuit breaker and rate limiter: pure state over an explicit clock.

#include "dispatch/circuitbreaker.h"
#include "dispatch/ratelimiter.h"

#include <QTest>

using bd::dispatch::CircuitBreaker;
using bd::dispatch::RateLimiter;

class TestResilience : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void breakerOpensAfterThreshold();
    void breakerHalfOpenProbeClosesOnSuccess();
    void breakerReopensWithLongerCooldown();
    void breakerSuccessResetsTheRun();
    void limiterPacesEvenly();
    void limiterTokensPerMinute();
    void limiterSlowsOnRateLimitAndRecovers();
    void limiterLearnsFromHeaders();
    void limiterStormSlowsOnlyOnce();
    void limiterCatchesUpOneLateRequest();
    void limiterWithoutLimitsNeverWaits();
};

void TestResilience::breakerOpensAfterThreshold()
{
    CircuitBreaker breaker(CircuitBreaker::Options{.failureThreshold = 3, .openMs = 10'000});
    qint64 now = 1'000;
    QVERIFY(breaker.allowRequest(now));
    QVERIFY(!breaker.recordOutageFailure(now));
    QVERIFY(!breaker.recordOutageFailure(now));
    QCOMPARE(breaker.state(now), CircuitBreaker::State::Closed);
    QVERIFY(breaker.recordOutageFailure(now)); // the third opens it
    QCOMPARE(breaker.state(now), CircuitBreaker::State::Open);
    QVERIFY(!breaker.allowRequest(now + 9'999));
    QCOMPARE(breaker.waitMs(now + 4'000), 6'000);
    QCOMPARE(breaker.timesOpened(), 1);
}

void TestResilience::breakerHalfOpenProbeClosesOnSuccess()
{
    CircuitBreaker breaker(CircuitBreaker::Options{.failureThreshold = 1, .openMs = 5'000, .halfOpenProbes = 1});
    breaker.recordOutageFailure(0);
    QCOMPARE(breaker.state(4'999), CircuitBreaker::State::Open);
    QCOMPARE(breaker.state(5'000), CircuitBreaker::State::HalfOpen);
    QVERIFY(breaker.allowRequest(5'000));  // the probe
    QVERIFY(!breaker.allowRequest(5'001)); // nothing else until it answers
    breaker.recordSuccess(5'100);
    QCOMPARE(breaker.state(5'100), CircuitBreaker::State::Closed);
    QVERIFY(breaker.allowRequest(5'100));
    QCOMPARE(breaker.consecutiveFailures(), 0);
}

void TestResilience::breakerReopensWithLongerCooldown()
{
    CircuitBreaker breaker(CircuitBreaker::Options{.failureThreshold = 1, .openMs = 1'000, .maxOpenMs = 3'000});
    breaker.recordOutageFailure(0);
    QVERIFY(breaker.allowRequest(1'000)); // half-open probe
    QVERIFY(breaker.recordOutageFailure(1'000));
    QCOMPARE(breaker.waitMs(1'000), 2'000); // doubled
    QVERIFY(breaker.allowRequest(3'000));
    QVERIFY(breaker.recordOutageFailure(3'000));
    QCOMPARE(breaker.waitMs(3'000), 3'000); // capped
    QCOMPARE(breaker.timesOpened(), 3);
}

void TestResilience::breakerSuccessResetsTheRun()
{
    CircuitBreaker breaker(CircuitBreaker::Options{.failureThreshold = 3});
    breaker.recordOutageFailure(0);
    breaker.recordOutageFailure(0);
    breaker.recordSuccess(0);
    QVERIFY(!breaker.recordOutageFailure(0));
    QVERIFY(!breaker.recordOutageFailure(0));
    QCOMPARE(breaker.state(0), CircuitBreaker::State::Closed);
}

void TestResilience::limiterPacesEvenly()
{
    RateLimiter limiter(RateLimiter::Options{.configuredRpm = 600, .headroom = 1.0}); // 100 ms apart
    qint64 now = 0;
    int sent = 0;
    // Over one simulated minute, sending whenever allowed, exactly 600 go out, evenly.
    qint64 last = -1;
    while (now < 60'000) {
        const qint64 wait = limiter.delayMs(10, now);
        if (wait > 0) {
            now += wait;
            continue;
        }
        if (last >= 0)
            QCOMPARE(now - last, 100);
        last = now;
        limiter.consume(10, now);
        ++sent;
    }
    QCOMPARE(sent, 600);
}

void TestResilience::limiterTokensPerMinute()
{
    RateLimiter limiter(RateLimiter::Options{.configuredTpm = 60'000, .headroom = 1.0}); // 1,000/s
    qint64 now = 0;
    qint64 tokens = 0;
    while (now < 60'000) {
        const qint64 wait = limiter.delayMs(500, now);
        if (wait > 0) {
            now += wait;
            continue;
        }
        limiter.consume(500, now);
        tokens += 500;
    }
    // The minute's allowance plus at most one request of head start.
    QVERIFY2(tokens >= 60'000 && tokens <= 60'500, qPrintable(QString::number(tokens)));
}

void TestResilience::limiterSlowsOnRateLimitAndRecovers()
{
    RateLimiter limiter(RateLimiter::Options{.configuredRpm = 600, .decreaseFactor = 0.5,
                                             .recoveryStep = 0.25, .recoveryIntervalMs = 1'000});
    limiter.handleRateLimited(3'000, 10'000, 9'900);
    QCOMPARE(limiter.delayMs(1, 10'000), 3'000); // honours retry-after
    QCOMPARE(limiter.effectiveRpm(), 300.0);
    limiter.handleRateLimited(3'000, 10'050, 9'950); // same burst: no second slowdown
    QCOMPARE(limiter.effectiveRpm(), 300.0);
    QCOMPARE(limiter.delayMs(1, 10'050), 3'000);
    limiter.handleSuccess(13'800); // not yet an interval after the wait
    QCOMPARE(limiter.effectiveRpm(), 300.0);
    limiter.handleSuccess(14'050);
    QCOMPARE(limiter.effectiveRpm(), 450.0);
    limiter.handleSuccess(15'050);
    limiter.handleSuccess(16'050);
    QCOMPARE(limiter.effectiveRpm(), 600.0); // back to the nominal, not above
}

void TestResilience::limiterLearnsFromHeaders()
{
    RateLimiter limiter(RateLimiter::Options{.headroom = 1.0});
    QCOMPARE(limiter.delayMs(1, 0), 0);
    bd::providers::RateLimitInfo info;
    info.limitRequests = 120;
    info.remainingRequests = 9;
    info.resetRequestsMs = 5'000;
    limiter.observe(info, 0);
    QCOMPARE(limiter.nominalRpm(), 120.0);
    limiter.consume(1, 0);
    // Paced at the announced 120 rpm; a few remaining do not stretch the spacing.
    QCOMPARE(limiter.delayMs(1, 0), 500);
    // Nothing remains and the window (capacity 10) is full again in 5 s: the next slot
    // frees in about a tenth of that, not after the whole reset.
    info.remainingRequests = 0;
    limiter.observe(info, 1'000);
    QCOMPARE(limiter.delayMs(1, 1'000), 500);
}

void TestResilience::limiterStormSlowsOnlyOnce()
{
    RateLimiter limiter(RateLimiter::Options{.configuredRpm = 600, .decreaseFactor = 0.5});
    limiter.handleRateLimited(1'000, 0, 0);
    QCOMPARE(limiter.effectiveRpm(), 300.0);
    // The probe after the pause is refused again: the storm goes on, the rate stays.
    limiter.handleRateLimited(1'000, 1'200, 1'100);
    limiter.handleRateLimited(1'000, 2'400, 2'300);
    QCOMPARE(limiter.effectiveRpm(), 300.0);
    QCOMPARE(limiter.delayMs(1, 2'400), 1'000);
    // After a success, a new refusal is a new burst.
    limiter.handleSuccess(3'500);
    limiter.handleRateLimited(1'000, 3'700, 3'600);
    QCOMPARE(limiter.effectiveRpm(), 150.0);
}

void TestResilience::limiterCatchesUpOneLateRequest()
{
    RateLimiter limiter(RateLimiter::Options{.configuredRpm = 600, .headroom = 1.0}); // 100 ms apart
    limiter.consume(1, 0);
    QCOMPARE(limiter.delayMs(1, 100), 0);
    // The timer fired 80 ms late: the next one may go 20 ms after, not 100.
    limiter.consume(1, 180);
    QCOMPARE(limiter.delayMs(1, 180), 20);
    // Very late (a stall): only one request of catch-up, no burst.
    limiter.consume(1, 1'000);
    QCOMPARE(limiter.delayMs(1, 1'000), 0);
    limiter.consume(1, 1'000);
    QCOMPARE(limiter.delayMs(1, 1'000), 100);
}

void TestResilience::limiterWithoutLimitsNeverWaits()
{
    RateLimiter limiter;
    for (int i = 0; i < 1000; ++i) {
        QCOMPARE(limiter.delayMs(100'000, i), 0);
        limiter.consume(100'000, i);
    }
}

QTEST_GUILESS_MAIN(TestResilience)
#include "test_resilience.moc"
