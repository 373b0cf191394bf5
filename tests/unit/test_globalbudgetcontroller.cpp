// GlobalBudgetController: the cap across every job of the database, decided without
// threads, a store or runners. The stored settings and the spend come in as values, the
// alerts are recorded, the jobs to stop or start come back as decisions.

#include "core/clock.h"
#include "dispatch/globalbudgetcontroller.h"

#include <QTest>

using bd::FakeClock;
using bd::dispatch::GlobalBudget;
using bd::dispatch::GlobalBudgetController;
using namespace Qt::StringLiterals;

namespace {

// What the controller told the alert center, in order.
struct AlertLog
{
    QStringList events; // "raise:<kind>" / "clear:<kind>"
    QSet<QString> open;
    QString lastMessage;

    GlobalBudgetController::Alerts hooks()
    {
        return {
            [this](const QString &kind, const QString &message, const QJsonObject &) {
                events.append(u"raise:"_s + kind);
                open.insert(kind);
                lastMessage = message;
            },
            [this](const QString &kind, const QString &message, const QJsonObject &) {
                events.append(u"clear:"_s + kind);
                open.remove(kind);
                lastMessage = message;
            },
            [this](const QString &kind) { return open.contains(kind); },
        };
    }
};

} // namespace

class TestGlobalBudgetController : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void noCapNeverPauses();
    void warnsAtEightyPercentAndClearsBelow();
    void warnsAtTheConfiguredShare();
    void pausesAtCapAndResumesExactlyThePausedJobsWhenRaised();
    void aHigherCapStillBelowTheSpendPausesAgain();
    void removingTheCapResumes();
    void aNewPeriodResumes();
    void jobPausedByHandIsNotResumed();
    void storedValuesAreCheckedAndKeepThePeriod();

private:
    void load(double cap, const QString &period, double spent);

    FakeClock m_clock{QDateTime(QDate(2025, 3, 14), QTime(12, 0), Qt::UTC).toMSecsSinceEpoch()};
    std::unique_ptr<GlobalBudgetController> m_controller;
    AlertLog m_alerts;
    QList<qint64> m_spendAskedSince;
};

void TestGlobalBudgetController::init()
{
    m_controller = std::make_unique<GlobalBudgetController>();
    m_alerts = {};
    m_controller->setAlerts(m_alerts.hooks());
    m_spendAskedSince.clear();
}

void TestGlobalBudgetController::load(double cap, const QString &period, double spent)
{
    m_controller->load(QString::number(cap), period, m_clock.nowMs(), [this, spent](qint64 since) {
        m_spendAskedSince.append(since);
        return spent;
    });
}

