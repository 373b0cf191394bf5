#include "mainwindow.h"

#include "alertspage.h"
#include "api/engine.h"
#include "consolesettings.h"
#include "dashboardpage.h"
#include "deadletterspage.h"
#include "exportdialog.h"
#include "format.h"
#include "homepage.h"
#include "importwizard.h"
#include "jobsmodel.h"
#include "keystore.h"
#include "lanecontrols.h"
#include "progressdelegate.h"
#include "providerconfig.h"
#include "samplejob.h"
#include "settingsdialog.h"
#include "shortcutsdialog.h"
#include "taskspage.h"
#include "tasktableview.h"
#include "welcomepanel.h"
#include "workerspage.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDesktopServices>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProcess>
#include <QPushButton>
#include <QSet>
#include <QSettings>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QSystemTrayIcon>
#include <QTableView>
#include <QTimer>
#include <QToolBar>
#include <QUrl>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

// How often the status bar reads the workers' heartbeats (they beat every 5 s), and how
// recent a heartbeat must be for its worker to count (as the Workers page calls it stale).
constexpr int kHeartbeatReadMs = 5'000;
constexpr qint64 kAliveWithinMs = WorkersPage::kStaleMs;

QIcon themedIcon(const char *themeName, QStyle::StandardPixmap fallback)
{
    return QIcon::fromTheme(QString::fromLatin1(themeName), QApplication::style()->standardIcon(fallback));
}

} // namespace

MainWindow::MainWindow(std::unique_ptr<Engine> engine, const Options &options, QWidget *parent)
    : QMainWindow(parent)
    , m_options(options)
    , m_engine(std::move(engine))
{
    setObjectName(u"mainWindow"_s);
    setWindowTitle(tr("BatchDesk"));
    setWindowIcon(QIcon::fromTheme(u"io.github.batchdesk.BatchDesk"_s,
                                   QApplication::style()->standardIcon(QStyle::SP_ComputerIcon)));
    setAcceptDrops(true);
    resize(1280, 800);

    m_engine->setSnapshotInterval(options.snapshotIntervalMs);
    m_engine->setDefaultJobSettings(consolesettings::defaultJobSettings(QSettings()));
    if (options.useKeychain)
        m_keyStore = new secrets::KeyStore(this);
    m_jobsModel = new JobsModel(this);

    buildActions();
    buildPages();
    buildMenus();

    m_statusDb = new QLabel(tr("Opening %1 …").arg(QDir::toNativeSeparators(m_engine->database())), this);
    m_statusTotals = new QLabel(this);
    // Neither label sets the window's width: a long path or totals line is cut, not obeyed.
    for (QLabel *label : {m_statusDb, m_statusTotals}) {
        label->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
        label->setMinimumWidth(120);
    }
    m_statusTotals->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    m_statusTotals->setObjectName(u"statusTotals"_s);
    statusBar()->addWidget(m_statusDb, 1);
    statusBar()->addPermanentWidget(m_statusTotals, 2);
    // "In flight" is what the workers say they have out (their heartbeats, every 5 s), not
    // the tasks they claimed: those are "in progress".
    auto *heartbeats = new QTimer(this);
    heartbeats->setInterval(kHeartbeatReadMs);
    connect(heartbeats, &QTimer::timeout, this, [this] {
        if (!m_opened)
            return;
        m_engine->requestWorkers(QDateTime::currentMSecsSinceEpoch() - kAliveWithinMs);
        m_alerts->reload(); // alerts other processes raised (the page keeps its selection)
    });
    heartbeats->start();
    connect(m_engine.get(), &Engine::workersListed, this,
            [this](const QList<bd::WorkerInfo> &workers) {
                const qint64 aliveSince = QDateTime::currentMSecsSinceEpoch() - kAliveWithinMs;
                qint64 inFlight = 0;
                int alive = 0;
                for (const bd::WorkerInfo &worker : workers) {
                    if (worker.lastSeen.toMSecsSinceEpoch() < aliveSince)
                        continue;
                    inFlight += worker.inFlight;
                    ++alive;
                }
                m_requestsInFlight = inFlight;
                m_liveWorkers = alive;
                updateStatusTotals();
            });

    if (options.trayNotifications && QSystemTrayIcon::isSystemTrayAvailable()) {
        m_tray = new QSystemTrayIcon(windowIcon(), this);
        m_tray->setToolTip(tr("BatchDesk"));
        connect(m_tray, &QSystemTrayIcon::activated, this, [this] {
            showNormal();
            raise();
            activateWindow();
        });
        m_tray->show();
    }

    connectEngine();
    if (options.restoreWindowState) {
        QSettings settings;
        restoreGeometry(settings.value(u"window/geometry"_s).toByteArray());
        showPage(static_cast<Page>(qBound(0, settings.value(u"window/page"_s, 0).toInt(), ScreenCount - 1)));
    } else {
        showPage(DashboardScreen);
    }
    updateActions();
    m_engine->open();
}

MainWindow::~MainWindow()
{
    // Pages hold connections to the engine; let them go before it does.
    delete m_stack;
    m_stack = nullptr;
}

