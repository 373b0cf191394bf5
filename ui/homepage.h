#pragma once

#include <QStackedWidget>

namespace bd::ui {

class DashboardPage;
class WelcomePanel;

// The first screen: the dashboard once the database has a job, the welcome panel while it
// has none (a first run), so a new user sees what to do rather than empty charts.
class HomePage final : public QStackedWidget
{
    Q_OBJECT

public:
    explicit HomePage(QWidget *parent = nullptr);

    DashboardPage *dashboard() const { return m_dashboard; }
    WelcomePanel *welcome() const { return m_welcome; }
    void setJobCount(qsizetype jobs);
    bool isWelcomeShown() const;

private:
    DashboardPage *m_dashboard = nullptr;
    WelcomePanel *m_welcome = nullptr;
};

} // namespace bd::ui
