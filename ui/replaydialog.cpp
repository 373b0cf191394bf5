#include "replaydialog.h"

#include "api/engine.h"
#include "format.h"
#include "ingest/prompttemplate.h"
#include "templateeditor.h"

#include <QButtonGroup>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

ReplayDialog::ReplayDialog(Engine *engine, const JobInfo &job, const Options &options,
                           QWidget *parent)
    : QDialog(parent)
    , m_engine(engine)
    , m_job(job)
    , m_options(options)
{
    setObjectName(u"replayDialog"_s);
    setWindowTitle(tr("Replay dead letters of job %1 with an edited template").arg(job.id));
    auto *layout = new QVBoxLayout(this);

    auto *scopeBox = new QGroupBox(tr("Which tasks"), this);
    auto *scopeLayout = new QVBoxLayout(scopeBox);
    const auto counted = [](qint64 count) {
        return count >= 0 ? u" (%1)"_s.arg(formatCount(count)) : QString();
    };
    m_scopeSelected = new QRadioButton(
        tr("The selected %1").arg(countOf(options.selectedTaskIds.size(), "task", "tasks")), scopeBox);
    m_scopeClass =
        new QRadioButton(options.errorClass.isEmpty()
                             ? tr("Every dead task of the class chosen on the page (none chosen)")
                             : tr("Every dead task of class %1 in job %2%3")
                                   .arg(options.errorClass)
                                   .arg(job.id)
                                   .arg(counted(options.classCount)),
                         scopeBox);
    m_scopeJob = new QRadioButton(
        tr("Every dead task of job %1%2").arg(job.id).arg(counted(options.deadCount)), scopeBox);
    auto *group = new QButtonGroup(this);
    for (QRadioButton *button : {m_scopeSelected, m_scopeClass, m_scopeJob}) {
        group->addButton(button);
        scopeLayout->addWidget(button);
    }
    m_scopeSelected->setEnabled(!options.selectedTaskIds.isEmpty());
    m_scopeClass->setEnabled(!options.errorClass.isEmpty());
    layout->addWidget(scopeBox);

    auto *form = new QFormLayout;
    m_template = new TemplateEditor(this);
    m_template->setObjectName(u"replayTemplate"_s);
    m_template->setColumns(job.columns);
    m_template->setPlainText(job.spec.templateText);
    m_template->setMinimumHeight(m_template->fontMetrics().lineSpacing() * 6);
    form->addRow(tr("Template:"), m_template);
    m_system = new QPlainTextEdit(this);
    m_system->setObjectName(u"replaySystemPrompt"_s);
    m_system->setTabChangesFocus(true);
    m_system->setPlainText(job.spec.systemPrompt);
    m_system->setPlaceholderText(tr("(no system prompt)"));
    m_system->setMaximumHeight(m_system->fontMetrics().lineSpacing() * 5);
    form->addRow(tr("System prompt:"), m_system);
    layout->addLayout(form, 1);

    auto *columns = new QLabel(tr("Columns: %1").arg(job.columns.join(u", "_s)), this);
    columns->setWordWrap(true);
    columns->setForegroundRole(QPalette::PlaceholderText);
    layout->addWidget(columns);
    m_status = new QLabel(this);
    m_status->setObjectName(u"replayStatus"_s);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_status);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    m_replay = buttons->addButton(tr("Replay"), QDialogButtonBox::AcceptRole);
    m_replay->setObjectName(u"replayButton"_s);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, [this] { replay(); });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_template, &QPlainTextEdit::textChanged, this, &ReplayDialog::validate);
    connect(m_system, &QPlainTextEdit::textChanged, this, &ReplayDialog::validate);
    connect(m_engine, &Engine::tasksActedOn, this,
            [this](TaskAction action, int changed, const QString &error, int skipped) {
                if (action == TaskAction::Replay)
                    handleActedOn(changed, error, skipped);
            });

    setScope(!options.selectedTaskIds.isEmpty() ? SelectedTasks
             : !options.errorClass.isEmpty()    ? ErrorClass
                                                : WholeJob);
    resize(720, 520);
    validate();
}

