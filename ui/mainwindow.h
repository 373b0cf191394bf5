#pragma once

#include "api/types.h"
#include "api/engine.h"

#include <QFutureWatcher>
#include <QMainWindow>
#include <QPointer>
#include <QSet>

#include <memory>

class QAction;
class QLabel;
class QMimeData;
class QListWidget;
class QStackedWidget;
class QSystemTrayIcon;
class QTableView;

namespace bd {
class Engine;
}
namespace bd::secrets {
class KeyStore;
}

namespace bd::ui {

class AlertsPage;
class WorkersPage;
class SettingsDialog;
class DashboardPage;
class HomePage;
class DeadLettersPage;
class ImportWizard;
class JobsModel;
class LaneControls;
class TasksPage;

// The console's main window: a sidebar of screens (dashboard, jobs, tasks, dead letters,
// alerts), menus, toolbar, status bar and shortcuts. Holds the engine facade and nothing
// deeper; every read and write goes through it, answers come back as signals.
class MainWindow final : public QMainWindow
{
    Q_OBJECT

public:
    enum Page
    {
        DashboardScreen,
        JobsScreen,
        TasksScreen,
        DeadLettersScreen,
        AlertsScreen,
        WorkersScreen,
        ScreenCount
    };

    struct Options
    {
        int snapshotIntervalMs = 1000;
        // Jobs the last session left running continue, and jobs waiting for a worker
        // (batchctl submit, handed back by an engine that stopped) run here as they turn
        // up, as a batchctl worker runs them (CLI.md).
        bool resumeInterruptedJobs = true;
        bool restoreWindowState = true;
        bool trayNotifications = true;
        bool useKeychain = true; // false: API keys from the environment only (tests)
    };

    // The window holds the engine it is given (made by the composition root with
    // createEngine) and opens it.
    MainWindow(std::unique_ptr<Engine> engine, const Options &options, QWidget *parent = nullptr);
    ~MainWindow() override;

    Engine *engine() const { return m_engine.get(); }
    JobsModel *jobsModel() const { return m_jobsModel; }
    QTableView *jobsView() const { return m_jobsView; }
    DashboardPage *dashboardPage() const { return m_dashboard; }
    TasksPage *tasksPage() const { return m_tasks; }
    DeadLettersPage *deadLettersPage() const { return m_deadLetters; }
    AlertsPage *alertsPage() const { return m_alerts; }
    LaneControls *laneControls() const { return m_lanes; }
    bool isEngineOpen() const { return m_opened; }

    void showPage(Page page);
    Page currentPage() const;
    static std::optional<Page> pageFromName(const QString &name);

    // Opens the import wizard for a file (drop, File › Open, command line).
    ImportWizard *openCsv(const QString &path);
    // The welcome panel's sample: the bundled reviews imported and run on the simulator.
    void trySample();
    HomePage *homePage() const { return m_home; }
    void selectJob(qint64 jobId);
    qint64 currentJobId() const;

    void pauseJob(qint64 jobId);
    void resumeJob(qint64 jobId);
    void cancelJob(qint64 jobId, bool confirm = true);
    void reprioritiseJob(qint64 jobId, int priority);
    void exportJob(qint64 jobId);
    void runAgain(qint64 jobId);
    // A job waiting for its off-peak window sends its work now (kept with the job).
    void runNow(qint64 jobId);
    // Edit › Settings (Ctrl+,): one dialog at a time; returns it.
    SettingsDialog *openSettings();
    // Where File › Open CSV… starts: the last file's folder, else Documents, else home,
    // whichever exists first.
    QString csvFolder() const;

Q_SIGNALS:
    void importWizardOpened(bd::ui::ImportWizard *wizard);
    // The user set the global budget in the settings (0: none); the engine has it.
    void globalBudgetChanged(double usd);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void closeEvent(QCloseEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    void buildActions();
    void buildMenus();
    void buildPages();
    void connectEngine();
    void handleOpened(bool ok, const QString &error);
    void handleJobsListed(const QList<bd::JobInfo> &jobs);
    void updateActions();
    void updateStatusTotals();
    void notify(const QString &title, const QString &message);
    void chooseCsv();
    // File › Open database…: an SQLite file or a PostgreSQL URL, remembered for the next
    // start; the console starts again on it (its engine, pages and workers row belong to
    // one database).
    void chooseDatabase();
    void applySidebarPalette();
    void reprioritiseSelected();
    // Whether this window may take up a job on its own (left running by the last session, or
    // waiting for a worker): work left, nobody running it, not refused here, no key awaited.
    bool mayTakeUp(qint64 jobId, const TaskCounts &counts, const QString &runner) const;
    static QString localCsvFromMime(const QMimeData *mime);

    Options m_options;
    std::unique_ptr<Engine> m_engine;
    bool m_opened = false;
    double m_globalBudgetUsd = 0.0; // the engine's, from its snapshots
    bool m_resumedOnce = false;
    // Jobs this window does not take up on its own: no key for them here, or imported with
    // "Start the job after the import" unticked.
    QSet<qint64> m_notTakenUp;
    // Jobs whose start waits on the key store (a keychain may ask the user): not taken up
    // again meanwhile, however many snapshots show them waiting.
    QSet<qint64> m_awaitingKey;
    QSet<qint64> m_resumeAfterReplay;
    bool m_resumeFinishedWithWork = false; // after a replay: finished jobs with work run it
    qint64 m_pendingSelect = 0;

    JobsModel *m_jobsModel = nullptr;
    QListWidget *m_sidebar = nullptr;
    QStackedWidget *m_stack = nullptr;
    HomePage *m_home = nullptr;
    DashboardPage *m_dashboard = nullptr;
    QFutureWatcher<QString> *m_sampleWatcher = nullptr;
    QString m_lastCsvFolder;
    QWidget *m_jobsPage = nullptr;
    QTableView *m_jobsView = nullptr;
    TasksPage *m_tasks = nullptr;
    DeadLettersPage *m_deadLetters = nullptr;
    AlertsPage *m_alerts = nullptr;
    WorkersPage *m_workers = nullptr;
    LaneControls *m_lanes = nullptr;
    QSystemTrayIcon *m_tray = nullptr;
    secrets::KeyStore *m_keyStore = nullptr;
    QPointer<SettingsDialog> m_settingsDialog;

    QLabel *m_statusDb = nullptr;
    QLabel *m_statusTotals = nullptr;
    // Requests out now over every worker's last heartbeat (-1: not heard yet), and how many
    // workers said so.
    qint64 m_requestsInFlight = -1;
    int m_liveWorkers = 0;

    QAction *m_openDatabaseAction = nullptr;
    QAction *m_openAction = nullptr;
    QAction *m_exportAction = nullptr;
    QAction *m_quitAction = nullptr;
    QAction *m_pauseAction = nullptr;
    QAction *m_resumeAction = nullptr;
    QAction *m_cancelAction = nullptr;
    QAction *m_reprioritiseAction = nullptr;
    QAction *m_runAgainAction = nullptr;
    QAction *m_runNowAction = nullptr;
    QAction *m_showTasksAction = nullptr;
    QAction *m_refreshAction = nullptr;
    QAction *m_settingsAction = nullptr;
    QList<QAction *> m_pageActions;
};

} // namespace bd::ui