void MainWindow::buildActions()
{
    m_openAction = new QAction(themedIcon("document-open", QStyle::SP_DialogOpenButton), tr("&Open CSV…"), this);
    m_openAction->setShortcut(QKeySequence::Open);
    m_openAction->setToolTip(tr("Import a CSV as a new job (or drop one on the window)"));
    connect(m_openAction, &QAction::triggered, this, &MainWindow::chooseCsv);

    m_openDatabaseAction = new QAction(themedIcon("network-server", QStyle::SP_DriveNetIcon),
                                       tr("Open &database…"), this);
    m_openDatabaseAction->setToolTip(tr("Open another database: an SQLite file, or a PostgreSQL "
                                        "server shared with batchctl workers"));
    connect(m_openDatabaseAction, &QAction::triggered, this, &MainWindow::chooseDatabase);

    m_exportAction = new QAction(themedIcon("document-save-as", QStyle::SP_DialogSaveButton), tr("&Export…"), this);
    m_exportAction->setShortcut(QKeySequence(tr("Ctrl+E")));
    connect(m_exportAction, &QAction::triggered, this, [this] { exportJob(currentJobId()); });

    m_quitAction = new QAction(themedIcon("application-exit", QStyle::SP_DialogCloseButton), tr("&Quit"), this);
    m_quitAction->setShortcut(QKeySequence::Quit);
    m_quitAction->setMenuRole(QAction::QuitRole);
    connect(m_quitAction, &QAction::triggered, this, &QWidget::close);

    m_pauseAction = new QAction(themedIcon("media-playback-pause", QStyle::SP_MediaPause), tr("&Pause"), this);
    m_pauseAction->setObjectName(u"actionPause"_s);
    m_pauseAction->setShortcut(QKeySequence(tr("Ctrl+P")));
    connect(m_pauseAction, &QAction::triggered, this, [this] { pauseJob(currentJobId()); });

    m_resumeAction = new QAction(themedIcon("media-playback-start", QStyle::SP_MediaPlay), tr("&Resume"), this);
    m_resumeAction->setObjectName(u"actionResume"_s);
    m_resumeAction->setShortcut(QKeySequence(tr("Ctrl+R")));
    connect(m_resumeAction, &QAction::triggered, this, [this] { resumeJob(currentJobId()); });

    m_cancelAction = new QAction(themedIcon("process-stop", QStyle::SP_BrowserStop), tr("&Cancel job…"), this);
    m_cancelAction->setObjectName(u"actionCancel"_s);
    m_cancelAction->setShortcut(QKeySequence(tr("Ctrl+Shift+K")));
    connect(m_cancelAction, &QAction::triggered, this, [this] { cancelJob(currentJobId()); });

    m_reprioritiseAction = new QAction(themedIcon("view-sort-ascending", QStyle::SP_ArrowUp), tr("Re&prioritise…"), this);
    m_reprioritiseAction->setShortcut(QKeySequence(tr("Ctrl+Shift+P")));
    connect(m_reprioritiseAction, &QAction::triggered, this, &MainWindow::reprioritiseSelected);

    m_runAgainAction = new QAction(themedIcon("view-refresh", QStyle::SP_BrowserReload), tr("Run &again…"), this);
    connect(m_runAgainAction, &QAction::triggered, this, [this] { runAgain(currentJobId()); });

    m_runNowAction = new QAction(themedIcon("media-seek-forward", QStyle::SP_MediaSeekForward), tr("Run &now"), this);
    m_runNowAction->setObjectName(u"actionRunNow"_s);
    m_runNowAction->setToolTip(tr("Send the job's work now instead of waiting for its off-peak window "
                                  "(kept with the job)"));
    connect(m_runNowAction, &QAction::triggered, this, [this] { runNow(currentJobId()); });

    m_showTasksAction = new QAction(themedIcon("view-list-details", QStyle::SP_FileDialogDetailedView), tr("Show &tasks"), this);
    m_showTasksAction->setShortcut(QKeySequence(tr("Ctrl+T")));
    connect(m_showTasksAction, &QAction::triggered, this, [this] {
        if (const qint64 job = currentJobId()) {
            m_tasks->showJob(job);
            showPage(TasksScreen);
        }
    });

    m_settingsAction = new QAction(themedIcon("preferences-system", QStyle::SP_FileDialogInfoView), tr("&Settings…"), this);
    m_settingsAction->setObjectName(u"actionSettings"_s);
    m_settingsAction->setShortcut(QKeySequence(tr("Ctrl+,")));
    m_settingsAction->setMenuRole(QAction::PreferencesRole);
    connect(m_settingsAction, &QAction::triggered, this, &MainWindow::openSettings);

    m_refreshAction = new QAction(themedIcon("view-refresh", QStyle::SP_BrowserReload), tr("Re&fresh"), this);
    m_refreshAction->setShortcut(QKeySequence::Refresh);
    connect(m_refreshAction, &QAction::triggered, this, [this] {
        m_engine->requestJobs();
        m_alerts->reload();
    });
}

