#pragma once


#include "api/tasks.h"

#include <QTextBrowser>

namespace bd {
class Engine;
}

namespace bd::ui {

// One task's whole story: the rendered prompt (the job's template over the row's values),
// the answer or the error, usage and cost, every attempt, and the row itself.
class TaskDetailView final : public QTextBrowser
{
    Q_OBJECT

public:
    TaskDetailView(Engine *engine, QWidget *parent = nullptr);

    // Asks the engine for the task and shows it when it comes; only the answer to the
    // latest ask is shown (other views ask for details too). 0: none, the placeholder.
    void showTask(qint64 taskId);
    void showDetail(const bd::TaskDetail &detail);
    void showPlaceholder(const QString &text);
    qint64 taskId() const { return m_taskId; }

    static QString renderedPrompt(const bd::TaskDetail &detail);

    enum class Part
    {
        Prompt,
        Answer,
        Error,
    };
    // Puts a part of the task shown (or asked for) on the clipboard: at once when its
    // detail is here, else when it comes.
    void copyToClipboard(Part part);

Q_SIGNALS:
    // A task's detail is on screen (its own ask answered, or handed in).
    void detailShown(const bd::TaskDetail &detail);

private:
    void handleDetail(quint64 ticket, const bd::TaskDetail &detail);
    void copyNow(Part part);

    Engine *m_engine;
    qint64 m_taskId = 0;
    quint64 m_ticket = 0; // of the ask not answered yet (0: none)
    bd::TaskDetail m_shown;
    std::optional<Part> m_copyWhenShown;
};

} // namespace bd::ui
