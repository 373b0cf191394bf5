#pragma once


#include "api/tasks.h"

#include <QTextBrowser>

namespace bd::ui {

// One task's whole story: the rendered prompt (the job's template over the row's values),
// the answer or the error, usage and cost, every attempt, and the row itself.
class TaskDetailView final : public QTextBrowser
{
    Q_OBJECT

public:
    explicit TaskDetailView(QWidget *parent = nullptr);

    void showDetail(const bd::TaskDetail &detail);
    void showPlaceholder(const QString &text);
    qint64 taskId() const { return m_taskId; }
    void setTaskId(qint64 taskId) { m_taskId = taskId; }

    static QString renderedPrompt(const bd::TaskDetail &detail);

private:
    qint64 m_taskId = 0;
};

} // namespace bd::ui
