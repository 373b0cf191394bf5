// BackPressure on its own (dispatch/backpressure.h), on a fake clock without threads: a 429
// about concurrency keeps only the refused request's slot cooling for its retry-after (1 s
// when it names none, 10 s at most) while the lane's rate limiter goes on; one about the
// rate makes the rate limiter wait and leaves every slot free; a refusal without figures is
// about the rate only from a server that never states them and with a rate known; the
// concurrency limiter cuts for overloads, timeouts and refusals, keeps its limit for fast
// answers and ignores our own cancellations.

#include "dispatch/backpressure.h"
#include "dispatch/concurrencylimiter.h"
#include "dispatch/providerguard.h"
#include "dispatch/router.h"

#include <QJsonObject>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ErrorClass;
using bd::dispatch::BackPressure;
using bd::dispatch::ConcurrencyLimiter;
using bd::dispatch::ProviderGuard;
using bd::dispatch::Refusal;
using bd::providers::ChatReply;

namespace {

constexpr qint64 kNow = 1'700'000'000'000;

ChatReply refused(qint64 remainingRequests, qint64 retryAfterMs = -1)
{
    ChatReply reply;
    reply.error = ErrorClass::RateLimited;
    reply.httpStatus = 429;
    reply.retryAfterMs = retryAfterMs;
    reply.rateLimits.limitRequests = remainingRequests >= 0 ? 60 : -1;
    reply.rateLimits.remainingRequests = remainingRequests;
    return reply;
}

std::shared_ptr<ProviderGuard> guardWithRpm(int rpm)
{
    return bd::dispatch::Router::makeGuard(rpm > 0 ? QJsonObject{{u"rpm"_s, rpm}} : QJsonObject{});
}

} // namespace

class TestBackPressure : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void aRefusalForConcurrencyCoolsOnlyItsSlot()
    {
        ConcurrencyLimiter limiter(8);
        BackPressure pressure(&limiter);
        auto guard = guardWithRpm(0);
        pressure.rateLimited(*guard, refused(5, 500), 10, kNow - 20, kNow);
        pressure.rateLimited(*guard, refused(5), 10, kNow - 20, kNow);         // 1 s
        pressure.rateLimited(*guard, refused(5, 60'000), 10, kNow - 20, kNow); // 10 s at most
        QCOMPARE(pressure.coolingSlots(kNow), 3);
        QCOMPARE(pressure.msUntilSlotFrees(kNow), 500);
        QCOMPARE(guard->limiter.delayMs(10, kNow), 0); // the lane goes on
        QCOMPARE(pressure.coolingSlots(kNow + 500), 2);
        QCOMPARE(pressure.coolingSlots(kNow + 1'000), 1);
        QCOMPARE(pressure.msUntilSlotFrees(kNow + 1'000), 9'000);
        QCOMPARE(pressure.coolingSlots(kNow + 10'000), 0);
        QCOMPARE(pressure.msUntilSlotFrees(kNow + 10'000), 0);
    }

    void aRefusalForTheRateMakesTheLaneWait()
    {
        ConcurrencyLimiter limiter(8);
        BackPressure pressure(&limiter);
        auto guard = guardWithRpm(0);
        QCOMPARE(pressure.refusalOf(*guard, refused(0, 2'000), 10), Refusal::Rate);
        pressure.rateLimited(*guard, refused(0, 2'000), 10, kNow - 20, kNow);
        QVERIFY(guard->limiter.delayMs(10, kNow) > 0);
        QCOMPARE(pressure.coolingSlots(kNow), 0);
    }

    void aRefusalWithoutFiguresIsTheRateOnlyWhenThatIsAllItCanBe()
    {
        ConcurrencyLimiter limiter(8);
        BackPressure pressure(&limiter);
        const ChatReply bare = refused(-1);
        QCOMPARE(pressure.refusalOf(*guardWithRpm(0), bare, 10), Refusal::Concurrency);
        QCOMPARE(pressure.refusalOf(*guardWithRpm(60), bare, 10), Refusal::Rate);
        bd::providers::RateLimitInfo stated;
        stated.limitRequests = 60;
        stated.remainingRequests = 30;
        pressure.observe(stated); // this server states its figures: a bare 429 is not the rate
        QCOMPARE(pressure.refusalOf(*guardWithRpm(60), bare, 10), Refusal::Concurrency);
        pressure.observe({}); // once seen, it stays known
        QCOMPARE(pressure.refusalOf(*guardWithRpm(60), bare, 10), Refusal::Concurrency);
    }

    void theConcurrencyLimiterHearsWhatAnswersSay()
    {
        ConcurrencyLimiter limiter(32);
        BackPressure pressure(&limiter);
        const int start = limiter.limit();
        ChatReply cancelled;
        cancelled.error = ErrorClass::Cancelled;
        pressure.answered(cancelled, kNow - 5'000, 0, Refusal::Rate, kNow);
        QCOMPARE(limiter.limit(), start);

        ChatReply overloaded;
        overloaded.error = ErrorClass::Overloaded;
        pressure.answered(overloaded, kNow - 50, 0, Refusal::Rate, kNow);
        const int afterOverload = limiter.limit();
        QVERIFY(afterOverload < start);

        // Refused for concurrency, or for the rate: cut as for an overload.
        for (const Refusal refusal : {Refusal::Concurrency, Refusal::Rate}) {
            ConcurrencyLimiter other(32);
            BackPressure refusals(&other);
            refusals.answered(refused(5), kNow - 10, 0, refusal, kNow);
            QCOMPARE(other.limit(), afterOverload);
        }

        ConcurrencyLimiter answeredNormally(32);
        BackPressure answers(&answeredNormally);
        ChatReply ok;
        for (int i = 0; i < 50; ++i)
            answers.answered(ok, kNow + i * 100 - 80, 16, Refusal::Rate, kNow + i * 100);
        QCOMPARE(answeredNormally.limit(), 32); // fast answers: nothing to cut

        ConcurrencyLimiter timedOut(32);
        BackPressure timeouts(&timedOut);
        ChatReply timeout;
        timeout.error = ErrorClass::Timeout;
        timeouts.answered(timeout, kNow - 30'000, 0, Refusal::Rate, kNow);
        QCOMPARE(timedOut.limit(), afterOverload);
    }
};

QTEST_GUILESS_MAIN(TestBackPressure)
#include "test_backpressure.moc"
