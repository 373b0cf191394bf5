// RetryPolicy: what becomes of one task after one try. Pure logic with a fixed seed, so
// every expectation here is exact.

#include "dispatch/retrypolicy.h"

#include <QSet>
#include <QTest>

using bd::ErrorClass;
using bd::OutcomeAction;
using bd::TaskOutcome;
using bd::TaskTransition;
using bd::dispatch::RetryPolicy;

Q_DECLARE_METATYPE(bd::ErrorClass)

namespace {

constexpr qint64 kNow = 1'700'000'000'000;
constexpr quint32 kSeed = 12345;

TaskOutcome outcomeOf(ErrorClass error, qint64 taskId = 7)
{
    TaskOutcome outcome;
    outcome.taskId = taskId;
    outcome.error = error;
    outcome.httpStatus = error == ErrorClass::None ? 200 : 500;
    outcome.output = error == ErrorClass::None ? QStringLiteral("answer") : QString();
    outcome.errorMessage = error == ErrorClass::None ? QString() : QStringLiteral("boom");
    return outcome;
}

RetryPolicy::Options optionsWith(int maxRetries)
{
    RetryPolicy::Options options;
    options.maxRetries = maxRetries;
    options.baseDelayMs = 1'000;
    options.maxDelayMs = 60'000;
    options.rateLimitDefaultMs = 5'000;
    return options;
}

} // namespace

class TestRetryPolicy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void successCompletesCharged();
    void cacheHitCompletesUncharged();
    void invalidRequestDeadLettersAtOnce();
    void rateLimitReleasesUncharged_data();
    void rateLimitReleasesUncharged();
    void notTheTasksFaultReleasesUncharged_data();
    void notTheTasksFaultReleasesUncharged();
    void retryableErrorsRetryWithinCeiling_data();
    void retryableErrorsRetryWithinCeiling();
    void ceilingsDoubleAndCap();
    void waitsStayWithinGrowingCeilings();
    void maxRetriesZeroDiesOnFirstFailure();
    void maxRetriesThreeDiesOnFourthFailure();
    void retryAfterLargerThanJitterIsHonoured();
    void retryAfterSmallerThanCeilingIsAFloor();
    void jitterVaries();
    void sameSeedSameWaits();
};

void TestRetryPolicy::successCompletesCharged()
{
    RetryPolicy policy(optionsWith(3), kSeed);
    const TaskOutcome outcome = outcomeOf(ErrorClass::None);
    const TaskTransition t = policy.decide(outcome, 0, kNow);
    QCOMPARE(t.action, OutcomeAction::Complete);
    QVERIFY(t.chargeAttempt);
    QCOMPARE(t.notBeforeMs, kNow);
    QCOMPARE(t.outcome.taskId, 7);
    QCOMPARE(t.outcome.output, QStringLiteral("answer"));
    QCOMPARE(t.outcome.httpStatus, 200);

    // A success after earlier failures still completes, whatever the retry budget says.
    const TaskTransition late = policy.decide(outcome, 3, kNow);
    QCOMPARE(late.action, OutcomeAction::Complete);
    QVERIFY(late.chargeAttempt);
}

void TestRetryPolicy::cacheHitCompletesUncharged()
{
    RetryPolicy policy(optionsWith(3), kSeed);
    TaskOutcome outcome = outcomeOf(ErrorClass::None);
    outcome.cacheHit = true;
    const TaskTransition t = policy.decide(outcome, 0, kNow);
    QCOMPARE(t.action, OutcomeAction::Complete);
    QVERIFY(!t.chargeAttempt);
    QVERIFY(t.outcome.cacheHit);
}

