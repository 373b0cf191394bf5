// The Jobs view and a job's deadline (--deadline): the ETA column says whether the job, at
// the rate the snapshots show, finishes in time ("9 min · on track", "9 min · late by 4
// min"), or, before any pace is known, how long is left; late reads in the dead colour and
// the tooltip names the deadline and the engine's last word on it.

#include "api/jobsettings.h"
#include "api/snapshot.h"
#include "estimatekeys.h"
#include "jobsmodel.h"
#include "tasktableview.h"

#include <QDateTime>
#include <QTableView>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::JobsModel;

class TestGuiJobsDeadline : public QObject
{
    Q_OBJECT

private:
    static constexpr qint64 kNow = 1'800'000'000'000;

    static bd::JobInfo jobDueIn(qint64 ms)
    {
        bd::JobInfo job;
        job.id = 7;
        job.state = bd::JobState::Running;
        job.spec.sourcePath = u"/data/reviews.csv"_s;
        job.spec.settings.insert(bd::settingkeys::deadlineMs, kNow + ms);
        job.counts.pending = 1000;
        return job;
    }

    // Two snapshots a minute apart: 100 tasks settled, 900 left (9 minutes at 100/min).
    static void run(JobsModel &model, const QString &note = {})
    {
        for (const auto &[atMs, completed] : {std::pair{kNow - 60'000, 0}, std::pair{kNow, 100}}) {
            bd::EngineSnapshot snapshot;
            snapshot.atMs = atMs;
            bd::JobSnapshot job;
            job.jobId = 7;
            job.state = bd::JobState::Running;
            job.runningHere = true;
            job.counts.pending = 1000 - completed;
            job.counts.completed = completed;
            job.deadlineNote = note;
            snapshot.jobs.append(job);
            model.applySnapshot(snapshot);
        }
    }

    static QString eta(const JobsModel &model, int role = Qt::DisplayRole)
    {
        return model.data(model.index(0, JobsModel::EtaColumn), role).toString();
    }

private Q_SLOTS:
    void onTrack()
    {
        JobsModel model;
        model.setJobs({jobDueIn(60 * 60'000)});
        run(model, u"due in 1 h: sync calls at priority 2"_s);
        QCOMPARE(eta(model), u"9 min · on track"_s);
        QVERIFY(!model.data(model.index(0, JobsModel::EtaColumn), Qt::ForegroundRole).isValid());
        const QString tip = eta(model, Qt::ToolTipRole);
        QVERIFY2(tip.startsWith(u"Finish by "_s) && tip.contains(u"sync calls at priority 2"_s),
                 qPrintable(tip));
    }

    void late()
    {
        JobsModel model;
        model.setJobs({jobDueIn(5 * 60'000)});
        run(model);
        QCOMPARE(eta(model), u"9 min · late by 4 min"_s);
        QVERIFY(model.data(model.index(0, JobsModel::EtaColumn), Qt::ForegroundRole).isValid());
    }

    // The Jobs view's ETA and spend columns are as wide as what they say, from the first
    // "late by" on (fitted as in the console).
    void theFiguresAreNeverCut()
    {
        JobsModel model;
        QTableView view;
        view.setModel(&model);
        view.resize(1024, 300);
        bd::ui::fitColumnsToWidth(
            &view, {JobsModel::StateColumn, JobsModel::SourceColumn, JobsModel::ModelColumn});
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        bd::JobInfo job = jobDueIn(5 * 60'000);
        job.costUsd = 0.0121;
        job.spec.settings.insert(bd::ui::estimatekeys::maxUsd, 0.031);
        model.setJobs({job});
        run(model);
        QCoreApplication::processEvents(); // the view refits after the model's changes
        const QString text = eta(model);
        QCOMPARE(text, u"9 min · late by 4 min"_s);
        QVERIFY2(view.columnWidth(JobsModel::EtaColumn) >=
                     view.fontMetrics().horizontalAdvance(text),
                 qPrintable(u"%1 px for %2 px"_s.arg(view.columnWidth(JobsModel::EtaColumn))
                                .arg(view.fontMetrics().horizontalAdvance(text))));
        const QString spend =
            model.data(model.index(0, JobsModel::CostColumn), Qt::DisplayRole).toString();
        QVERIFY2(view.columnWidth(JobsModel::CostColumn) >=
                     view.fontMetrics().horizontalAdvance(spend),
                 qPrintable(spend));
    }

    void beforeAnyPaceTheTimeLeft()
    {
        JobsModel model;
        model.setJobs({jobDueIn(3 * 3'600'000)});
        bd::EngineSnapshot snapshot;
        snapshot.atMs = kNow;
        model.applySnapshot(snapshot);
        QCOMPARE(eta(model), u"due in 3 h 00 min"_s);
        bd::JobInfo overdue = jobDueIn(-10 * 60'000);
        overdue.state = bd::JobState::Paused;
        model.setJobs({overdue});
        QCOMPARE(eta(model), u"overdue 10 min"_s);
    }

    void aFinishedJobShowsItsCostBesideTheEstimate()
    {
        JobsModel model;
        bd::JobInfo job = jobDueIn(0);
        job.spec.settings = {{bd::ui::estimatekeys::maxUsd, 0.031}};
        job.state = bd::JobState::Finished;
        job.counts.pending = 0;
        job.counts.completed = 1000;
        job.costUsd = 0.0121;
        model.setJobs({job});
        const QModelIndex cost = model.index(0, JobsModel::CostColumn);
        QCOMPARE(model.data(cost, Qt::DisplayRole).toString(), u"$0.0121 · est. ≤ $0.0310"_s);
        QVERIFY(model.data(cost, Qt::ToolTipRole).toString().startsWith(u"Estimated at import: at most $0.0310"_s));
        job.spec.settings.insert(bd::ui::estimatekeys::expectedUsd, 0.0118);
        model.setJobs({job});
        QCOMPARE(model.data(cost, Qt::DisplayRole).toString(), u"$0.0121 · est. $0.0118"_s);
        // While it runs, the cost alone.
        job.state = bd::JobState::Running;
        model.setJobs({job});
        QCOMPARE(model.data(cost, Qt::DisplayRole).toString(), u"$0.0121"_s);
    }

    void withoutDeadlineTheEtaAlone()
    {
        JobsModel model;
        bd::JobInfo job = jobDueIn(0);
        job.spec.settings = {};
        model.setJobs({job});
        run(model);
        QCOMPARE(eta(model), u"9 min"_s);
    }
};

QTEST_MAIN(TestGuiJobsDeadline)
#include "test_gui_jobsdeadline.moc"