void ReplayDialog::setScope(Scope scope)
{
    if (!isScopeAvailable(scope))
        return;
    (scope == SelectedTasks ? m_scopeSelected
     : scope == ErrorClass  ? m_scopeClass
                            : m_scopeJob)
        ->setChecked(true);
}

ReplayDialog::Scope ReplayDialog::scope() const
{
    return m_scopeSelected->isChecked() ? SelectedTasks
           : m_scopeClass->isChecked()  ? ErrorClass
                                        : WholeJob;
}

bool ReplayDialog::isScopeAvailable(Scope scope) const
{
    switch (scope) {
    case SelectedTasks:
        return !m_options.selectedTaskIds.isEmpty();
    case ErrorClass:
        return !m_options.errorClass.isEmpty();
    case WholeJob:
        return true;
    }
    return false;
}

QString ReplayDialog::statusText() const
{
    return m_status->text();
}

void ReplayDialog::setStatus(const QString &text, bool isError)
{
    m_status->setText(text);
    m_status->setStyleSheet(isError ? u"color: #b00020;"_s : QString());
}

void ReplayDialog::validate()
{
    const QString text = m_template->toPlainText();
    ingest::PromptTemplate prompt(text);
    QString problem;
    if (text.trimmed().isEmpty()) {
        problem = tr("The template is empty.");
    } else if (!prompt.syntaxError().isEmpty()) {
        problem = prompt.syntaxError();
    } else {
        QString error;
        if (!prompt.bind(m_job.columns, &error))
            problem = error;
    }
    m_problem = problem;
    m_edited =
        text != m_job.spec.templateText || m_system->toPlainText() != m_job.spec.systemPrompt;
    if (!problem.isEmpty())
        setStatus(problem, true);
    else
        setStatus(m_edited ? tr("The replayed tasks render with this template; the job's other "
                                "tasks keep theirs.")
                           : tr("Unchanged: the tasks are replayed with the job's template."),
                  false);
    m_replay->setEnabled(problem.isEmpty() && !m_waiting);
}

bool ReplayDialog::replay()
{
    validate();
    if (!m_problem.isEmpty() || m_waiting)
        return false;
    const Scope chosen = scope();
    ReplayRequest request;
    request.jobId = m_job.id;
    QString question;
    switch (chosen) {
    case SelectedTasks:
        request.taskIds = m_options.selectedTaskIds;
        if (request.taskIds.size() > 1)
            question = tr("Put the %1 selected tasks of job %2 back in the queue?")
                           .arg(formatCount(request.taskIds.size()))
                           .arg(m_job.id);
        break;
    case ErrorClass:
        request.errorClass = m_options.errorClass;
        question = tr("Put every dead task of class %1 of job %2 back in the queue?")
                       .arg(m_options.errorClass)
                       .arg(m_job.id);
        break;
    case WholeJob:
        question = tr("Put every dead task of job %1 back in the queue?").arg(m_job.id);
        break;
    }
    if (m_edited) {
        request.templateText = m_template->toPlainText();
        request.systemPrompt = m_system->toPlainText();
        if (!question.isEmpty())
            question += u' ' + tr("They will run with the edited template.");
    }
    if (!question.isEmpty() && m_options.confirmBulk &&
        QMessageBox::question(this, tr("Replay dead letters"), question,
                              QMessageBox::Yes | QMessageBox::Cancel,
                              QMessageBox::Cancel) != QMessageBox::Yes)
        return false;
    m_waiting = true;
    m_replay->setEnabled(false);
    setStatus(tr("Replaying …"), false);
    Q_EMIT replayRequested(m_job.id);
    m_engine->replayDead(request);
    return true;
}

void ReplayDialog::handleActedOn(int changed, const QString &error, int skipped)
{
    if (!m_waiting)
        return;
    m_waiting = false;
    if (changed < 0) {
        // Shown here, where it can be fixed (an unknown placeholder, a job gone).
        setStatus(tr("Nothing was replayed: %1").arg(error), true);
        m_replay->setEnabled(m_problem.isEmpty());
        return;
    }
    Q_EMIT replayed(m_job.id, changed, skipped, m_edited);
    accept();
}

} // namespace bd::ui
