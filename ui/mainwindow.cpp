#include "mainwindow.h"

#include "engine.h"
#include "jobsmodel.h"

#include <QHeaderView>
#include <QLabel>
#include <QStatusBar>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

MainWindow::MainWindow(const QString &databasePath, QWidget *parent)
    : QMainWindow(parent)
    , m_databasePath(databasePath)
{
    setWindowTitle(tr("BatchDesk"));
    resize(1100, 640);

    m_jobsModel = new JobsModel(this);
    m_jobsView = new QTableView(this);
    m_jobsView->setModel(m_jobsModel);
    m_jobsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_jobsView->setAlternatingRowColors(true);
    m_jobsView->verticalHeader()->hide();
    m_jobsView->horizontalHeader()->setStretchLastSection(true);
    m_jobsView->horizontalHeader()->setSectionResizeMode(JobsModel::SourceColumn, QHeaderView::Stretch);
    setCentralWidget(m_jobsView);

    m_status = new QLabel(tr("Opening %1 …").arg(databasePath), this);
    statusBar()->addWidget(m_status, 1);

    Engine::Options options;
    options.databasePath = databasePath;
    m_engine = std::make_unique<Engine>(options);
    connect(m_engine.get(), &Engine::opened, this, &MainWindow::handleOpened);
    connect(m_engine.get(), &Engine::jobsListed, m_jobsModel, &JobsModel::setJobs);
    connect(m_engine.get(), &Engine::jobProgressed, m_jobsModel, &JobsModel::updateProgress);

    m_refresh = new QTimer(this);
    m_refresh->setInterval(2000);
    connect(m_refresh, &QTimer::timeout, m_engine.get(), &Engine::requestJobs);
    m_engine->open();
}

MainWindow::~MainWindow() = default;

void MainWindow::handleOpened(bool ok, const QString &error)
{
    if (!ok) {
        m_status->setText(tr("Cannot open the database: %1").arg(error));
        return;
    }
    m_status->setText(tr("Database: %1").arg(m_databasePath));
    m_engine->requestJobs();
    m_refresh->start();
}

} // namespace bd::ui
