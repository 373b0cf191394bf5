#pragma once

#include "core/tasktypes.h"
#include "api/engine.h"
#include "importwizard.h"
#include "mainwindow.h"
#include "store/sqlite/sqlitestore.h"
#include "templateeditor.h"

#include <QFile>
#include <QPointer>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <optional>

namespace bd::testing {

// What the console's GUI tests share: files in a scratch folder, a main window on a
// database of its own, the import wizard driven to a new job, and reads of what the
// window's engine stored (through a second connection, as another process would).
class GuiTestFixture
{
protected:
    QTemporaryDir m_dir;
    int m_dbCounter = 0;

    QString writeFile(const QString &name, const QByteArray &bytes)
    {
        const QString path = m_dir.filePath(name);
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly))
            qFatal("cannot write %s", qPrintable(path));
        file.write(bytes);
        return path;
    }

    // "id,product,text" rows; every second row carries the marker (the simulator refuses
    // a row with "[[sim:invalid]]").
    QString reviewsCsv(const QString &name, int rows, const QByteArray &marker = {})
    {
        QByteArray csv = "id,product,text\n";
        for (int i = 1; i <= rows; ++i) {
            csv += "R" + QByteArray::number(i) + ",kettle,\"Review number " + QByteArray::number(i)
                   + ", it boils water" + (i % 2 ? QByteArray() : marker) + "\"\n";
        }
        return writeFile(name, csv);
    }

    // A shown window whose engine has opened a new database; keys only from the environment.
    // It takes up no work it did not start unless takesUpWork (as the console does: jobs
    // left running, submitted or handed back).
    std::unique_ptr<ui::MainWindow> makeWindow(QString *dbPath, bool takesUpWork = false)
    {
        EngineOptions engineOptions;
        engineOptions.database = m_dir.filePath(QStringLiteral("db%1.sqlite").arg(++m_dbCounter));
        ui::MainWindow::Options options;
        options.restoreWindowState = false;
        options.trayNotifications = false;
        options.resumeInterruptedJobs = takesUpWork;
        options.useKeychain = false;
        options.snapshotIntervalMs = 100;
        *dbPath = engineOptions.database;
        auto window = std::make_unique<ui::MainWindow>(createEngine(engineOptions), options);
        QObject::connect(window->engine(), &Engine::opened, window.get(), [](bool ok, const QString &error) {
            if (!ok)
                qWarning("the engine did not open: %s", qPrintable(error));
        });
        window->show();
        if (!QTest::qWaitFor([&] { return window->isEngineOpen(); }, 10000))
            qFatal("the engine did not open");
        return window;
    }

    static std::optional<JobInfo> storedJob(const QString &dbPath, qint64 jobId)
    {
        store::SqliteStore store(dbPath);
        return store.isOpen() ? store.job(jobId) : std::nullopt;
    }

    static QList<JobInfo> storedJobs(const QString &dbPath)
    {
        store::SqliteStore store(dbPath);
        return store.isOpen() ? store.jobs() : QList<JobInfo>();
    }

    static ui::ImportWizard *waitForWizard(ui::MainWindow &window)
    {
        ui::ImportWizard *wizard = nullptr;
        if (!QTest::qWaitFor([&] {
                wizard = window.findChild<ui::ImportWizard *>();
                return wizard && !wizard->isPreviewLoading() && !wizard->isHidden();
            }, 10000))
            return nullptr;
        QTest::qWait(50); // the full scan of the file follows the preview
        return wizard;
    }

    // Imports through the wizard and returns the new job's id (0 when it did not come).
    qint64 importThroughWizard(ui::MainWindow &window, const QString &dbPath, const QString &csv,
                               const QString &templateText, int latencyMs)
    {
        const int before = int(storedJobs(dbPath).size());
        window.openCsv(csv);
        ui::ImportWizard *wizard = waitForWizard(window);
        if (!wizard)
            return 0;
        wizard->templateEditor()->setPlainText(templateText);
        wizard->setSimulatorLatency(latencyMs);
        if (!wizard->startImport())
            return 0;
        const QPointer<ui::ImportWizard> open(wizard);
        qint64 jobId = 0;
        const bool imported = QTest::qWaitFor([&] {
            const auto jobs = storedJobs(dbPath);
            if (jobs.size() > before && jobs.constLast().state != JobState::Importing)
                jobId = jobs.constLast().id;
            return jobId != 0;
        }, 20000);
        // The wizard closes when the engine's answer reaches it (after the job is stored):
        // the next wizard looked for is then a new one.
        const bool closed = QTest::qWaitFor([&] { return open.isNull(); }, 5000);
        return imported && closed ? jobId : 0;
    }
};

} // namespace bd::testing
