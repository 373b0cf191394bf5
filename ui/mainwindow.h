#pragma once

#include <QMainWindow>

#include <memory>

class QLabel;
class QTableView;
class QTimer;

namespace bd {
class Engine;
}

namespace bd::ui {

class JobsModel;

// The console's main window. Holds the engine facade; the database path comes from the
// command line (--db) or the per-user data folder.
class MainWindow final : public QMainWindow
{
    Q_OBJECT

public:
    explicit MainWindow(const QString &databasePath, QWidget *parent = nullptr);
    ~MainWindow() override;

private:
    void handleOpened(bool ok, const QString &error);

    std::unique_ptr<Engine> m_engine;
    JobsModel *m_jobsModel = nullptr;
    QTableView *m_jobsView = nullptr;
    QLabel *m_status = nullptr;
    QTimer *m_refresh = nullptr;
    QString m_databasePath;
};

} // namespace bd::ui