void MainWindow::buildPages()
{
    auto *central = new QWidget(this);
    auto *layout = new QHBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);

    m_sidebar = new QListWidget(central);
    m_sidebar->setObjectName(u"sidebar"_s);
    m_sidebar->setIconSize(QSize(20, 20));
    m_sidebar->setFrameShape(QFrame::NoFrame);
    m_sidebar->setSpacing(2);
    m_sidebar->setFocusPolicy(Qt::StrongFocus);
    const QList<std::tuple<QString, const char *, QStyle::StandardPixmap>> screens = {
        {tr("Dashboard"), "utilities-system-monitor", QStyle::SP_ComputerIcon},
        {tr("Jobs"), "view-list-details", QStyle::SP_FileDialogDetailedView},
        {tr("Tasks"), "view-list-text", QStyle::SP_FileDialogListView},
        {tr("Dead letters"), "mail-mark-junk", QStyle::SP_TrashIcon},
        {tr("Alerts"), "dialog-warning", QStyle::SP_MessageBoxWarning},
        {tr("Workers"), "network-server", QStyle::SP_DriveNetIcon},
    };
    int widest = 0;
    for (const auto &[title, theme, fallback] : screens) {
        auto *item = new QListWidgetItem(themedIcon(theme, fallback), title, m_sidebar);
        item->setSizeHint(QSize(0, m_sidebar->fontMetrics().height() + 18));
        widest = qMax(widest, m_sidebar->fontMetrics().horizontalAdvance(title));
    }
    m_sidebar->setFixedWidth(widest + 20 + 48);
    applySidebarPalette();
    layout->addWidget(m_sidebar);

    auto *separator = new QFrame(central);
    separator->setFrameShape(QFrame::VLine);
    separator->setFrameShadow(QFrame::Sunken);
    layout->addWidget(separator);

    m_stack = new QStackedWidget(central);
    layout->addWidget(m_stack, 1);

    m_home = new HomePage(m_stack);
    m_dashboard = m_home->dashboard();
    m_stack->addWidget(m_home);
    connect(m_home->welcome(), &WelcomePanel::openCsvRequested, this, &MainWindow::chooseCsv);
    connect(m_home->welcome(), &WelcomePanel::sampleRequested, this, &MainWindow::trySample);

    m_jobsPage = new QWidget(m_stack);
    auto *jobsLayout = new QVBoxLayout(m_jobsPage);
    auto *jobsBar = new QToolBar(m_jobsPage);
    jobsBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    jobsBar->addActions({m_pauseAction, m_resumeAction, m_runNowAction, m_cancelAction,
                         m_reprioritiseAction, m_exportAction, m_runAgainAction, m_showTasksAction});
    jobsLayout->addWidget(jobsBar);
    m_lanes = new LaneControls(m_engine.get(), m_jobsPage);
    auto *lanesRow = new QHBoxLayout;
    lanesRow->addWidget(m_lanes);
    lanesRow->addStretch(1);
    jobsLayout->addLayout(lanesRow);
    m_jobsView = new QTableView(m_jobsPage);
    m_jobsView->setObjectName(u"jobsView"_s);
    m_jobsView->setModel(m_jobsModel);
    m_jobsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_jobsView->setSelectionMode(QAbstractItemView::SingleSelection);
    m_jobsView->setAlternatingRowColors(true);
    m_jobsView->setWordWrap(false);
    m_jobsView->verticalHeader()->hide();
    m_jobsView->verticalHeader()->setDefaultSectionSize(m_jobsView->fontMetrics().height() + 12);
    m_jobsView->setItemDelegateForColumn(JobsModel::ProgressColumn,
                                         new ProgressDelegate(JobsModel::ProgressRole, m_jobsView));
    // The table fits the window: figures (done, rate, ETA such as "9 min · late by 4 min",
    // spend such as "$0.0121 · est. ≤ $0.0310") are whole; the state, file and model
    // elide, the state taking the spare width (pause reasons are long).
    fitColumnsToWidth(m_jobsView,
                      {JobsModel::StateColumn, JobsModel::SourceColumn, JobsModel::ModelColumn});
    m_jobsView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_jobsView->addActions({m_pauseAction, m_resumeAction, m_runNowAction, m_cancelAction,
                            m_reprioritiseAction, m_exportAction, m_runAgainAction, m_showTasksAction});
    jobsLayout->addWidget(m_jobsView, 1);
    auto *hint = new QLabel(tr("Drop a CSV file anywhere on this window to import it as a job."), m_jobsPage);
    hint->setForegroundRole(QPalette::PlaceholderText);
    jobsLayout->addWidget(hint);
    m_stack->addWidget(m_jobsPage);

    m_tasks = new TasksPage(m_engine.get(), m_stack);
    m_stack->addWidget(m_tasks);
    const auto showJob = [this](qint64 jobId) {
        selectJob(jobId);
        showPage(JobsScreen);
    };
    connect(m_tasks, &TasksPage::showJobRequested, this, showJob);
    m_deadLetters = new DeadLettersPage(m_engine.get(), m_stack);
    m_stack->addWidget(m_deadLetters);
    connect(m_deadLetters, &DeadLettersPage::showJobRequested, this, showJob);
    m_alerts = new AlertsPage(m_engine.get(), m_stack);
    m_stack->addWidget(m_alerts);
    connect(m_alerts, &AlertsPage::showTasksRequested, this,
            [this](const bd::TaskFilter &filter, const bd::TaskOrder &order) {
                m_tasks->showTasks(filter, order);
                showPage(TasksScreen);
            });
    m_workers = new WorkersPage(m_engine.get(), m_stack);
    m_stack->addWidget(m_workers);

    setCentralWidget(central);

    connect(m_sidebar, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row >= 0 && m_stack)
            m_stack->setCurrentIndex(row);
        updateActions();
    });
    connect(m_jobsView->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MainWindow::updateActions);
    connect(m_jobsView, &QTableView::doubleClicked, m_showTasksAction, &QAction::trigger);
    connect(m_jobsModel, &QAbstractItemModel::dataChanged, this, &MainWindow::updateActions);
    connect(m_jobsModel, &QAbstractItemModel::modelReset, this, &MainWindow::updateActions);
    connect(m_deadLetters, &DeadLettersPage::replayed, this, [this](const QList<qint64> &jobs) {
        for (qint64 job : jobs)
            m_resumeAfterReplay.insert(job);
    });
    connect(m_alerts, &AlertsPage::openAlertsChanged, this, [this](int open) {
        if (QListWidgetItem *item = m_sidebar->item(AlertsScreen))
            item->setText(open ? tr("Alerts (%1)").arg(open) : tr("Alerts"));
    });
}

