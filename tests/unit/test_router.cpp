// Routing of one job's tasks (dispatch/router.h): a job on one model sends everything
// there; model "auto" routes by rules (decided at send, kept until the task settles and
// recorded on its outcome) or by a classifier's label (no label, no answer: the default
// tier); classification costs ride on the task's next outcome; every routed model has one
// guard of its own, from the lookup when there is one, so rate limits are per model; a
// tiering that does not bind says why.

#include "dispatch/router.h"

#include "api/jobsettings.h"

#include <QJsonArray>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::TaskOutcome;
using bd::Usage;
using bd::dispatch::ProviderGuard;
using bd::dispatch::Router;

namespace {

const QStringList kColumns = {u"id"_s, u"category"_s};

QJsonObject tieredSettings(const QJsonObject &how)
{
    QJsonObject tiering{{u"tiers"_s, QJsonObject{{u"simple"_s, u"small-1"_s},
                                                 {u"standard"_s, u"mid-1"_s},
                                                 {u"complex"_s, u"big-1"_s}}},
                        {u"default"_s, u"standard"_s}};
    for (auto it = how.begin(); it != how.end(); ++it)
        tiering.insert(it.key(), it.value());
    return QJsonObject{{bd::settingkeys::tiering, tiering}, {bd::settingkeys::rpm, 600}};
}

QJsonObject byCategory()
{
    return tieredSettings({{u"rules"_s,
                            QJsonArray{QJsonObject{{u"tier"_s, u"complex"_s},
                                                   {u"column"_s, u"category"_s},
                                                   {u"in"_s, QJsonArray{u"legal"_s}}},
                                       QJsonObject{{u"tier"_s, u"simple"_s},
                                                   {u"column"_s, u"category"_s},
                                                   {u"equals"_s, u"chat"_s}}}}});
}

ClaimedTask task(qint64 id, const QString &category)
{
    ClaimedTask claimed;
    claimed.id = id;
    claimed.values = {QString::number(id), category};
    return claimed;
}

} // namespace

