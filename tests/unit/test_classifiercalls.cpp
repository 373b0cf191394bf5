// Classifier tiering's calls (dispatch/classifiercalls.h), on the fake clock without
// threads: a call goes only when the classifier model's breaker, pacing and the budget let
// it; it is reserved while in flight and billed whatever the label; a label routes the
// task, no answer routes it to the default tier, a 429 or a cancellation leaves it to be
// classified again.

#include "api/jobsettings.h"
#include "core/clock.h"
#include "cost/pricetable.h"
#include "cost/tiering.h"
#include "dispatch/budgetgate.h"
#include "dispatch/classifiercalls.h"
#include "dispatch/router.h"

#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::ErrorClass;
using bd::FakeClock;
using bd::TaskOutcome;
using bd::cost::PriceTable;
using bd::dispatch::BudgetGate;
using bd::dispatch::ClassifierCalls;
using bd::dispatch::Router;
using Kind = ClassifierCalls::Step::Kind;

namespace {

const QStringList kColumns = {u"id"_s, u"text"_s};

QJsonObject classifierSettings(int rpm)
{
    const QJsonObject tiering{
        {u"tiers"_s, QJsonObject{{u"simple"_s, u"small-1"_s},
                                 {u"standard"_s, u"mid-1"_s},
                                 {u"complex"_s, u"big-1"_s}}},
        {u"default"_s, u"standard"_s},
        {u"classifier"_s, QJsonObject{{u"model"_s, u"small-1"_s}, {u"max_tokens"_s, 4}}}};
    return QJsonObject{{bd::settingkeys::tiering, tiering}, {bd::settingkeys::rpm, rpm}};
}

PriceTable prices()
{
    PriceTable table;
    QString error;
    // $1 per million tokens in and out: a call's cost is its tokens / 1e6.
    const bool merged = table.mergeJson(
        R"({"models": {"small-1": {"input": 1, "output": 1}, "mid-1": {"input": 2, "output": 2},
                       "big-1": {"input": 4, "output": 4}}})",
        u"test.json"_s, &error);
    Q_ASSERT(merged);
    return table;
}

ClaimedTask task(qint64 id)
{
    ClaimedTask claimed;
    claimed.id = id;
    claimed.attempts = 1;
    claimed.values = {QString::number(id), u"text"_s};
    return claimed;
}

bd::providers::ChatReply reply(qint64 taskId, ErrorClass error, const QString &text = {})
{
    bd::providers::ChatReply answer;
    answer.taskId = taskId;
    answer.error = error;
    answer.text = text;
    answer.usage.inputTokens = 1'000;
    answer.usage.outputTokens = 1'000;
    return answer;
}

} // namespace