void MainWindow::buildMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_openAction);
    file->addAction(m_openDatabaseAction);
    file->addAction(m_exportAction);
    file->addSeparator();
    file->addAction(m_quitAction);

    QMenu *edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(m_settingsAction);

    QMenu *job = menuBar()->addMenu(tr("&Job"));
    job->addActions({m_pauseAction, m_resumeAction, m_runNowAction, m_cancelAction, m_reprioritiseAction});
    job->addSeparator();
    job->addActions({m_runAgainAction, m_showTasksAction});

    QMenu *view = menuBar()->addMenu(tr("&View"));
    auto *group = new QActionGroup(this);
    const QStringList names = {tr("&Dashboard"), tr("&Jobs"), tr("&Tasks"), tr("Dead &letters"), tr("&Alerts"), tr("&Workers")};
    for (int i = 0; i < names.size(); ++i) {
        auto *action = new QAction(names.at(i), group);
        action->setCheckable(true);
        action->setShortcut(QKeySequence(u"Ctrl+%1"_s.arg(i + 1)));
        connect(action, &QAction::triggered, this, [this, i] { showPage(static_cast<Page>(i)); });
        view->addAction(action);
        m_pageActions.append(action);
    }
    view->addSeparator();
    view->addAction(m_refreshAction);

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    QAction *shortcuts = help->addAction(tr("&Keyboard shortcuts"), this, [this] {
        auto *dialog = new ShortcutsDialog(this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        dialog->open();
    });
    shortcuts->setShortcut(QKeySequence(u"Ctrl+/"_s));
    help->addAction(tr("&Documentation"), this, [] {
        QDesktopServices::openUrl(QUrl(QStringLiteral(BATCHDESK_HOMEPAGE_URL)));
    });
    help->addSeparator();
    help->addAction(tr("&About BatchDesk"), this, [this] {
        QMessageBox::about(this, tr("About BatchDesk"),
                           tr("<b>BatchDesk %1</b><p>Operations console and batch engine for "
                              "high-volume LLM jobs.</p><p>Database: %2</p>")
                               .arg(QApplication::applicationVersion(),
                                    QDir::toNativeSeparators(m_engine->database()).toHtmlEscaped()));
    });

    QToolBar *toolbar = addToolBar(tr("Main"));
    toolbar->setObjectName(u"mainToolbar"_s);
    toolbar->setMovable(false);
    toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolbar->addActions({m_openAction, m_exportAction});
    toolbar->addSeparator();
    toolbar->addActions({m_pauseAction, m_resumeAction});
    toolbar->addSeparator();
    toolbar->addAction(m_refreshAction);
}