void TestGlobalBudgetController::noCapNeverPauses()
{
    load(0, u"month"_s, 1'000.0);
    const auto decision = m_controller->check();
    QVERIFY(!decision.pauseAll);
    QVERIFY(decision.resume.isEmpty());
    QVERIFY(!m_controller->isPausedAtCap());
    QVERIFY(m_alerts.events.isEmpty());
    QVERIFY(m_controller->budget()->fits(1e9));
}

void TestGlobalBudgetController::warnsAtEightyPercentAndClearsBelow()
{
    load(10.0, u"month"_s, 7.99);
    QVERIFY(!m_controller->check().pauseAll);
    QVERIFY(m_alerts.events.isEmpty());

    load(10.0, u"month"_s, 8.0);
    QVERIFY(!m_controller->check().pauseAll);
    QCOMPARE(m_alerts.events, QStringList{u"raise:global_budget_80"_s});
    QCOMPARE(m_alerts.lastMessage, u"$8.0000 spent of the $10.00 global budget (per month)"_s);
    // Requests in flight are named apart: reserved, not spent.
    m_controller->budget()->reserve(0.5);
    load(10.0, u"month"_s, 8.1);
    m_controller->check();
    QCOMPARE(m_alerts.lastMessage,
             u"$8.1000 spent + $0.5000 in flight of the $10.00 global budget (per month)"_s);
    m_controller->budget()->release(0.5);

    load(20.0, u"month"_s, 8.0); // a higher cap: 40 %
    m_controller->check();
    QCOMPARE(m_alerts.events.last(), u"clear:global_budget_80"_s);
    QVERIFY(m_alerts.open.isEmpty());
}

void TestGlobalBudgetController::warnsAtTheConfiguredShare()
{
    // Monitoring's budget.warn_fraction: 0.5 warns at half the cap; 0 never warns.
    m_controller->setWarnFraction(0.5);
    load(10.0, u"month"_s, 4.99);
    m_controller->check();
    QVERIFY(m_alerts.events.isEmpty());
    load(10.0, u"month"_s, 5.0);
    m_controller->check();
    QCOMPARE(m_alerts.events, QStringList{u"raise:global_budget_80"_s});

    m_controller->setWarnFraction(0.0);
    load(10.0, u"month"_s, 9.5);
    m_controller->check();
    QCOMPARE(m_alerts.events.last(), u"clear:global_budget_80"_s);
    QVERIFY(m_alerts.open.isEmpty());
}

void TestGlobalBudgetController::pausesAtCapAndResumesExactlyThePausedJobsWhenRaised()
{
    load(10.0, u"month"_s, 10.0);
    auto decision = m_controller->check();
    QVERIFY(decision.pauseAll);
    QVERIFY(decision.resume.isEmpty());
    QVERIFY(m_controller->isPausedAtCap());
    QVERIFY(m_alerts.open.contains(GlobalBudgetController::kExhaustedKind));
    QVERIFY(!m_controller->budget()->fits(0.01));

    // The runners stop with the global-budget cause and report back one by one.
    QVERIFY(m_controller->jobStoppedAtCap(3).pauseAll);
    QVERIFY(m_controller->jobStoppedAtCap(1).pauseAll);
    QCOMPARE(m_alerts.events.count(u"raise:global_budget_exhausted"_s), 1); // raised once

    // Each tick re-reads the same figures: still paused, nothing more to do.
    load(10.0, u"month"_s, 10.0);
    decision = m_controller->check();
    QVERIFY(!decision.pauseAll);
    QVERIFY(decision.resume.isEmpty());

    // A cap raised under the same spend resumes exactly the jobs it paused.
    load(15.0, u"month"_s, 10.0);
    decision = m_controller->check();
    QCOMPARE(decision.resume, (QList<qint64>{1, 3}));
    QVERIFY(!decision.pauseAll);
    QVERIFY(!m_controller->isPausedAtCap());
    QVERIFY(m_controller->pausedJobs().isEmpty());
    QVERIFY(!m_alerts.open.contains(GlobalBudgetController::kExhaustedKind));
    QVERIFY(m_alerts.open.isEmpty()); // 10 of 15 is under 80 %

    // Once resumed, a later check does not start them again.
    QVERIFY(m_controller->check().resume.isEmpty());
}

void TestGlobalBudgetController::aHigherCapStillBelowTheSpendPausesAgain()
{
    load(10.0, u"month"_s, 12.0);
    QVERIFY(m_controller->check().pauseAll);
    m_controller->jobStoppedAtCap(5);
    load(11.0, u"month"_s, 12.0);
    const auto decision = m_controller->check();
    // Started again, then stopped again under the new cap: the engine applies both in order.
    QCOMPARE(decision.resume, QList<qint64>{5});
    QVERIFY(decision.pauseAll);
    QVERIFY(m_controller->isPausedAtCap());
    QCOMPARE(m_alerts.events.count(u"raise:global_budget_exhausted"_s), 2);
}

void TestGlobalBudgetController::removingTheCapResumes()
{
    load(5.0, u"day"_s, 5.0);
    QVERIFY(m_controller->check().pauseAll);
    m_controller->jobStoppedAtCap(9);
    load(0.0, u"day"_s, 5.0);
    const auto decision = m_controller->check();
    QCOMPARE(decision.resume, QList<qint64>{9});
    QVERIFY(!decision.pauseAll);
    QVERIFY(!m_controller->isPausedAtCap());
}

void TestGlobalBudgetController::aNewPeriodResumes()
{
    const qint64 todayStart = QDateTime(QDate(2025, 3, 14), QTime(0, 0), Qt::UTC).toMSecsSinceEpoch();
    load(5.0, u"day"_s, 5.0);
    QCOMPARE(m_spendAskedSince.last(), todayStart);
    QVERIFY(m_controller->check().pauseAll);
    m_controller->jobStoppedAtCap(2);

    // Still the same day: the spend stays, the jobs wait.
    m_clock.advance(11 * 3600 * 1000);
    load(5.0, u"day"_s, 5.0);
    QVERIFY(m_controller->check().resume.isEmpty());

    // Past midnight UTC the spend is asked from the new day's start and is lower.
    m_clock.advance(2 * 3600 * 1000);
    load(5.0, u"day"_s, 0.5);
    QCOMPARE(m_spendAskedSince.last(), todayStart + 24 * 3600 * 1000);
    const auto decision = m_controller->check();
    QCOMPARE(decision.resume, QList<qint64>{2});
    QVERIFY(!decision.pauseAll);
}

void TestGlobalBudgetController::jobPausedByHandIsNotResumed()
{
    load(10.0, u"month"_s, 10.0);
    m_controller->check();
    m_controller->jobStoppedAtCap(1);
    m_controller->jobStoppedAtCap(2);
    m_controller->forget(2); // the user paused (or cancelled) it meanwhile
    load(100.0, u"month"_s, 10.0);
    QCOMPARE(m_controller->check().resume, QList<qint64>{1});
}

void TestGlobalBudgetController::storedValuesAreCheckedAndKeepThePeriod()
{
    QVERIFY(!m_controller->toStore(-1.0, u"month"_s));
    QVERIFY(!m_controller->toStore(5.0, u"week"_s));
    load(3.0, u"day"_s, 0.0);
    const auto kept = m_controller->toStore(12.5, QString());
    QVERIFY(kept);
    QCOMPARE(kept->cap, u"12.5"_s);
    QCOMPARE(kept->period, u"day"_s); // no period given: the stored one
    const auto all = m_controller->toStore(0.0, u"all"_s);
    QVERIFY(all);
    QCOMPARE(all->period, u"all"_s);
    // An unreadable stored period falls back to the month.
    load(3.0, u"fortnight"_s, 0.0);
    QCOMPARE(m_controller->budget()->period(), GlobalBudget::Period::Month);
}

QTEST_GUILESS_MAIN(TestGlobalBudgetController)
#include "test_globalbudgetcontroller.moc"