class TestClassifierCalls : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void sendsReservesAndRoutesByTheLabel()
    {
        FakeClock clock;
        Router router(u"auto"_s, classifierSettings(600), kColumns);
        QVERIFY2(router.error().isEmpty(), qPrintable(router.error()));
        BudgetGate budget(10.0);
        const PriceTable table = prices();
        ClassifierCalls calls(42, &router, &budget, &table);

        const ClassifierCalls::Step step =
            calls.prepare(task(7), u"a prompt"_s, 100, clock.nowMs());
        QCOMPARE(step.kind, Kind::Send);
        QCOMPARE(step.request.taskId, qint64(7));
        QCOMPARE(step.request.attempt, 2);
        QCOMPARE(step.request.model, u"small-1"_s);
        QCOMPARE(step.request.systemPrompt, bd::cost::kClassifierInstruction);
        QCOMPARE(step.request.prompt, u"a prompt"_s);
        QCOMPARE(step.request.maxOutputTokens, 4);
        QCOMPARE(step.request.cacheKey, u"batchdesk-classify-42"_s);
        QCOMPARE(calls.inFlight(), 1);
        QVERIFY(budget.reservedUsd() > 0.0);

        QVERIFY(!calls.answer(reply(8, ErrorClass::None, u"simple"_s), clock.nowMs())); // not ours
        const auto answered = calls.answer(reply(7, ErrorClass::None, u"complex"_s), clock.nowMs());
        QVERIFY(answered);
        QCOMPARE(answered->task.id, qint64(7));
        QVERIFY(!answered->rateLimited);
        QVERIFY(calls.isEmpty());
        QCOMPARE(budget.reservedUsd(), 0.0);
        QCOMPARE(budget.spentUsd(), 2'000 / 1e6); // billed at the classifier's price
        QVERIFY(!router.needsClassification(7));
        QCOMPARE(router.modelOf(7), u"big-1"_s);
        TaskOutcome outcome;
        router.takeRoute(7, &outcome);
        QCOMPARE(outcome.classifyCostUsd, 2'000 / 1e6); // rides on the task's outcome
    }

    void noAnswerRoutesToTheDefaultTierA429ClassifiesAgain()
    {
        FakeClock clock;
        Router router(u"auto"_s, classifierSettings(600), kColumns);
        BudgetGate budget;
        const PriceTable table = prices();
        ClassifierCalls calls(1, &router, &budget, &table);
        for (qint64 id = 1; id <= 3; ++id) {
            QCOMPARE(calls.prepare(task(id), u"p"_s, 10, clock.nowMs()).kind, Kind::Send);
            clock.advance(1'000); // past the pace of 600 a minute
        }

        const auto limited = calls.answer(reply(1, ErrorClass::RateLimited), clock.nowMs());
        QVERIFY(limited && limited->rateLimited);
        QVERIFY(router.needsClassification(1)); // asked again later
        const auto cancelled = calls.answer(reply(2, ErrorClass::Cancelled), clock.nowMs());
        QVERIFY(cancelled && !cancelled->rateLimited);
        QVERIFY(router.needsClassification(2));
        const auto failed = calls.answer(reply(3, ErrorClass::ServerError), clock.nowMs());
        QVERIFY(failed && !failed->rateLimited);
        QCOMPARE(router.modelOf(3), u"mid-1"_s);      // no answer: the default tier
        QCOMPARE(budget.spentUsd(), 3 * 2'000 / 1e6); // each reported usage is billed
    }

    void waitsForTheBreakerAndThePace()
    {
        FakeClock clock;
        Router router(u"auto"_s, classifierSettings(60), kColumns); // one a second
        BudgetGate budget;
        const PriceTable table = prices();
        ClassifierCalls calls(1, &router, &budget, &table);
        QCOMPARE(calls.prepare(task(1), u"p"_s, 10, clock.nowMs()).kind, Kind::Send);
        int sent = 1;
        ClassifierCalls::Step step;
        for (qint64 id = 2; id < 200; ++id) {
            step = calls.prepare(task(id), u"p"_s, 10, clock.nowMs());
            if (step.kind != Kind::Send)
                break;
            ++sent;
        }
        QCOMPARE(step.kind, Kind::Wait); // the classifier's rate limit paces the calls
        QVERIFY(step.waitMs > 0);
        QCOMPARE(calls.inFlight(), sent);

        Router down(u"auto"_s, classifierSettings(600), kColumns);
        ClassifierCalls held(1, &down, &budget, &table);
        for (int i = 0; i < 5; ++i)
            down.guardFor(u"small-1"_s).breaker.recordOutageFailure(clock.nowMs());
        step = held.prepare(task(1), u"p"_s, 10, clock.nowMs());
        QCOMPARE(step.kind, Kind::Wait); // the classifier's endpoint looks down
        QVERIFY(step.waitMs > 0);
        QVERIFY(held.isEmpty());
    }

    void refusedByTheBudget()
    {
        FakeClock clock;
        Router router(u"auto"_s, classifierSettings(600), kColumns);
        BudgetGate budget(1.0);
        budget.setSpent(1.0 - 1e-6);
        const PriceTable table = prices();
        ClassifierCalls calls(1, &router, &budget, &table);
        const ClassifierCalls::Step step = calls.prepare(task(1), u"p"_s, 1'000, clock.nowMs());
        QCOMPARE(step.kind, Kind::OverBudget);
        QVERIFY(step.extraUsd > 1e-6);
        QVERIFY(calls.isEmpty());
        QCOMPARE(budget.reservedUsd(), 0.0);
    }
};

QTEST_GUILESS_MAIN(TestClassifierCalls)
#include "test_classifiercalls.moc"