void MainWindow::connectEngine()
{
    Engine *engine = m_engine.get();
    connect(engine, &Engine::opened, this, &MainWindow::handleOpened);
    connect(engine, &Engine::jobsListed, this, &MainWindow::handleJobsListed);
    connect(engine, &Engine::snapshotTaken, this, [this](const EngineSnapshot &snapshot) {
        m_jobsModel->applySnapshot(snapshot);
        m_dashboard->applySnapshot(snapshot);
        m_lanes->applySnapshot(snapshot);
        m_globalBudgetUsd = snapshot.globalBudgetUsd;
        updateStatusTotals();
        // A job the snapshot knows and the list does not (imported by another worker), or
        // one the list has and the snapshot no longer knows (deleted by another process):
        // the list is read again.
        // So is one that has come to wait for a worker since the list was read (listed
        // while `batchctl submit` still imported it): the list is where it is taken up.
        QSet<qint64> known;
        bool listBehind = false;
        for (const JobSnapshot &job : snapshot.jobs) {
            known.insert(job.jobId);
            listBehind = listBehind || m_jobsModel->rowOf(job.jobId) < 0 ||
                         (m_options.resumeInterruptedJobs && !job.runningHere &&
                          waitsForAWorker(job.state, job.stateReason) &&
                          mayTakeUp(job.jobId, job.counts, job.runner));
        }
        for (const JobInfo &job : m_jobsModel->jobs())
            listBehind = listBehind || !known.contains(job.id);
        if (listBehind)
            m_engine->requestJobs();
    });
    connect(engine, &Engine::importFinished, this, [this](const ImportResult &result) {
        if (result.ok) {
            statusBar()->showMessage(result.continued
                                         ? tr("Continuing job %1 (same file and settings)").arg(result.jobId)
                                         : tr("Imported %1 rows as job %2").arg(formatCount(result.rows)).arg(result.jobId),
                                     8000);
            m_engine->requestJobs();
        }
    });
    connect(engine, &Engine::jobStopped, this, [this](qint64 jobId, JobState state, const QString &reason) {
        m_jobsModel->setJobState(jobId, state, reason);
        if (state == JobState::Finished)
            statusBar()->showMessage(tr("Job %1 finished").arg(jobId), 8000);
        m_engine->requestJobs();
    });
    connect(engine, &Engine::jobWaiting, this, [this](qint64 jobId, const QString &reason) {
        m_jobsModel->setWaiting(jobId, reason);
    });
    connect(engine, &Engine::laneStateChanged, this, [this](Lane lane, bool paused) {
        const int priority = int(lane);
        m_jobsModel->setLanePaused(priority, paused);
        statusBar()->showMessage(paused ? tr("Lane %1 paused: its jobs send nothing new").arg(priorityLabel(priority))
                                        : tr("Lane %1 resumed").arg(priorityLabel(priority)),
                                 8000);
    });
    connect(engine, &Engine::jobFailed, this, [this](qint64 jobId, const QString &error) {
        statusBar()->showMessage(tr("Job %1: %2").arg(jobId).arg(error), 15000);
        m_engine->requestJobs();
    });
    connect(engine, &Engine::alertRaised, this, [this](qint64 jobId, const QString &kind, const QString &message) {
        notify(tr("BatchDesk alert: %1").arg(kind),
               jobId ? tr("Job %1: %2").arg(jobId).arg(message) : message);
    });
    connect(engine, &Engine::jobReprioritised, this, [this](qint64 jobId, int priority, int changed) {
        statusBar()->showMessage(tr("Job %1 is now %2 (%3 changed)")
                                     .arg(jobId)
                                     .arg(priorityLabel(priority), countOf(changed, "pending task", "pending tasks")),
                                 8000);
        m_engine->requestJobs();
    });
    connect(engine, &Engine::tasksActedOn, this, [this](TaskAction action, int changed, const QString &error,
                                                        int skipped) {
        if (changed < 0) {
            if (action == TaskAction::Replay)
                m_resumeAfterReplay.clear(); // nothing came back to run
            statusBar()->showMessage(tr("The action failed: %1").arg(error), 15000);
            return;
        }
        const QString what = action == TaskAction::Replay         ? tr("replayed")
                             : action == TaskAction::Reprioritise ? tr("reprioritised")
                                                                          : tr("cancelled");
        QString message = tr("%1 %2").arg(countOf(changed, "task", "tasks"), what);
        if (skipped > 0)
            message += tr(", %1 skipped (not in a state the action applies to)").arg(formatCount(skipped));
        statusBar()->showMessage(message, 8000);
        if (action == TaskAction::Replay && changed > 0) {
            m_resumeFinishedWithWork = true; // from the Tasks page too: see handleJobsListed
            const QSet<qint64> jobs = std::exchange(m_resumeAfterReplay, {});
            for (qint64 job : jobs) {
                const auto info = m_jobsModel->job(job);
                if (info && info->state != JobState::Running && info->state != JobState::Cancelled)
                    resumeJob(job);
            }
        }
        m_engine->requestJobs();
    });
    connect(engine, &Engine::readFailed, this, [this](quint64, const QString &error) {
        statusBar()->showMessage(tr("Read failed: %1").arg(error), 15000);
    });
    // A database server restarting: the figures shown stay as they were (the engine sends
    // none meanwhile) and the status bar says why they stand still.
    connect(engine, &Engine::databaseAway, this, [this](const QString &error) {
        m_statusDb->setText(tr("Database unreachable — reconnecting: %1")
                                .arg(QDir::toNativeSeparators(m_engine->database())));
        m_statusDb->setToolTip(error);
    });
    connect(engine, &Engine::databaseBack, this, [this] {
        m_statusDb->setText(tr("Database: %1").arg(QDir::toNativeSeparators(m_engine->database())));
        m_statusDb->setToolTip(QString());
    });
}

void MainWindow::handleOpened(bool ok, const QString &error)
{
    if (!ok) {
        m_statusDb->setText(tr("Cannot open the database: %1").arg(error));
        auto *box = new QMessageBox(QMessageBox::Critical, tr("BatchDesk"),
                                    tr("Cannot open the database:\n%1").arg(error), QMessageBox::Ok, this);
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->open();
        return;
    }
    m_opened = true;
    m_statusDb->setText(tr("Database: %1").arg(QDir::toNativeSeparators(m_engine->database())));
    m_engine->requestJobs();
    m_engine->requestWorkers(QDateTime::currentMSecsSinceEpoch() - kAliveWithinMs);
    m_alerts->reload();
    m_dashboard->showHistory(m_engine.get());
}

SettingsDialog *MainWindow::openSettings()
{
    if (m_settingsDialog) {
        m_settingsDialog->raise();
        m_settingsDialog->activateWindow();
        return m_settingsDialog;
    }
    m_settingsDialog = new SettingsDialog(m_engine.get(), m_keyStore, m_engine->priceOverridePath(), this);
    m_settingsDialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(m_settingsDialog, &SettingsDialog::concurrencyChanged, this, [this](int concurrency) {
        // Jobs running here follow the new default at once (the engine ignores the others).
        for (const JobInfo &job : m_jobsModel->jobs()) {
            if (job.state == JobState::Running)
                m_engine->setJobConcurrency(job.id, concurrency);
        }
    });
    m_settingsDialog->showGlobalBudget(m_globalBudgetUsd);
    connect(m_settingsDialog, &SettingsDialog::openDatabaseRequested, this,
            &MainWindow::chooseDatabase);
    connect(m_settingsDialog, &SettingsDialog::globalBudgetChanged, this, [this](double usd) {
        m_engine->setGlobalBudget(usd, QString()); // stored in the database; the period stays
        Q_EMIT globalBudgetChanged(usd);
    });
    m_settingsDialog->show();
    return m_settingsDialog;
}

