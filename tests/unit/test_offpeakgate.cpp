// OffPeakGate on its own (dispatch/offpeakgate.h), on a fake clock without threads: a
// priority-3 job with a window holds its work outside it (claimed tasks handed back, the
// waiting reason said once, one timer for the opening, re-armed at least hourly) and goes
// inside it; "run now", a job with nothing left and other priorities are never held; a
// window that does not parse is an error.

#include "core/clock.h"
#include "dispatch/offpeakgate.h"

#include <QDateTime>
#include <QJsonObject>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::dispatch::OffPeakGate;

namespace {

qint64 utc(const QString &iso)
{
    return QDateTime::fromString(iso, Qt::ISODate).toUTC().toMSecsSinceEpoch();
}

const QJsonObject kNightWindow{
    {u"offpeak"_s,
     QJsonObject{{u"start"_s, u"22:00"_s}, {u"end"_s, u"06:00"_s}, {u"timezone"_s, u"UTC"_s}}}};

struct Runner final : OffPeakGate::Host
{
    void offPeakHandBack() override { ++handBacks; }
    void offPeakWaitingChanged(const QString &reason) override { reasons.append(reason); }
    void offPeakWake() override { ++wakes; }

    int handBacks = 0;
    QStringList reasons;
    int wakes = 0;
};

// A priority-3 job with the night window, its clock at `iso`.
struct NightJob
{
    explicit NightJob(const QString &iso)
        : clock(utc(iso))
    {
        gate.configure(3, kNightWindow);
    }
    bd::FakeClock clock;
    Runner runner;
    OffPeakGate gate{&runner, &clock};
};

} // namespace

class TestOffPeakGate : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void holdsOutsideTheWindowAndGoesInside()
    {
        NightJob job(u"2026-12-03T21:30:00Z"_s);
        auto &[clock, runner, gate] = job;
        QVERIFY(gate.error().isEmpty());
        QVERIFY(gate.hasWindow());

        QVERIFY(gate.holds(clock.nowMs(), true, true));
        QCOMPARE(runner.handBacks, 1);
        QCOMPARE(runner.reasons.size(), 1);
        QVERIFY2(runner.reasons.at(0).startsWith(u"waiting for off-peak window 22:00"_s),
                 qPrintable(runner.reasons.at(0)));
        QCOMPARE(gate.waitingFor(clock.nowMs()), runner.reasons.at(0));
        QCOMPARE(gate.wakeInMs(), 30 * 60 * 1000); // at the opening, not a poll

        // Still closed: nothing claimed to hand back, the reason is not said again.
        clock.advance(10 * 60 * 1000);
        QVERIFY(gate.holds(clock.nowMs(), true, false));
        QCOMPARE(runner.handBacks, 1);
        QCOMPARE(runner.reasons.size(), 1);
        QCOMPARE(gate.wakeInMs(), 20 * 60 * 1000);

        // Open: it goes, says so once (an empty reason), and the timer stops.
        clock.set(utc(u"2026-12-03T22:00:00Z"_s));
        QVERIFY(!gate.holds(clock.nowMs(), true, true));
        QCOMPARE(runner.reasons, (QStringList{runner.reasons.at(0), QString()}));
        QVERIFY(!gate.isWaiting());
        QCOMPARE(gate.wakeInMs(), -1);
        QVERIFY(gate.waitingFor(clock.nowMs()).isEmpty());
        QCOMPARE(runner.handBacks, 1);
    }

    void aFarOpeningIsLookedAtHourly()
    {
        // A machine that slept through the opening notices within the hour after it wakes.
        NightJob job(u"2026-12-03T08:00:00Z"_s);
        auto &[clock, runner, gate] = job;
        QVERIFY(gate.holds(clock.nowMs(), true, false));
        QCOMPARE(gate.wakeInMs(), 3'600'000);
        QCOMPARE(runner.handBacks, 0);
    }

    void runNowGoesOutsideTheWindow()
    {
        NightJob job(u"2026-12-03T12:00:00Z"_s);
        auto &[clock, runner, gate] = job;
        QVERIFY(gate.holds(clock.nowMs(), true, true));
        gate.setRunNow(true);
        QVERIFY(gate.runsNow());
        QVERIFY(!gate.holds(clock.nowMs(), true, true));
        QCOMPARE(runner.reasons.size(), 2);
        QVERIFY(runner.reasons.at(1).isEmpty());
        QCOMPARE(gate.wakeInMs(), -1);
    }

    void nothingLeftOrAnotherPriorityIsNeverHeld()
    {
        NightJob job(u"2026-12-03T12:00:00Z"_s);
        auto &[clock, runner, gate] = job;
        QVERIFY(!gate.holds(clock.nowMs(), false, true)); // it may finish
        gate.configure(2, kNightWindow);                  // raised: the window is not its
        QVERIFY(!gate.hasWindow());
        QVERIFY(!gate.holds(clock.nowMs(), true, true));
        QCOMPARE(runner.handBacks, 0);
        QVERIFY(runner.reasons.isEmpty());
    }

    void restartForgetsTheWaitingState()
    {
        // A job started again says it waits again (its stored state was rewritten).
        NightJob job(u"2026-12-03T12:00:00Z"_s);
        auto &[clock, runner, gate] = job;
        QVERIFY(gate.holds(clock.nowMs(), true, false));
        gate.stop();
        QCOMPARE(gate.wakeInMs(), -1);
        gate.restart();
        QVERIFY(gate.holds(clock.nowMs(), true, false));
        QCOMPARE(runner.reasons.size(), 2);
        QVERIFY(!runner.reasons.at(1).isEmpty());
    }

    void aWindowThatDoesNotParseIsAnError()
    {
        bd::FakeClock clock;
        Runner runner;
        OffPeakGate gate(&runner, &clock);
        gate.configure(3, QJsonObject{{u"offpeak"_s, QJsonObject{{u"start"_s, u"25:00"_s},
                                                                 {u"end"_s, u"06:00"_s}}}});
        QVERIFY(!gate.error().isEmpty());
        QVERIFY(!gate.hasWindow());
        gate.configure(3, {});
        QVERIFY(gate.error().isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestOffPeakGate)
#include "test_offpeakgate.moc"
