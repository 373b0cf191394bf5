#include "alertlinks.h"

#include "format.h"

#include <QCoreApplication>
#include <QJsonObject>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("bd::ui::AlertLink", text);
}

// "Job budget reached" from job_budget_reached: the kind's own words, for kinds without a
// title of their own.
QString wordsOf(const QString &kind)
{
    QString words = kind;
    words.replace(u'_', u' ');
    if (!words.isEmpty())
        words[0] = words.at(0).toUpper();
    return words;
}

// The error class most of the failures in the window had (error_rate_high's "by_class").
QString leadingClass(const QJsonObject &figures)
{
    const QJsonObject byClass = figures.value(u"by_class"_s).toObject();
    QString best;
    double most = 0;
    for (auto it = byClass.begin(); it != byClass.end(); ++it) {
        if (it.value().toDouble() > most) {
            most = it.value().toDouble();
            best = it.key();
        }
    }
    return best;
}

} // namespace

AlertLink alertLink(const AlertRecord &alert)
{
    AlertLink link;
    const QString &kind = alert.kind;
    TaskFilter filter;
    filter.jobId = alert.jobId;
    const QString ofWhat = alert.jobId ? tr("of job %1").arg(alert.jobId) : tr("of every job");
    const auto show = [&](const QString &what, const TaskOrder &order = {}) {
        link.filter = filter;
        link.order = order;
        link.what = what + u' ' + ofWhat;
    };
    const TaskOrder dearestFirst{TaskSortKey::Cost, true};

    if (kind == u"queue_depth_high"_s) {
        link.title = tr("Queue growing");
        filter.state = int(TaskState::Pending);
        show(tr("pending tasks"));
    } else if (kind == u"error_rate_high"_s) {
        link.title = tr("Error rate high");
        filter.errorClass = leadingClass(alert.figures);
        if (filter.errorClass.isEmpty()) {
            filter.state = int(TaskState::Dead);
            show(tr("dead tasks"));
        } else {
            show(tr("tasks that failed with %1").arg(filter.errorClass));
        }
    } else if (kind == u"cost_per_task_up"_s) {
        link.title = tr("Cost per task up");
        filter.state = int(TaskState::Completed);
        show(tr("completed tasks, dearest first"), dearestFirst);
    } else if (kind.startsWith(u"priority"_s) && kind.endsWith(u"_wait"_s)) {
        const int priority = kind.mid(8, 1).toInt();
        link.title = tr("Waiting too long at %1").arg(priorityShortLabel(qBound(1, priority, 3)));
        filter.state = int(TaskState::Pending);
        filter.priority = qBound(1, priority, 3);
        show(tr("pending tasks at priority %1").arg(filter.priority));
    } else if (kind == u"budget_80"_s || kind == u"global_budget_80"_s) {
        link.title = kind.startsWith(u"global"_s) ? tr("Global budget 80 % used")
                                                  : tr("Job budget 80 % used");
        show(tr("tasks, dearest first"), dearestFirst);
    } else if (kind == u"budget_exhausted"_s || kind == u"global_budget_exhausted"_s) {
        link.title =
            kind.startsWith(u"global"_s) ? tr("Global budget reached") : tr("Job budget reached");
        show(tr("tasks, dearest first"), dearestFirst);
    } else if (kind == u"circuit_open"_s) {
        link.title = tr("Provider looks down");
        show(tr("tasks, most attempts first"), TaskOrder{TaskSortKey::Attempts, true});
    } else if (kind == u"quota_exhausted"_s) {
        link.title = tr("Provider quota exhausted");
        filter.errorClass = errorClassName(ErrorClass::QuotaExhausted);
        show(tr("tasks refused for quota"));
    } else if (kind == u"auth"_s) {
        link.title = tr("Provider refused the key");
        filter.errorClass = errorClassName(ErrorClass::Auth);
        show(tr("tasks refused for the key"));
    } else if (kind == u"no_progress"_s) {
        link.title = tr("No progress");
        filter.state = int(TaskState::Leased);
        show(tr("tasks in progress"));
    } else if (kind == u"deadline_at_risk"_s) {
        link.title = tr("Deadline at risk");
        filter.state = int(TaskState::Pending);
        show(tr("pending tasks"));
    } else if (kind == u"queue_full"_s) {
        link.title = tr("Queue full");
        filter.state = int(TaskState::Pending);
        show(tr("pending tasks"));
    } else if (kind == u"disk_full"_s) {
        link.title = tr("Disk full");
        show(tr("tasks"));
    } else if (kind == u"model_unpriced"_s) {
        link.title = tr("Model without a price");
        filter.state = int(TaskState::Completed);
        show(tr("completed tasks"));
    } else {
        link.title = wordsOf(kind);
        if (alert.jobId)
            show(tr("tasks"));
    }
    return link;
}

} // namespace bd::ui