void MainWindow::handleJobsListed(const QList<JobInfo> &jobs)
{
    const qint64 selected = currentJobId();
    m_jobsModel->setJobs(jobs);
    m_tasks->setJobs(jobs);
    m_deadLetters->setJobs(jobs);
    m_dashboard->setJobs(jobs);
    m_home->setJobCount(jobs.size());
    if (m_pendingSelect && m_jobsModel->rowOf(m_pendingSelect) >= 0)
        selectJob(std::exchange(m_pendingSelect, 0));
    else if (selected)
        selectJob(selected);
    else if (!jobs.isEmpty() && !m_jobsView->currentIndex().isValid())
        selectJob(jobs.constLast().id);
    const bool firstList = !std::exchange(m_resumedOnce, true);
    if (m_options.resumeInterruptedJobs) {
        for (const JobInfo &job : jobs) {
            // Left running by the last session (seen when the window opens), or waiting
            // for a worker whenever it turns up: submitted, or handed back by an engine that
            // stopped. A job another live process runs is left to it (it shares the tasks
            // through leases when it wants help: batchctl worker).
            const bool interrupted = firstList && job.state == JobState::Running;
            if ((interrupted || waitsForAWorker(job.state, job.stateReason)) &&
                mayTakeUp(job.id, job.counts, job.runner))
                resumeJob(job.id);
        }
    }
    if (std::exchange(m_resumeFinishedWithWork, false)) {
        // Tasks replayed here of a job that had finished: it runs them, no Resume needed.
        for (const JobInfo &job : jobs) {
            if (job.state == JobState::Finished && job.counts.unfinished() > 0 &&
                job.runner.isEmpty())
                resumeJob(job.id);
        }
    }
    updateActions();
    updateStatusTotals();
}

bool MainWindow::mayTakeUp(qint64 jobId, const TaskCounts &counts, const QString &runner) const
{
    return counts.unfinished() > 0 && runner.isEmpty() && !m_notTakenUp.contains(jobId) &&
           !m_awaitingKey.contains(jobId);
}

void MainWindow::updateStatusTotals()
{
    TaskCounts totals;
    double spend = 0;
    int running = 0;
    for (const JobInfo &job : m_jobsModel->jobs()) {
        totals.pending += job.counts.pending;
        totals.leased += job.counts.leased;
        totals.completed += job.counts.completed;
        totals.dead += job.counts.dead;
        spend += job.costUsd;
        running += job.state == JobState::Running;
    }
    const QString runningText = running == 1 ? tr("1 job running") : tr("%1 jobs running").arg(running);
    QString inProgress = tr("%1 in progress").arg(formatCount(totals.leased));
    if (m_requestsInFlight >= 0)
        inProgress += tr(" (%1 in flight)").arg(formatCount(m_requestsInFlight));
    m_statusTotals->setText(tr("%1 · %2 pending · %3 · %4 done · %5 dead · %6")
                                .arg(runningText, formatCount(totals.pending), inProgress,
                                     formatCount(totals.completed), formatCount(totals.dead),
                                     formatUsd(spend)));
    m_statusTotals->setToolTip(
        tr("In progress: tasks a worker has claimed (in a request now, about to be sent, or "
           "inside a provider batch).\nIn flight: requests out now, as %1 on the database "
           "said at their last heartbeat.")
            .arg(countOf(m_liveWorkers, "live worker", "live workers")));
}

void MainWindow::updateActions()
{
    const qint64 jobId = currentJobId();
    const auto job = m_jobsModel->job(jobId);
    const bool has = job.has_value();
    const JobState state = has ? job->state : JobState::Importing;
    m_pauseAction->setEnabled(has && state == JobState::Running);
    m_resumeAction->setEnabled(has && (state == JobState::Paused || (state == JobState::Finished && job->counts.unfinished() > 0)));
    m_cancelAction->setEnabled(has && state != JobState::Cancelled && state != JobState::Finished && state != JobState::Importing);
    m_reprioritiseAction->setEnabled(has && state != JobState::Cancelled && state != JobState::Importing);
    m_exportAction->setEnabled(has && state != JobState::Importing);
    m_runAgainAction->setEnabled(has);
    m_runNowAction->setEnabled(has && state == JobState::Running && !m_jobsModel->waitingFor(jobId).isEmpty());
    m_showTasksAction->setEnabled(has);
    const int page = m_stack ? m_stack->currentIndex() : 0;
    for (int i = 0; i < m_pageActions.size(); ++i)
        m_pageActions.at(i)->setChecked(i == page);
}

void MainWindow::showPage(Page page)
{
    m_sidebar->setCurrentRow(int(page));
    m_stack->setCurrentIndex(int(page));
    updateActions();
}

MainWindow::Page MainWindow::currentPage() const
{
    return static_cast<Page>(m_stack->currentIndex());
}

std::optional<MainWindow::Page> MainWindow::pageFromName(const QString &name)
{
    const QString n = name.toLower();
    if (n == u"dashboard"_s)
        return DashboardScreen;
    if (n == u"jobs"_s)
        return JobsScreen;
    if (n == u"tasks"_s)
        return TasksScreen;
    if (n == u"dead"_s || n == u"dead-letters"_s || n == u"deadletters"_s)
        return DeadLettersScreen;
    if (n == u"alerts"_s)
        return AlertsScreen;
    if (n == u"workers"_s)
        return WorkersScreen;
    return std::nullopt;
}

qint64 MainWindow::currentJobId() const
{
    const QModelIndex index = m_jobsView->currentIndex();
    if (!index.isValid())
        return 0;
    return m_jobsModel->data(m_jobsModel->index(index.row(), 0), JobsModel::JobIdRole).toLongLong();
}