void TestRetryPolicy::invalidRequestDeadLettersAtOnce()
{
    RetryPolicy policy(optionsWith(3), kSeed);
    TaskOutcome outcome = outcomeOf(ErrorClass::InvalidRequest);
    outcome.httpStatus = 400;
    outcome.errorMessage = QStringLiteral("bad prompt");
    // First try, plenty of retries left: still dead at once, and the try counts.
    const TaskTransition t = policy.decide(outcome, 0, kNow);
    QCOMPARE(t.action, OutcomeAction::DeadLetter);
    QVERIFY(t.chargeAttempt);
    QCOMPARE(t.outcome.errorMessage, QStringLiteral("bad prompt"));
    QCOMPARE(t.outcome.httpStatus, 400);
}

void TestRetryPolicy::rateLimitReleasesUncharged_data()
{
    QTest::addColumn<qint64>("retryAfterMs");
    QTest::addColumn<int>("attemptsBefore");
    QTest::addColumn<qint64>("expectedWaitMs");
    QTest::newRow("retry-after given") << qint64(12'345) << 0 << qint64(12'345);
    QTest::newRow("retry-after zero") << qint64(0) << 0 << qint64(0);
    QTest::newRow("no retry-after: default") << qint64(-1) << 0 << qint64(5'000);
    // A 429 never kills a task, not even one whose retries are spent.
    QTest::newRow("retries spent") << qint64(700) << 99 << qint64(700);
}

void TestRetryPolicy::rateLimitReleasesUncharged()
{
    QFETCH(qint64, retryAfterMs);
    QFETCH(int, attemptsBefore);
    QFETCH(qint64, expectedWaitMs);
    RetryPolicy policy(optionsWith(3), kSeed);
    TaskOutcome outcome = outcomeOf(ErrorClass::RateLimited);
    outcome.httpStatus = 429;
    const TaskTransition t = policy.decide(outcome, attemptsBefore, kNow, retryAfterMs);
    QCOMPARE(t.action, OutcomeAction::Release);
    QVERIFY(!t.chargeAttempt);
    QCOMPARE(t.notBeforeMs, kNow + expectedWaitMs);
}

void TestRetryPolicy::notTheTasksFaultReleasesUncharged_data()
{
    QTest::addColumn<ErrorClass>("error");
    QTest::newRow("quota") << ErrorClass::QuotaExhausted;
    QTest::newRow("auth") << ErrorClass::Auth;
    QTest::newRow("cancelled") << ErrorClass::Cancelled;
}

void TestRetryPolicy::notTheTasksFaultReleasesUncharged()
{
    QFETCH(ErrorClass, error);
    RetryPolicy policy(optionsWith(0), kSeed);
    for (int attemptsBefore : {0, 1, 5}) {
        const TaskTransition t = policy.decide(outcomeOf(error), attemptsBefore, kNow, 30'000);
        QCOMPARE(t.action, OutcomeAction::Release);
        QVERIFY(!t.chargeAttempt);
        QCOMPARE(t.notBeforeMs, kNow); // waits for a resume, not for a clock
    }
}

void TestRetryPolicy::retryableErrorsRetryWithinCeiling_data()
{
    QTest::addColumn<ErrorClass>("error");
    QTest::newRow("overloaded") << ErrorClass::Overloaded;
    QTest::newRow("server error") << ErrorClass::ServerError;
    QTest::newRow("timeout") << ErrorClass::Timeout;
    QTest::newRow("network") << ErrorClass::Network;
    QTest::newRow("malformed") << ErrorClass::Malformed;
}

void TestRetryPolicy::retryableErrorsRetryWithinCeiling()
{
    QFETCH(ErrorClass, error);
    RetryPolicy policy(optionsWith(3), kSeed);
    for (int i = 0; i < 50; ++i) {
        const TaskTransition t = policy.decide(outcomeOf(error), 0, kNow);
        QCOMPARE(t.action, OutcomeAction::Retry);
        QVERIFY(t.chargeAttempt);
        QVERIFY2(t.notBeforeMs >= kNow && t.notBeforeMs <= kNow + 1'000,
                 qPrintable(QString::number(t.notBeforeMs - kNow)));
    }
}

void TestRetryPolicy::ceilingsDoubleAndCap()
{
    RetryPolicy policy(optionsWith(20), kSeed);
    QCOMPARE(policy.backoffCeilingMs(1), 1'000);
    QCOMPARE(policy.backoffCeilingMs(2), 2'000);
    QCOMPARE(policy.backoffCeilingMs(3), 4'000);
    QCOMPARE(policy.backoffCeilingMs(4), 8'000);
    QCOMPARE(policy.backoffCeilingMs(5), 16'000);
    QCOMPARE(policy.backoffCeilingMs(6), 32'000);
    QCOMPARE(policy.backoffCeilingMs(7), 60'000); // 64 s capped
    QCOMPARE(policy.backoffCeilingMs(8), 60'000);
    QCOMPARE(policy.backoffCeilingMs(40), 60'000); // no shift overflow
    QCOMPARE(policy.backoffCeilingMs(1'000), 60'000);

    RetryPolicy::Options odd = optionsWith(3);
    odd.baseDelayMs = 300;
    odd.maxDelayMs = 1'000;
    RetryPolicy small(odd, kSeed);
    QCOMPARE(small.backoffCeilingMs(1), 300);
    QCOMPARE(small.backoffCeilingMs(2), 600);
    QCOMPARE(small.backoffCeilingMs(3), 1'000);
}

void TestRetryPolicy::waitsStayWithinGrowingCeilings()
{
    RetryPolicy policy(optionsWith(20), kSeed);
    for (int attemptsBefore = 0; attemptsBefore < 12; ++attemptsBefore) {
        const qint64 ceiling = policy.backoffCeilingMs(attemptsBefore + 1);
        qint64 largest = 0;
        for (int i = 0; i < 200; ++i) {
            const TaskTransition t =
                policy.decide(outcomeOf(ErrorClass::ServerError), attemptsBefore, kNow);
            QCOMPARE(t.action, OutcomeAction::Retry);
            const qint64 wait = t.notBeforeMs - kNow;
            QVERIFY2(wait >= 0 && wait <= ceiling,
                     qPrintable(QStringLiteral("attempt %1: wait %2, ceiling %3")
                                    .arg(attemptsBefore)
                                    .arg(wait)
                                    .arg(ceiling)));
            largest = qMax(largest, wait);
        }
        // Full jitter uses the whole range: over 200 draws the largest wait gets near the top.
        QVERIFY2(largest > ceiling / 2, qPrintable(QString::number(largest)));
    }
}

void TestRetryPolicy::maxRetriesZeroDiesOnFirstFailure()
{
    RetryPolicy policy(optionsWith(0), kSeed);
    const TaskTransition t = policy.decide(outcomeOf(ErrorClass::ServerError), 0, kNow);
    QCOMPARE(t.action, OutcomeAction::DeadLetter);
    QVERIFY(t.chargeAttempt);
}

void TestRetryPolicy::maxRetriesThreeDiesOnFourthFailure()
{
    RetryPolicy policy(optionsWith(3), kSeed);
    // Drive one task the way the store would: attempts grow by one per charged transition.
    int attempts = 0;
    int tries = 0;
    QList<OutcomeAction> actions;
    for (;;) {
        ++tries;
        const TaskTransition t = policy.decide(outcomeOf(ErrorClass::Timeout), attempts, kNow);
        actions.append(t.action);
        QVERIFY(t.chargeAttempt);
        attempts += t.chargeAttempt ? 1 : 0;
        if (t.action != OutcomeAction::Retry)
            break;
        QVERIFY(tries < 100);
    }
    QCOMPARE(tries, 4); // 1 + maxRetries
    QCOMPARE(attempts, 4);
    QCOMPARE(actions, (QList<OutcomeAction>{OutcomeAction::Retry, OutcomeAction::Retry,
                                            OutcomeAction::Retry, OutcomeAction::DeadLetter}));

    // Uncharged refusals in between do not use up the budget.
    attempts = 2;
    for (int i = 0; i < 10; ++i) {
        const TaskTransition t =
            policy.decide(outcomeOf(ErrorClass::RateLimited), attempts, kNow, 100);
        QCOMPARE(t.action, OutcomeAction::Release);
        attempts += t.chargeAttempt ? 1 : 0;
    }
    QCOMPARE(attempts, 2);
    QCOMPARE(policy.decide(outcomeOf(ErrorClass::Timeout), attempts, kNow).action,
             OutcomeAction::Retry);
    QCOMPARE(policy.decide(outcomeOf(ErrorClass::Timeout), 3, kNow).action,
             OutcomeAction::DeadLetter);
}

void TestRetryPolicy::retryAfterLargerThanJitterIsHonoured()
{
    RetryPolicy policy(optionsWith(3), kSeed);
    // Ceiling of the first retry is 1 s; the provider asks for 50 s.
    for (int i = 0; i < 20; ++i) {
        const TaskTransition t =
            policy.decide(outcomeOf(ErrorClass::Overloaded), 0, kNow, 50'000);
        QCOMPARE(t.action, OutcomeAction::Retry);
        QCOMPARE(t.notBeforeMs, kNow + 50'000);
    }
    // Even beyond the cap: the provider's word wins over our own ceiling.
    const TaskTransition t = policy.decide(outcomeOf(ErrorClass::Overloaded), 2, kNow, 90'000);
    QCOMPARE(t.action, OutcomeAction::Retry);
    QCOMPARE(t.notBeforeMs, kNow + 90'000);
}

void TestRetryPolicy::retryAfterSmallerThanCeilingIsAFloor()
{
    RetryPolicy policy(optionsWith(10), kSeed);
    // attemptsBefore 5: ceiling 32 s; retry-after 10 s is a floor, the ceiling stays the top.
    QSet<qint64> waits;
    for (int i = 0; i < 200; ++i) {
        const TaskTransition t = policy.decide(outcomeOf(ErrorClass::ServerError), 5, kNow, 10'000);
        const qint64 wait = t.notBeforeMs - kNow;
        QVERIFY2(wait >= 10'000 && wait <= 32'000, qPrintable(QString::number(wait)));
        waits.insert(wait);
    }
    QVERIFY(waits.size() > 10);
}

void TestRetryPolicy::jitterVaries()
{
    RetryPolicy policy(optionsWith(3), kSeed);
    QSet<qint64> waits;
    for (int i = 0; i < 100; ++i)
        waits.insert(policy.decide(outcomeOf(ErrorClass::ServerError), 1, kNow).notBeforeMs);
    // 100 draws from 0..2000: all equal would mean no jitter at all.
    QVERIFY2(waits.size() > 50, qPrintable(QString::number(waits.size())));

    // Two policies seeded differently do not march in lockstep (tasks that failed together
    // must not come back together).
    RetryPolicy a(optionsWith(3), 1);
    RetryPolicy b(optionsWith(3), 2);
    int same = 0;
    for (int i = 0; i < 100; ++i) {
        if (a.decide(outcomeOf(ErrorClass::ServerError), 2, kNow).notBeforeMs
            == b.decide(outcomeOf(ErrorClass::ServerError), 2, kNow).notBeforeMs)
            ++same;
    }
    QVERIFY2(same < 10, qPrintable(QString::number(same)));
}

void TestRetryPolicy::sameSeedSameWaits()
{
    RetryPolicy a(optionsWith(3), kSeed);
    RetryPolicy b(optionsWith(3), kSeed);
    for (int i = 0; i < 50; ++i) {
        QCOMPARE(a.decide(outcomeOf(ErrorClass::Network), i % 3, kNow).notBeforeMs,
                 b.decide(outcomeOf(ErrorClass::Network), i % 3, kNow).notBeforeMs);
    }
}

QTEST_GUILESS_MAIN(TestRetryPolicy)
#include "test_retrypolicy.moc"
