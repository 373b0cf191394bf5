// ReplySettlement: what a task's reply costs, and which failures are the provider's (back to
// pending uncharged). Pure: a price table, no clock, no store.

#include "dispatch/replysettlement.h"

#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::ErrorClass;
using bd::OutcomeAction;
using bd::TaskOutcome;
using bd::TaskTransition;
using bd::dispatch::ReplySettlement;
using bd::providers::ChatReply;

namespace {

ChatReply answer(const QString &model, ErrorClass error = ErrorClass::None)
{
    ChatReply reply;
    reply.error = error;
    reply.text = u"ok"_s;
    reply.model = model;
    reply.usage.inputTokens = 1'000'000;
    reply.usage.outputTokens = 1'000'000;
    return reply;
}

// $0.40 in and $1.60 out a million tokens, half price on the batch API.
const bd::cost::PriceTable &prices()
{
    static const bd::cost::PriceTable table = [] {
        bd::cost::PriceTable prices;
        QString error;
        const bool merged = prices.mergeJson(
            R"({"models": {"mini-1": {"input": 0.40, "output": 1.60, "batch_discount": 0.5}}})",
            u"test.json"_s, &error);
        Q_ASSERT(merged);
        return prices;
    }();
    return table;
}

TaskTransition charged(OutcomeAction action)
{
    TaskTransition transition;
    transition.action = action;
    transition.chargeAttempt = true;
    transition.notBeforeMs = 99'000;
    return transition;
}

} // namespace

class TestReplySettlement : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void pricesAtTheLanesPrice();
    void unpricedModelIsReportedOncePerJob();
    void localServerBillsNothing();
    void schemaRefusedAnswerIsChargedAsRejected();
    void providerCancellationsAreFreeThreeTimes();
    void expiredLineAndOutageGoBackUncharged();
};

void TestReplySettlement::pricesAtTheLanesPrice()
{
    ReplySettlement settlement(prices(), false);
    ClaimedTask task;
    task.id = 7;
    TaskOutcome sync = ReplySettlement::outcomeOf(task, answer(QString()), u"mini-1"_s, false);
    QCOMPARE(sync.model, u"mini-1"_s); // the routed model when the reply names none
    QVERIFY(!settlement.price(&sync, false));
    QVERIFY(sync.costUsd);
    QCOMPARE(*sync.costUsd, 2.0); // $0.40 + $1.60 a million tokens
    QVERIFY(!sync.realtimeCostUsd);
    TaskOutcome batch = ReplySettlement::outcomeOf(task, answer(u"mini-1"_s), u"other"_s, true);
    QVERIFY(!settlement.price(&batch, true));
    QCOMPARE(*batch.costUsd, 1.0); // half price on the batch API
    QCOMPARE(*batch.realtimeCostUsd, 2.0);
}

void TestReplySettlement::unpricedModelIsReportedOncePerJob()
{
    ReplySettlement settlement(prices(), false);
    ClaimedTask task;
    TaskOutcome first = ReplySettlement::outcomeOf(task, answer(u"no-such-model"_s), {}, false);
    QCOMPARE(settlement.price(&first, false), std::optional<QString>(u"no-such-model"_s));
    QVERIFY(!first.costUsd);
    TaskOutcome second = ReplySettlement::outcomeOf(task, answer(u"no-such-model"_s), {}, false);
    QVERIFY(!settlement.price(&second, false));
    QCOMPARE(settlement.unpricedModels(), QStringList{u"no-such-model"_s});
}

void TestReplySettlement::localServerBillsNothing()
{
    ReplySettlement settlement(prices(), true);
    TaskOutcome outcome =
        ReplySettlement::outcomeOf(ClaimedTask(), answer(u"llama-local"_s), {}, false);
    QVERIFY(!settlement.price(&outcome, false));
    QCOMPARE(outcome.costUsd, std::optional<double>(0.0));
}

void TestReplySettlement::schemaRefusedAnswerIsChargedAsRejected()
{
    ReplySettlement settlement(prices(), false);
    TaskOutcome outcome = ReplySettlement::outcomeOf(ClaimedTask(), answer(u"mini-1"_s), {}, false);
    outcome.error = ErrorClass::InvalidOutput; // what the schema check decided
    settlement.price(&outcome, false);
    QVERIFY(!outcome.costUsd);
    QCOMPARE(outcome.rejectedCostUsd, 2.0);
    QCOMPARE(outcome.rejectedUsage.outputTokens, qint64(1'000'000));
}

void TestReplySettlement::providerCancellationsAreFreeThreeTimes()
{
    ClaimedTask task;
    task.providerCancels = 2;
    const ChatReply cancelled = answer(u"m"_s, ErrorClass::Cancelled);
    const TaskOutcome outcome = ReplySettlement::outcomeOf(task, cancelled, {}, true);
    QCOMPARE(outcome.error, ErrorClass::ProviderCancelled);
    QVERIFY(outcome.errorMessage.contains(u"3 times"_s));
    TaskTransition third = charged(OutcomeAction::Retry);
    ReplySettlement::forgiveProviderFailures(&third, task, cancelled, true, false, 5'000);
    QCOMPARE(third.action, OutcomeAction::Release);
    QVERIFY(!third.chargeAttempt);
    QCOMPARE(third.notBeforeMs, qint64(5'000));
    task.providerCancels = ReplySettlement::kFreeProviderCancels;
    TaskTransition fourth = charged(OutcomeAction::Retry);
    ReplySettlement::forgiveProviderFailures(&fourth, task, cancelled, true, false, 5'000);
    QCOMPARE(fourth.action, OutcomeAction::Retry);
    QVERIFY(fourth.chargeAttempt);
    // A cancelled sync call is our own doing, never the provider's.
    QCOMPARE(ReplySettlement::outcomeOf(task, cancelled, {}, false).error, ErrorClass::Cancelled);
}

void TestReplySettlement::expiredLineAndOutageGoBackUncharged()
{
    const ClaimedTask task;
    TaskTransition expired = charged(OutcomeAction::DeadLetter);
    ReplySettlement::forgiveProviderFailures(&expired, task, answer(u"m"_s, ErrorClass::Timeout),
                                             true, false, 1'000);
    QCOMPARE(expired.action, OutcomeAction::Release);
    QVERIFY(!expired.chargeAttempt);
    // A sync call that timed out is the task's attempt.
    TaskTransition timedOut = charged(OutcomeAction::Retry);
    ReplySettlement::forgiveProviderFailures(&timedOut, task, answer(u"m"_s, ErrorClass::Timeout),
                                             false, false, 1'000);
    QVERIFY(timedOut.chargeAttempt);
    TaskTransition down = charged(OutcomeAction::Retry);
    ReplySettlement::forgiveProviderFailures(&down, task, answer(u"m"_s, ErrorClass::ServerError),
                                             false, true, 1'000);
    QCOMPARE(down.action, OutcomeAction::Release);
    TaskTransition answered = charged(OutcomeAction::Complete);
    ReplySettlement::forgiveProviderFailures(&answered, task, answer(u"m"_s), false, true, 1'000);
    QCOMPARE(answered.action, OutcomeAction::Complete);
}

QTEST_GUILESS_MAIN(TestReplySettlement)
#include "test_replysettlement.moc"