void MainWindow::selectJob(qint64 jobId)
{
    const int row = m_jobsModel->rowOf(jobId);
    if (row >= 0)
        m_jobsView->selectRow(row);
}

void MainWindow::pauseJob(qint64 jobId)
{
    if (!jobId)
        return;
    m_engine->pauseJob(jobId, StopCause::User);
    statusBar()->showMessage(tr("Pausing job %1 …").arg(jobId), 5000);
}

void MainWindow::resumeJob(qint64 jobId)
{
    const auto job = m_jobsModel->job(jobId);
    if (!job)
        return;
    // The key may come from the OS keychain: the job starts when it has answered.
    m_awaitingKey.insert(jobId);
    resolveProviderConfig(
        job->spec, this,
        [this, jobId](const ProviderConfig &config, const QString &problem) {
            m_awaitingKey.remove(jobId);
            if (!problem.isEmpty()) {
                m_notTakenUp.insert(jobId);
                statusBar()->showMessage(tr("Job %1 not started: %2").arg(jobId).arg(problem),
                                         15000);
                return;
            }
            m_notTakenUp.remove(jobId);
            m_engine->startJob(jobId, config);
        });
    statusBar()->showMessage(tr("Starting job %1 …").arg(jobId), 5000);
}

void MainWindow::cancelJob(qint64 jobId, bool confirm)
{
    const auto job = m_jobsModel->job(jobId);
    if (!job)
        return;
    if (confirm
        && QMessageBox::question(this, tr("Cancel job %1").arg(jobId),
                                 tr("Cancel job %1? Its %2 unfinished tasks will not be sent; "
                                    "answers already stored stay.")
                                     .arg(jobId).arg(formatCount(job->counts.unfinished())),
                                 QMessageBox::Yes | QMessageBox::No, QMessageBox::No)
               != QMessageBox::Yes)
        return;
    m_engine->cancelJob(jobId, tr("cancelled by the user"));
}

void MainWindow::reprioritiseJob(qint64 jobId, int priority)
{
    if (jobId && priority >= 1 && priority <= 3)
        m_engine->reprioritiseJob(jobId, priority);
}

void MainWindow::reprioritiseSelected()
{
    const auto job = m_jobsModel->job(currentJobId());
    if (!job)
        return;
    const QStringList items = priorityLabels();
    bool ok = false;
    const QString choice = QInputDialog::getItem(this, tr("Reprioritise job %1").arg(job->id),
                                                 tr("Priority for its pending tasks:"), items,
                                                 qBound(0, job->spec.priority - 1, 2), false, &ok);
    if (ok)
        reprioritiseJob(job->id, int(items.indexOf(choice)) + 1);
}

void MainWindow::exportJob(qint64 jobId)
{
    const auto job = m_jobsModel->job(jobId);
    if (!job)
        return;
    const QFileInfo source(job->spec.sourcePath);
    const QString suggested = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)
                              + u"/"_s + source.completeBaseName() + u"-job%1-results.csv"_s.arg(jobId);
    auto *dialog = new ExportDialog(m_engine.get(), jobId, suggested, this);
    dialog->setJobCounts(job->counts);
    connect(dialog, &ExportDialog::exported, this, [this](qint64 id, const QString &path, bool ok, const QString &error) {
        statusBar()->showMessage(ok ? tr("Job %1 exported to %2").arg(id).arg(path)
                                    : tr("Export of job %1 failed: %2").arg(id).arg(error), 10000);
    });
    dialog->open();
}

void MainWindow::runNow(qint64 jobId)
{
    if (!jobId || m_jobsModel->waitingFor(jobId).isEmpty())
        return;
    m_engine->runNow(jobId);
    statusBar()->showMessage(tr("Job %1 sends its off-peak work now").arg(jobId), 8000);
}

void MainWindow::runAgain(qint64 jobId)
{
    const auto job = m_jobsModel->job(jobId);
    if (!job)
        return;
    if (ImportWizard *wizard = openCsv(job->spec.sourcePath))
        wizard->setFromJob(*job);
}

ImportWizard *MainWindow::openCsv(const QString &path)
{
    auto *wizard = new ImportWizard(m_engine.get(), path, this);
    connect(wizard, &ImportWizard::providerSettingsRequested, this, [this, wizard] {
        SettingsDialog *settings = openSettings();
        settings->showTab(SettingsDialog::ProvidersTab);
        // Above the wizard (window-modal over this window): modal itself, or it takes no input.
        if (settings->windowModality() != Qt::ApplicationModal) {
            settings->hide();
            settings->setWindowModality(Qt::ApplicationModal);
            settings->show();
        }
        // A key saved there counts at once.
        connect(settings, &QObject::destroyed, wizard, &ImportWizard::checkProviderKey, Qt::UniqueConnection);
    });
    connect(wizard, &ImportWizard::jobImported, this, [this](qint64 jobId, bool continued, bool started) {
        Q_UNUSED(continued);
        if (!started)
            m_notTakenUp.insert(jobId);
        m_engine->requestJobs();
        m_pendingSelect = jobId;
        showPage(JobsScreen);
    });
    wizard->open();
    Q_EMIT importWizardOpened(wizard);
    return wizard;
}

void MainWindow::chooseCsv()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Open CSV"), csvFolder(),
                                                      tr("CSV files (*.csv *.tsv *.txt);;All files (*)"));
    if (path.isEmpty())
        return;
    m_lastCsvFolder = QFileInfo(path).absolutePath();
    openCsv(path);
}