class TestRouter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void oneModelJob()
    {
        Router router(u"gpt-x"_s, QJsonObject{{bd::settingkeys::rpm, 120}}, kColumns);
        QVERIFY(router.error().isEmpty());
        QVERIFY(!router.isTiered());
        QCOMPARE(router.route(task(1, u"legal"_s), u"p"_s, 10), u"gpt-x"_s);
        QCOMPARE(router.models(), QStringList{u"gpt-x"_s});
        QVERIFY(!router.needsClassification(1));
        TaskOutcome outcome;
        router.takeRoute(1, &outcome);
        QVERIFY(outcome.tier.isEmpty());
        // Every model of the job is the job's: one guard, with the configured limit.
        QCOMPARE(&router.guardFor(u"gpt-x"_s), router.guard().get());
        QCOMPARE(router.guard()->limiter.nominalRpm(), 120.0);
    }

    void rulesRouteEachTaskAndRecordIt()
    {
        Router router(u"auto"_s, byCategory(), kColumns);
        QVERIFY2(router.error().isEmpty(), qPrintable(router.error()));
        QCOMPARE(router.route(task(1, u"legal"_s), u"p"_s, 10), u"big-1"_s);
        QCOMPARE(router.route(task(2, u"chat"_s), u"p"_s, 10), u"small-1"_s);
        QCOMPARE(router.route(task(3, u"other"_s), u"p"_s, 10), u"mid-1"_s);
        QCOMPARE(router.modelOf(1), u"big-1"_s);
        TaskOutcome outcome;
        router.takeRoute(1, &outcome);
        QCOMPARE(outcome.tier, u"complex"_s);
        QCOMPARE(outcome.routedModel, u"big-1"_s);
        // Taken: the task routes afresh when it comes by again.
        QCOMPARE(router.modelOf(1), u"auto"_s);
        router.forget(2); // handed back unsent
        TaskOutcome none;
        router.takeRoute(2, &none);
        QVERIFY(none.routedModel.isEmpty());
    }

    void classifierLabelsRouteAndCostRidesAlong()
    {
        Router router(u"auto"_s,
                      tieredSettings({{u"classifier"_s, QJsonObject{{u"model"_s, u"small-1"_s},
                                                                   {u"max_tokens"_s, 4}}}}),
                      kColumns);
        QVERIFY2(router.error().isEmpty(), qPrintable(router.error()));
        QVERIFY(router.usesClassifier());
        QCOMPARE(router.classifierModel(), u"small-1"_s);
        QCOMPARE(router.classifierMaxTokens(), 4);
        QVERIFY(router.needsClassification(7));
        router.classified(7, u"complex"_s);
        QVERIFY(!router.needsClassification(7));
        QCOMPARE(router.route(task(7, u"x"_s), u"p"_s, 10), u"big-1"_s);
        router.classified(8, u"I cannot tell"_s); // no label: the default tier
        QCOMPARE(router.modelOf(8), u"mid-1"_s);
        router.classified(9, std::nullopt); // no answer at all: the default tier
        QCOMPARE(router.modelOf(9), u"mid-1"_s);

        Usage usage;
        usage.inputTokens = 30;
        usage.outputTokens = 1;
        router.billClassification(7, usage, 0.25);
        router.billClassification(7, usage, 0.125); // classified twice (a 429 the first time)
        TaskOutcome outcome;
        router.takeRoute(7, &outcome);
        QCOMPARE(outcome.classifyCostUsd, 0.375);
        QCOMPARE(outcome.classifyUsage.inputTokens, qint64(60));
        QCOMPARE(outcome.tier, u"complex"_s);
        TaskOutcome again;
        router.takeRoute(7, &again); // billed once
        QCOMPARE(again.classifyCostUsd, 0.0);
    }

    void eachModelHasItsGuard()
    {
        Router alone(u"auto"_s, byCategory(), kColumns);
        ProviderGuard &big = alone.guardFor(u"big-1"_s);
        QCOMPARE(&alone.guardFor(u"big-1"_s), &big); // kept
        QVERIFY(&alone.guardFor(u"small-1"_s) != &big);
        QCOMPARE(big.limiter.nominalRpm(), 600.0); // the job's configured limit
        QCOMPARE(&alone.guardFor(u"auto"_s), alone.guard().get());

        // With a lookup, guards come from it (shared with other jobs on that model).
        auto shared = std::make_shared<ProviderGuard>();
        QStringList asked;
        Router router(u"auto"_s, byCategory(), kColumns);
        router.setGuardLookup([&](const QString &model) {
            asked.append(model);
            return shared;
        });
        QCOMPARE(&router.guardFor(u"big-1"_s), shared.get());
        QCOMPARE(&router.guardFor(u"big-1"_s), shared.get());
        QCOMPARE(asked, QStringList{u"big-1"_s}); // asked once per model
        // A rate limit learnt on one model does not slow another.
        big.limiter.handleRateLimited(5'000, 1'000, 1'000);
        QVERIFY(big.limiter.delayMs(1, 1'000) > 0);
        QCOMPARE(alone.guardFor(u"small-1"_s).limiter.delayMs(1, 1'000), qint64(0));
    }

    void tieringThatDoesNotBindSaysWhy()
    {
        QJsonObject settings = tieredSettings({{u"rules"_s,
                                                QJsonArray{QJsonObject{{u"tier"_s, u"complex"_s},
                                                                       {u"column"_s, u"missing"_s},
                                                                       {u"equals"_s, u"x"_s}}}}});
        Router router(u"auto"_s, settings, kColumns);
        QVERIFY(router.error().startsWith(u"model tiering: "_s));
        QVERIFY2(router.error().contains(u"missing"_s), qPrintable(router.error()));
        QVERIFY(!router.isTiered());
    }
};

QTEST_APPLESS_MAIN(TestRouter)
#include "test_router.moc"
