// CircuitAlerts on its own (dispatch/circuitalerts.h), on a fake clock without threads, over
// a real CircuitBreaker: circuit_open is raised once, when a run of outage failures opens the
// breaker from closed (with the provider, the count and the last error); a failed half-open
// probe reopens it without a second alert; a success clears it only when it was not closed.

#include "dispatch/circuitalerts.h"
#include "dispatch/circuitbreaker.h"

#include <QTest>

using namespace Qt::StringLiterals;
using bd::dispatch::CircuitAlerts;
using bd::dispatch::CircuitBreaker;

namespace {

constexpr qint64 kNow = 1'700'000'000'000;

CircuitBreaker::Options breakerOptions()
{
    CircuitBreaker::Options options;
    options.failureThreshold = 3;
    options.openMs = 1'000;
    return options;
}

} // namespace

class TestCircuitAlerts : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void raisedOnceWhenTheBreakerOpens()
    {
        CircuitBreaker breaker(breakerOptions());
        const CircuitAlerts alerts(7, u"Loopback"_s);
        QVERIFY(!alerts.outage(breaker, u"connection refused"_s, kNow));
        QVERIFY(!alerts.outage(breaker, u"connection refused"_s, kNow + 10));
        const auto raised = alerts.outage(breaker, u"HTTP 503"_s, kNow + 20);
        QVERIFY(raised);
        QCOMPARE(breaker.state(kNow + 20), CircuitBreaker::State::Open);
        QCOMPARE(raised->kind, u"circuit_open"_s);
        QCOMPARE(raised->jobId, qint64(7));
        QCOMPARE(raised->atMs, kNow + 20);
        QCOMPARE(
            raised->message,
            u"Loopback looks down (3 failures in a row, last: HTTP 503); holding all requests"_s);
        QCOMPARE(raised->figures.value(u"failures"_s).toInt(), 3);
        QCOMPARE(raised->figures.value(u"value"_s).toInt(), 3);
        QCOMPARE(raised->figures.value(u"threshold"_s).toInt(), 0);
        QCOMPARE(raised->figures.value(u"provider"_s).toString(), u"Loopback"_s);
    }

    void aFailedProbeReopensWithoutASecondAlert()
    {
        CircuitBreaker breaker(breakerOptions());
        const CircuitAlerts alerts(7, u"Loopback"_s);
        for (int i = 0; i < 3; ++i)
            alerts.outage(breaker, u"timeout"_s, kNow);
        const qint64 later = kNow + 1'500; // past the cool-down: half-open
        QCOMPARE(breaker.state(later), CircuitBreaker::State::HalfOpen);
        QVERIFY(breaker.allowRequest(later));
        QVERIFY(!alerts.outage(breaker, u"timeout"_s, later));
        QCOMPARE(breaker.state(later), CircuitBreaker::State::Open);
    }

    void aSuccessClearsOnlyAnOpenCircuit()
    {
        CircuitBreaker breaker(breakerOptions());
        const CircuitAlerts alerts(7, u"Loopback"_s);
        QVERIFY(!alerts.recovery(breaker, kNow)); // closed: nothing to clear
        alerts.outage(breaker, u"HTTP 502"_s, kNow);
        QVERIFY(!alerts.recovery(breaker, kNow)); // one failure never opened it
        QCOMPARE(breaker.consecutiveFailures(), 0);
        for (int i = 0; i < 3; ++i)
            alerts.outage(breaker, u"HTTP 502"_s, kNow);
        const qint64 later = kNow + 1'500;
        QVERIFY(breaker.allowRequest(later)); // the half-open probe
        QVERIFY(alerts.recovery(breaker, later));
        QCOMPARE(breaker.state(later), CircuitBreaker::State::Closed);
        QVERIFY(!alerts.recovery(breaker, later));
    }
};

QTEST_GUILESS_MAIN(TestCircuitAlerts)
#include "test_circuitalerts.moc"
