// What a 429 refused (dispatch/refusal.h): the rate when its figures say nothing (or too
// few tokens) remains, requests at once when they show room, and — with no figures at all —
// the rate only from a server that never states them, when a rate is known.

#include "dispatch/refusal.h"

#include <QTest>

using bd::dispatch::Refusal;
using bd::dispatch::classifyRefusal;
using bd::providers::RateLimitInfo;

namespace {

RateLimitInfo figures(qint64 requestsLeft, qint64 tokensLeft)
{
    RateLimitInfo info;
    info.limitRequests = 600;
    info.remainingRequests = requestsLeft;
    info.resetRequestsMs = 100;
    info.limitTokens = 100'000;
    info.remainingTokens = tokensLeft;
    info.resetTokensMs = 100;
    return info;
}

} // namespace

class TestRefusal : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void figuresSayWhich()
    {
        QCOMPARE(classifyRefusal(figures(0, 50'000), 500, true, true), Refusal::Rate);
        QCOMPARE(classifyRefusal(figures(12, 0), 500, true, true), Refusal::Rate);
        QCOMPARE(classifyRefusal(figures(12, 499), 500, true, true), Refusal::Rate); // too few tokens
        QCOMPARE(classifyRefusal(figures(12, 500), 500, true, true), Refusal::Concurrency);
        QCOMPARE(classifyRefusal(figures(590, 90'000), 500, true, true), Refusal::Concurrency);
        // Only the request figures stated.
        RateLimitInfo requestsOnly;
        requestsOnly.remainingRequests = 0;
        QCOMPARE(classifyRefusal(requestsOnly, 500, false, true), Refusal::Rate);
        requestsOnly.remainingRequests = 3;
        QCOMPARE(classifyRefusal(requestsOnly, 500, false, true), Refusal::Concurrency);
    }

    void silenceDependsOnTheServer()
    {
        // Its answers state figures and this refusal none: not about the rate.
        QCOMPARE(classifyRefusal(RateLimitInfo(), 500, true, true), Refusal::Concurrency);
        // A server that never states them (429 + retry-after only): the rate when one is
        // known (--rpm), else nothing to slow down: the concurrency limiter answers.
        QCOMPARE(classifyRefusal(RateLimitInfo(), 500, false, true), Refusal::Rate);
        QCOMPARE(classifyRefusal(RateLimitInfo(), 500, false, false), Refusal::Concurrency);
        QVERIFY(!bd::dispatch::statesRateLimits(RateLimitInfo()));
        QVERIFY(bd::dispatch::statesRateLimits(figures(1, -1)));
    }
};

QTEST_APPLESS_MAIN(TestRefusal)
#include "test_refusal.moc"
