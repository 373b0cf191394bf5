#include "homepage.h"

#include "dashboardpage.h"
#include "welcomepanel.h"

namespace bd::ui {

HomePage::HomePage(QWidget *parent)
    : QStackedWidget(parent)
    , m_dashboard(new DashboardPage(this))
    , m_welcome(new WelcomePanel(this))
{
    addWidget(m_dashboard);
    addWidget(m_welcome);
}

bool HomePage::isWelcomeShown() const
{
    return currentWidget() == static_cast<QWidget *>(m_welcome);
}

void HomePage::setJobCount(qsizetype jobs)
{
    setCurrentWidget(jobs > 0 ? static_cast<QWidget *>(m_dashboard) : m_welcome);
}

} // namespace bd::ui