void MainWindow::chooseDatabase()
{
    QDialog dialog(this);
    dialog.setWindowTitle(tr("Open database"));
    auto *location = new QLineEdit(m_engine->database(), &dialog);
    location->setPlaceholderText(
        tr("/path/to/batchdesk.sqlite or postgresql://user@host:5432/batchdesk"));
    location->setMinimumWidth(460);
    auto *browse = new QPushButton(tr("Browse…"), &dialog);
    connect(browse, &QPushButton::clicked, &dialog, [this, location] {
        const QString path =
            QFileDialog::getSaveFileName(this, tr("SQLite database"), location->text(),
                                         tr("SQLite databases (*.sqlite *.db);;All files (*)"),
                                         nullptr, QFileDialog::DontConfirmOverwrite);
        if (!path.isEmpty())
            location->setText(path);
    });
    auto *row = new QHBoxLayout;
    row->addWidget(location, 1);
    row->addWidget(browse);
    auto *buttons =
        new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, &dialog);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    auto *layout = new QVBoxLayout(&dialog);
    auto *help =
        new QLabel(tr("An SQLite file (created if missing), or a PostgreSQL database shared with "
                      "<code>batchctl worker</code> processes. The password of a PostgreSQL "
                      "URL comes from PGPASSWORD or ~/.pgpass, never from the URL. The console "
                      "starts again on the database and opens it next time too."),
                   &dialog);
    help->setWordWrap(true);
    layout->addWidget(help);
    layout->addLayout(row);
    layout->addWidget(buttons);
    if (dialog.exec() != QDialog::Accepted)
        return;
    const QString chosen = location->text().trimmed();
    if (chosen.isEmpty() || chosen == m_engine->database())
        return;
    const bool server = isServerDatabase(chosen);
    if (server && !QUrl(chosen).password().isEmpty()) {
        QMessageBox::warning(
            this, tr("Open database"),
            tr("Leave the password out of the URL: put it in ~/.pgpass or PGPASSWORD. "
               "BatchDesk never stores it."));
        return;
    }
    const QString database = server ? chosen : QFileInfo(chosen).absoluteFilePath();
    QSettings().setValue(QString::fromLatin1(consolesettings::kDatabase), database);
    if (close())
        QProcess::startDetached(QCoreApplication::applicationFilePath(), {u"--db"_s, database});
}

QString MainWindow::csvFolder() const
{
    // The folder of the last file opened, else Documents, else home: one that exists (a
    // dialog asked for a missing folder opens somewhere arbitrary).
    for (const QString &folder : {m_lastCsvFolder, QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)}) {
        if (!folder.isEmpty() && QFileInfo(folder).isDir())
            return folder;
    }
    return QDir::homePath();
}

void MainWindow::trySample()
{
    if (m_sampleWatcher)
        return; // already on its way
    m_home->welcome()->setSampleBusy(true);
    m_sampleWatcher = new QFutureWatcher<QString>(this);
    connect(m_sampleWatcher, &QFutureWatcher<QString>::finished, this, [this] {
        const QString path = m_sampleWatcher->result();
        m_sampleWatcher->deleteLater();
        m_sampleWatcher = nullptr;
        m_home->welcome()->setSampleBusy(false);
        if (path.isEmpty()) {
            QMessageBox::warning(this, tr("Sample"), tr("The sample could not be written to the data folder."));
            return;
        }
        ImportWizard *wizard = openCsv(path);
        wizard->setFromJob(samplejob::settings());
        wizard->startWhenReady();
    });
    m_sampleWatcher->setFuture(samplejob::prepareCsv());
}

QString MainWindow::localCsvFromMime(const QMimeData *mime)
{
    if (!mime || !mime->hasUrls())
        return {};
    for (const QUrl &url : mime->urls()) {
        if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isFile())
            return url.toLocalFile();
    }
    return {};
}

void MainWindow::applySidebarPalette()
{
    // The sidebar reads as part of the window: its base is the window colour of the palette
    // in force, taken again whenever the palette changes (light to dark at run time).
    QPalette sidebarPalette = palette();
    sidebarPalette.setColor(QPalette::Base, palette().color(QPalette::Window));
    m_sidebar->setPalette(sidebarPalette);
}

void MainWindow::changeEvent(QEvent *event)
{
    QMainWindow::changeEvent(event);
    if (m_sidebar && (event->type() == QEvent::PaletteChange || event->type() == QEvent::ThemeChange))
        applySidebarPalette();
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (!localCsvFromMime(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void MainWindow::dragMoveEvent(QDragMoveEvent *event)
{
    if (!localCsvFromMime(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent *event)
{
    const QString path = localCsvFromMime(event->mimeData());
    if (path.isEmpty())
        return;
    event->acceptProposedAction();
    // Any file is offered to the wizard: it reads it off the GUI thread and says what is
    // wrong (binary, empty, broken quoting, line numbers) before anything is stored.
    openCsv(path);
}

void MainWindow::notify(const QString &title, const QString &message)
{
    statusBar()->showMessage(u"%1 — %2"_s.arg(title, message), 15000);
    if (m_tray && m_tray->isVisible())
        m_tray->showMessage(title, message, QSystemTrayIcon::Warning, 10000);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_options.restoreWindowState) {
        QSettings settings;
        settings.setValue(u"window/geometry"_s, saveGeometry());
        settings.setValue(u"window/page"_s, int(currentPage()));
    }
    QMainWindow::closeEvent(event);
}

} // namespace bd::ui
