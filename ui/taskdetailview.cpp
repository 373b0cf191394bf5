#include "taskdetailview.h"

#include "api/engine.h"
#include "format.h"
#include "ingest/prompttemplate.h"

#include <QClipboard>
#include <QDateTime>
#include <QGuiApplication>
#include <QScopeGuard>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

QString pre(const QString &text)
{
    return u"<pre style=\"white-space: pre-wrap;\">"_s + text.toHtmlEscaped() + u"</pre>"_s;
}

QString timeText(qint64 ms)
{
    return ms > 0 ? QDateTime::fromMSecsSinceEpoch(ms).toString(u"yyyy-MM-dd HH:mm:ss"_s) : u"–"_s;
}

} // namespace

TaskDetailView::TaskDetailView(Engine *engine, QWidget *parent)
    : QTextBrowser(parent)
    , m_engine(engine)
{
    setOpenLinks(false);
    showPlaceholder(tr("Select a task to see its prompt, answer and attempts."));
    connect(m_engine, &Engine::taskDetailReady, this, &TaskDetailView::handleDetail);
}

void TaskDetailView::showTask(qint64 taskId)
{
    if (m_ticket)
        m_engine->discardRequests({std::exchange(m_ticket, 0)});
    if (taskId != m_taskId)
        m_copyWhenShown.reset(); // asked of another task
    m_taskId = taskId;
    if (taskId <= 0) {
        showPlaceholder(tr("Select a task to see its prompt, answer and attempts."));
        return;
    }
    m_ticket = m_engine->newTicket();
    m_engine->requestTaskDetail(m_ticket, taskId);
}

void TaskDetailView::handleDetail(quint64 ticket, const bd::TaskDetail &detail)
{
    if (ticket != m_ticket || ticket == 0)
        return;
    m_ticket = 0;
    showDetail(detail);
}

void TaskDetailView::showPlaceholder(const QString &text)
{
    setHtml(u"<p style=\"color: gray;\">%1</p>"_s.arg(text.toHtmlEscaped()));
}

QString TaskDetailView::renderedPrompt(const bd::TaskDetail &detail)
{
    ingest::PromptTemplate prompt(detail.templateText);
    QString error;
    if (!prompt.bind(detail.columns, &error))
        return tr("(the template does not fit the job's columns: %1)").arg(error);
    return prompt.render(detail.values);
}

void TaskDetailView::copyToClipboard(Part part)
{
    if (m_taskId != 0 && m_shown.id == m_taskId)
        copyNow(part);
    else
        m_copyWhenShown = part;
}

void TaskDetailView::copyNow(Part part)
{
    QGuiApplication::clipboard()->setText(part == Part::Prompt   ? renderedPrompt(m_shown)
                                          : part == Part::Answer ? m_shown.output
                                                                 : m_shown.errorMessage);
}

void TaskDetailView::showDetail(const bd::TaskDetail &d)
{
    m_taskId = d.id;
    m_shown = d;
    if (m_copyWhenShown)
        copyNow(*std::exchange(m_copyWhenShown, std::nullopt));
    const auto announce = qScopeGuard([this, d] { Q_EMIT detailShown(d); });
    QString html;
    html += u"<h3>"_s + tr("Task %1 · job %2 · row %3 · <span style=\"color:%5\">%4</span>")
                             .arg(d.id)
                             .arg(d.jobId)
                             .arg(d.rowNumber)
                             .arg(taskStateLabel(d.state), stateColor(d.state).name())
          + u"</h3>"_s;
    QStringList facts;
    facts << tr("priority %1").arg(d.priority) << tr("attempts %1").arg(d.attempts);
    if (!d.model.isEmpty())
        facts << tr("model %1").arg(d.model.toHtmlEscaped());
    if (d.state == TaskState::Completed) {
        facts << tr("tokens in %1 · out %2 · cached %3")
                     .arg(formatCount(d.usage.inputTokens), formatCount(d.usage.outputTokens),
                          formatCount(d.usage.cachedTokens));
        facts << tr("cost %1").arg(formatUsd(d.costUsd));
        // A dated id (claude-sonnet-4-5-20250929) is priced at its family's entry: say so.
        if (!d.pricedAs.isEmpty())
            facts << tr("priced as %1 (no entry for this dated id)").arg(d.pricedAs.toHtmlEscaped());
        if (d.cacheHit)
            facts << tr("answered from the cache");
    }
    html += u"<p>"_s + facts.join(u" · "_s) + u"</p>"_s;
    html += u"<p style=\"color: gray;\">"_s
            + tr("created %1 · started %2 · finished %3")
                  .arg(timeText(d.createdAtMs), timeText(d.startedAtMs), timeText(d.finishedAtMs))
            + u"</p>"_s;
    html += u"<h4>"_s
            + (d.templateRevision > 0 ? tr("Prompt (replayed with template edit %1)").arg(d.templateRevision)
                                      : tr("Prompt"))
            + u"</h4>"_s;
    if (!d.systemPrompt.isEmpty())
        html += u"<p><i>"_s + tr("System:") + u"</i></p>"_s + pre(d.systemPrompt);
    html += pre(renderedPrompt(d));
    if (d.state == TaskState::Completed) {
        html += u"<h4>"_s + tr("Output") + u"</h4>"_s + pre(d.output);
    } else if (!d.errorClass.isEmpty()) {
        html += u"<h4>"_s + tr("Error") + u"</h4>"_s;
        html += u"<p style=\"color:%1\"><b>%2</b>%3</p>"_s.arg(
            stateColor(TaskState::Dead).name(), d.errorClass.toHtmlEscaped(),
            d.httpStatus ? u" (HTTP %1)"_s.arg(d.httpStatus) : QString());
        html += pre(d.errorMessage);
    }
    html += u"<h4>"_s + tr("Attempts") + u"</h4>"_s;
    if (d.attemptHistory.isEmpty()) {
        html += u"<p style=\"color: gray;\">"_s + tr("No failed attempts recorded.") + u"</p>"_s;
    } else {
        html += u"<table cellspacing=\"0\" cellpadding=\"3\" border=\"1\">"_s
                u"<tr><th>#</th><th>"_s + tr("When") + u"</th><th>"_s + tr("Outcome")
                + u"</th><th>HTTP</th><th>"_s + tr("Message") + u"</th></tr>"_s;
        for (const AttemptRecord &a : d.attemptHistory) {
            html += u"<tr><td>%1</td><td>%2</td><td>%3</td><td>%4</td><td>%5</td></tr>"_s
                        .arg(a.attemptNo)
                        .arg(a.at.toString(u"HH:mm:ss.zzz"_s), a.outcome.toHtmlEscaped(),
                             a.httpStatus ? QString::number(a.httpStatus) : QString(),
                             a.message.left(500).toHtmlEscaped());
        }
        html += u"</table>"_s;
    }
    html += u"<h4>"_s + tr("Row") + u"</h4><table cellspacing=\"0\" cellpadding=\"2\">"_s;
    for (int c = 0; c < d.columns.size(); ++c) {
        html += u"<tr><td valign=\"top\"><b>%1</b></td><td>%2</td></tr>"_s.arg(
            d.columns.at(c).toHtmlEscaped(),
            c < d.values.size() ? d.values.at(c).toHtmlEscaped().replace(u"\n"_s, u"<br>"_s) : QString());
    }
    html += u"</table>"_s;
    setHtml(html);
}

} // namespace bd::ui
