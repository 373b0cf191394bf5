// Settings › every page on the offscreen platform: values persist in QSettings and come
// back, reach the engine (defaults for new jobs, concurrency of a running job), "Test
// connection" goes through the engine to the loopback fake provider, and edited prices are
// written to the override file and reloaded. Also: stopping an export leaves no file.
#include "api/engine.h"
#include "consolesettings.h"
#include "exportdialog.h"
#include "fakeprovider.h"
#include "importwizard.h"
#include "jobsmodel.h"
#include "mainwindow.h"
#include "pricespage.h"
#include "providerspage.h"
#include "settingsdialog.h"
#include "store/sqlite/sqlitestore.h"
#include "templateeditor.h"

#include <memory>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QHostAddress>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPointer>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QTimeEdit>
#include <QTimer>

using namespace Qt::StringLiterals;
using bd::ui::MainWindow;
using bd::ui::SettingsDialog;
namespace cs = bd::ui::consolesettings;

class TestGuiSettings final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_dbCounter = 0;

    std::unique_ptr<MainWindow> makeWindow(QString *dbPath = nullptr, bool keychain = false)
    {
        bd::EngineOptions engineOptions;
        engineOptions.database = m_dir.filePath(u"db%1.sqlite"_s.arg(++m_dbCounter));
        engineOptions.priceOverridePath = m_dir.filePath(u"config%1/prices.json"_s.arg(m_dbCounter));
        MainWindow::Options options;
        options.restoreWindowState = false;
        options.trayNotifications = false;
        options.resumeInterruptedJobs = false;
        options.snapshotIntervalMs = 100;
        options.useKeychain = keychain; // most tests: keys from the field or the environment
        if (dbPath)
            *dbPath = engineOptions.database;
        auto window = std::make_unique<MainWindow>(bd::createEngine(engineOptions), options);
        window->show();
        if (!QTest::qWaitFor([&] { return window->isEngineOpen(); }, 10000))
            qFatal("the engine did not open");
        return window;
    }

    static double storedGlobalBudget(const QString &dbPath)
    {
        double usd = -1;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"budget-check"_s);
            db.setDatabaseName(dbPath);
            if (db.open()) {
                QSqlQuery query(db);
                if (query.exec(u"SELECT value FROM settings WHERE key = 'global_budget_usd'"_s) && query.next())
                    usd = query.value(0).toDouble();
            }
        }
        QSqlDatabase::removeDatabase(u"budget-check"_s);
        return usd;
    }

    QString writeCsv(const QString &name, int rows)
    {
        const QString path = m_dir.filePath(name);
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly))
            qFatal("cannot write %s", qPrintable(path));
        file.write("id,text\n");
        for (int i = 1; i <= rows; ++i)
            file.write("R" + QByteArray::number(i) + ",row number " + QByteArray::number(i) + "\n");
        return path;
    }

    static QList<bd::JobInfo> storedJobs(const QString &dbPath)
    {
        bd::store::SqliteStore store(dbPath);
        return store.isOpen() ? store.jobs() : QList<bd::JobInfo>();
    }

    // Imports a simulator job through the wizard (started after the import).
    qint64 importJob(MainWindow &window, const QString &dbPath, const QString &csv, int latencyMs,
                     bool start = true)
    {
        window.openCsv(csv);
        bd::ui::ImportWizard *wizard = nullptr;
        if (!QTest::qWaitFor(
                [&] {
                    wizard = window.findChild<bd::ui::ImportWizard *>();
                    return wizard && !wizard->isPreviewLoading() && !wizard->isHidden();
                },
                10000))
            return 0;
        QTest::qWait(50);
        wizard->templateEditor()->setPlainText(u"Echo {{text}}"_s);
        wizard->setSimulatorLatency(latencyMs);
        if (!start)
            wizard->findChild<QCheckBox *>(u"startAfterImport"_s)->setChecked(false);
        if (!wizard->startImport())
            return 0;
        const QPointer<bd::ui::ImportWizard> asking(wizard);
        qint64 jobId = 0;
        (void)QTest::qWaitFor(
            [&] {
                // A large import (more than 50,000 rows) asks first: yes.
                if (asking && asking->importConfirmation()) {
                    for (QAbstractButton *button : asking->importConfirmation()->buttons()) {
                        if (button->text() == u"Import"_s)
                            button->click();
                    }
                }
                const auto jobs = storedJobs(dbPath);
                if (!jobs.isEmpty() && jobs.constLast().state != bd::JobState::Importing)
                    jobId = jobs.constLast().id;
                return jobId != 0;
            },
            20000);
        return jobId;
    }

    // The concurrency the engine reports for a job running here (0: not running here).
    static int runningConcurrency(MainWindow &window, qint64 jobId)
    {
        QSignalSpy snapshots(window.engine(), &bd::Engine::snapshotTaken);
        if (!snapshots.wait(5000))
            return -1;
        const auto snapshot = snapshots.constLast().at(0).value<bd::EngineSnapshot>();
        for (const bd::JobSnapshot &job : snapshot.jobs) {
            if (job.jobId == jobId)
                return job.concurrency;
        }
        return 0;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
        qunsetenv("OPENAI_API_KEY");
        qunsetenv("ANTHROPIC_API_KEY");
    }

    void init() { QSettings().clear(); }

    void settingsPersistAndReload()
    {
        QString firstDb;
        auto window = makeWindow(&firstDb);
        SettingsDialog *dialog = window->openSettings();
        QVERIFY(dialog);
        QCOMPARE(dialog->concurrencyBox()->value(),
                 16); // the engine's default before anything is set
        dialog->providersPage()->baseUrlEdit(u"openai"_s)->setText(u"http://127.0.0.1:8080/v1"_s);
        dialog->concurrencyBox()->setValue(7);
        const auto spins = [&](const QString &suffix) {
            QList<QSpinBox *> found;
            for (QSpinBox *box : dialog->findChildren<QSpinBox *>()) {
                if (box->suffix() == suffix)
                    found.append(box);
            }
            return found;
        };
        const QList<QSpinBox *> groupBoxes = spins(u" tasks"_s);
        QCOMPARE(groupBoxes.size(), 3);
        groupBoxes.at(0)->setValue(40);
        groupBoxes.at(1)->setValue(80);
        groupBoxes.at(2)->setValue(160);
        dialog->findChild<QCheckBox *>(u"offpeakEnabled"_s)->setChecked(true);
        const QList<QTimeEdit *> times = dialog->findChildren<QTimeEdit *>();
        QCOMPARE(times.size(), 2);
        times.at(0)->setTime(QTime(23, 0));
        times.at(1)->setTime(QTime(5, 30));
        dialog->findChild<QComboBox *>(u"offpeakZone"_s)->setCurrentText(u"Europe/Berlin"_s);
        dialog->findChild<QDoubleSpinBox *>(u"globalBudget"_s)->setValue(250);
        dialog->findChild<QSpinBox *>(u"metricsPort"_s)->setValue(0);
        dialog->findChild<QLineEdit *>(u"webhookUrl"_s)->setText(u"https://hooks.example.com/bd"_s);
        QSignalSpy budget(window.get(), &MainWindow::globalBudgetChanged);
        QSignalSpy applied(dialog, &SettingsDialog::applied);
        dialog->apply();
        QCOMPARE(applied.count(), 1);
        QCOMPARE(budget.count(), 1);
        QCOMPARE(budget.first().at(0).toDouble(), 250.0);
        {
            // Kept in the database, where every worker (and batchctl budget) reads it.
            QTRY_VERIFY_WITH_TIMEOUT(storedGlobalBudget(firstDb) == 250.0, 5000);
        }
        dialog->close();
        QTRY_VERIFY(window->findChild<SettingsDialog *>() == nullptr);

        // Stored under the documented keys ...
        const QSettings settings;
        QCOMPARE(settings.value(u"providers/openai/base_url"_s).toString(),
                 u"http://127.0.0.1:8080/v1"_s);
        const QJsonObject defaults = cs::defaultJobSettings(settings);
        QCOMPARE(defaults.value(u"concurrency"_s).toInt(), 7);
        QCOMPARE(defaults.value(u"group_sizes"_s).toArray(), (QJsonArray{40, 80, 160}));
        QCOMPARE(defaults.value(u"offpeak"_s).toObject(),
                 (QJsonObject{{u"start"_s, u"23:00"_s},
                              {u"end"_s, u"05:30"_s},
                              {u"timezone"_s, u"Europe/Berlin"_s}}));
        const QJsonObject monitoring = cs::monitoring(settings);
        QCOMPARE(monitoring.value(u"notify"_s).toObject().value(u"webhook_url"_s).toString(),
                 u"https://hooks.example.com/bd"_s);

        // ... and a new dialog, even in a new window, shows them again.
        window.reset();
        window = makeWindow();
        dialog = window->openSettings();
        QCOMPARE(dialog->concurrencyBox()->value(), 7);
        QCOMPARE(dialog->providersPage()->baseUrlEdit(u"openai"_s)->text(),
                 u"http://127.0.0.1:8080/v1"_s);
        QCOMPARE(dialog->findChild<QCheckBox *>(u"offpeakEnabled"_s)->isChecked(), true);
        QCOMPARE(dialog->findChildren<QTimeEdit *>().at(1)->time(), QTime(5, 30));
        QCOMPARE(dialog->findChild<QComboBox *>(u"offpeakZone"_s)->currentText(),
                 u"Europe/Berlin"_s);
        // The global budget is the database's: a window on another database has none.
        QCOMPARE(dialog->findChild<QDoubleSpinBox *>(u"globalBudget"_s)->value(), 0.0);

        // A wrong field is named and nothing is written.
        dialog->findChild<QLineEdit *>(u"webhookUrl"_s)->setText(u"ftp://nowhere"_s);
        dialog->concurrencyBox()->setValue(9);
        dialog->apply();
        const QLabel *error = dialog->findChild<QLabel *>(u"settingsError"_s);
        QVERIFY(!error->isHidden());
        QVERIFY2(error->text().contains(u"Webhook URL"_s), qPrintable(error->text()));
        QCOMPARE(QSettings().value(u"limits/concurrency"_s).toInt(), 7);
    }

    void monitoringAppliesAtRunTime()
    {
        auto window = makeWindow();
        SettingsDialog *dialog = window->openSettings();
        QSignalSpy endpoint(window->engine(), &bd::Engine::metricsEndpointChanged);
        dialog->findChild<QCheckBox *>(u"metricsEnabled"_s)->setChecked(true);
        dialog->findChild<QSpinBox *>(u"metricsPort"_s)->setValue(0); // any free port
        dialog->apply();
        QVERIFY(endpoint.wait(5000));
        const quint16 port = quint16(endpoint.constLast().at(0).toUInt());
        QVERIFY(port > 0);
        QTRY_VERIFY(dialog->findChild<QLabel *>(u"metricsStatus"_s)
                        ->text()
                        .contains(QString::number(port)));
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(socket.waitForConnected(5000));
        socket.write("GET /metrics HTTP/1.0\r\n\r\n");
        QByteArray answer;
        QTRY_VERIFY_WITH_TIMEOUT((answer += socket.readAll()).contains("batchdesk_"), 5000);
        socket.close();

        // Switched off: the endpoint goes away while the engine runs on.
        dialog->findChild<QCheckBox *>(u"metricsEnabled"_s)->setChecked(false);
        dialog->apply();
        QVERIFY(endpoint.wait(5000));
        QCOMPARE(endpoint.constLast().at(0).toUInt(), 0u);
        QTcpSocket again;
        again.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(!again.waitForConnected(2000));
    }

    // Settings › Database says which database is open and opens the same chooser as
    // File › Open database….
    void theDatabaseTabOpensAnotherDatabase()
    {
        QString db;
        auto window = makeWindow(&db);
        SettingsDialog *dialog = window->openSettings();
        dialog->showTab(SettingsDialog::DatabaseTab);
        QCOMPARE(dialog->findChild<QLineEdit *>(u"databaseLocation"_s)->text(),
                 window->engine()->database());
        QString chooserTitle;
        QTimer poll;
        connect(&poll, &QTimer::timeout, this, [&] {
            auto *chooser = qobject_cast<QDialog *>(QApplication::activeModalWidget());
            if (chooser && chooser != dialog) {
                chooserTitle = chooser->windowTitle();
                chooser->reject();
            }
        });
        poll.start(20);
        dialog->findChild<QPushButton *>(u"openDatabase"_s)->click();
        poll.stop();
        QCOMPARE(chooserTitle, MainWindow::tr("Open database"));
        // Cancelled: nothing remembered, the window stays on its database.
        QVERIFY(!QSettings().contains(QString::fromLatin1(cs::kDatabase)));
        QCOMPARE(window->engine()->database(),
                 dialog->findChild<QLineEdit *>(u"databaseLocation"_s)->text());
    }

    void concurrencyReachesJobs()
    {
        QString db;
        auto window = makeWindow(&db);
        // A default set before the job exists reaches it when its runner starts.
        {
            SettingsDialog *dialog = window->openSettings();
            dialog->concurrencyBox()->setValue(5);
            dialog->apply();
            dialog->close();
        }
        const qint64 jobId = importJob(*window, db, writeCsv(u"slow.csv"_s, 2000), 300);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(runningConcurrency(*window, jobId) == 5, 10000);
        QVERIFY(!storedJobs(db).constLast().spec.settings.contains(
            u"concurrency"_s)); // follows the default

        // Changing it in the dialog reaches the running job at once.
        QTRY_VERIFY(window->jobsModel()->job(jobId) &&
                    window->jobsModel()->job(jobId)->state == bd::JobState::Running);
        SettingsDialog *dialog = window->openSettings();
        dialog->concurrencyBox()->setValue(3);
        dialog->apply();
        QTRY_VERIFY_WITH_TIMEOUT(runningConcurrency(*window, jobId) == 3, 10000);
        window->pauseJob(jobId);
    }

    void testConnectionAgainstLoopback_data()
    {
        QTest::addColumn<QString>("provider");
        QTest::addColumn<QString>("firstModel");
        QTest::newRow("openai") << u"openai"_s << u"fake-model-1"_s;
        QTest::newRow("anthropic") << u"anthropic"_s << u"claude-fake-1"_s;
    }

    void testConnectionAgainstLoopback()
    {
        QFETCH(QString, provider);
        QFETCH(QString, firstModel);
        bd::testing::FakeProvider server;
        QVERIFY(server.listen());
        const QString goodKey = u"sk-good-0123456789"_s;
        server.options().requiredKey = goodKey;
        server.options().echoCredentialsInErrors = true; // the page must still not show it

        auto window = makeWindow();
        SettingsDialog *dialog = window->openSettings();
        bd::ui::ProvidersPage *page = dialog->providersPage();
        QCOMPARE(page->keyStatus(provider), u"none (no keychain)"_s);
        page->baseUrlEdit(provider)->setText(provider == u"anthropic"_s ? server.anthropicBaseUrl()
                                                                        : server.openAiBaseUrl());
        QSignalSpy finished(page, &bd::ui::ProvidersPage::connectionTestFinished);

        page->keyEdit(provider)->setText(goodKey);
        QVERIFY(page->keyStatus(provider).contains(u"not stored"_s));
        page->testConnection(provider);
        QVERIFY(finished.wait(10000));
        QCOMPARE(finished.constLast().at(1).toBool(), true);
        QVERIFY2(page->testResult(provider).startsWith(u"Connected: 2 models"_s),
                 qPrintable(page->testResult(provider)));
        QVERIFY(page->testResult(provider).contains(firstModel));

        const QString badKey = u"sk-bad-SECRET-42424242"_s;
        page->keyEdit(provider)->setText(badKey);
        page->testConnection(provider);
        QVERIFY(finished.wait(10000));
        QCOMPARE(finished.constLast().at(1).toBool(), false);
        const QString result = page->testResult(provider);
        QVERIFY2(result.startsWith(u"Failed: "_s) && result.contains(u"Invalid API key"_s),
                 qPrintable(result));
        QVERIFY2(!result.contains(badKey), qPrintable(result));
        // The key is never shown in clear.
        QCOMPARE(page->keyEdit(provider)->echoMode(), QLineEdit::Password);
    }

    void keysLiveInTheKeychain()
    {
        // Needs a Secret Service and must never touch a user's own keyring (it stores and
        // removes the Anthropic entry): scripts/keychain-test.sh runs it in a private D-Bus
        // session with a throwaway GNOME Keyring and sets the variable.
        if (qEnvironmentVariable("BATCHDESK_KEYCHAIN_TEST") != u"throwaway"_s)
            QSKIP("run by scripts/keychain-test.sh (a throwaway keyring)");
        bd::testing::FakeProvider server;
        QVERIFY(server.listen());
        const QString key = u"sk-keychain-test-0123456789"_s;
        server.options().requiredKey = key;
        auto window = makeWindow(nullptr, true);
        SettingsDialog *dialog = window->openSettings();
        bd::ui::ProvidersPage *page = dialog->providersPage();
        const QString provider = u"anthropic"_s;
        QTRY_VERIFY(!page->keyStatus(provider).startsWith(u"reading"_s));
        if (page->keyStatus(provider).contains(u"unavailable"_s))
            QSKIP("the session bus has no Secret Service");
        QCOMPARE(page->keyStatus(provider), u"none"_s); // a fresh keyring

        page->keyEdit(provider)->setText(key);
        dialog->findChild<QPushButton *>(u"storeKey_"_s + provider)->click();
        QTRY_COMPARE(page->keyStatus(provider), u"stored in keychain"_s);
        QVERIFY(page->keyEdit(provider)->text().isEmpty()); // never shown again

        // Another dialog reads it back and tests with it; the settings file never saw it.
        dialog->close();
        QTRY_VERIFY(window->findChild<SettingsDialog *>() == nullptr);
        dialog = window->openSettings();
        page = dialog->providersPage();
        QTRY_COMPARE(page->keyStatus(provider), u"stored in keychain"_s);
        page->baseUrlEdit(provider)->setText(server.anthropicBaseUrl());
        QSignalSpy finished(page, &bd::ui::ProvidersPage::connectionTestFinished);
        page->testConnection(provider);
        QVERIFY(finished.wait(10000));
        QVERIFY2(finished.constLast().at(1).toBool(), qPrintable(page->testResult(provider)));
        dialog->apply();
        QFile settingsFile(QSettings().fileName());
        QVERIFY(settingsFile.open(QIODevice::ReadOnly));
        QVERIFY(!settingsFile.readAll().contains(key.toUtf8()));

        dialog->findChild<QPushButton *>(u"removeKey_"_s + provider)->click();
        QTRY_COMPARE(page->keyStatus(provider), u"none"_s);
    }

    void pricesAreWrittenAndReloaded()
    {
        auto window = makeWindow();
        const QString overridePath = m_dir.filePath(u"config%1/prices.json"_s.arg(m_dbCounter));
        QVERIFY(!QFile::exists(overridePath));
        SettingsDialog *dialog = window->openSettings();
        dialog->showTab(SettingsDialog::PricesTab);
        bd::ui::PricesPage *prices = dialog->pricesPage();
        QTRY_VERIFY(prices->rowOf(u"gpt-4o"_s) >= 0);
        QTableWidget *table = prices->table();
        const int row = prices->rowOf(u"gpt-4o"_s);
        QCOMPARE(table->item(row, bd::ui::PricesPage::OutputColumn)->text(), u"10"_s);
        QVERIFY(
            table->item(row, bd::ui::PricesPage::SourceColumn)->text().startsWith(u"built in"_s));

        // A cell that is not a number is named, and nothing is written.
        table->item(row, bd::ui::PricesPage::OutputColumn)->setText(u"ten"_s);
        QVERIFY(!prices->save());
        QVERIFY2(prices->status().contains(u"gpt-4o"_s) && prices->status().contains(u"Output"_s),
                 qPrintable(prices->status()));
        QVERIFY(!QFile::exists(overridePath));

        table->item(row, bd::ui::PricesPage::OutputColumn)->setText(u"12.5"_s);
        QSignalSpy saved(prices, &bd::ui::PricesPage::saved);
        QSignalSpy shown(prices, &bd::ui::PricesPage::pricesShown);
        QVERIFY(prices->save());
        QVERIFY(saved.wait(10000));
        QVERIFY2(saved.constLast().at(0).toBool(), qPrintable(saved.constLast().at(1).toString()));
        QTRY_VERIFY(shown.count() >= 1);

        // The override file holds the edited row, whole; the other models stay built in.
        QFile file(overridePath);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QJsonObject models =
            QJsonDocument::fromJson(file.readAll()).object().value(u"models"_s).toObject();
        QCOMPARE(models.keys(), QStringList{u"gpt-4o"_s});
        QCOMPARE(models.value(u"gpt-4o"_s).toObject().value(u"output"_s).toDouble(), 12.5);
        QCOMPARE(models.value(u"gpt-4o"_s).toObject().value(u"input"_s).toDouble(), 2.5);

        // What the engine now lists is the reloaded table.
        const int reloaded = prices->rowOf(u"gpt-4o"_s);
        QCOMPARE(table->item(reloaded, bd::ui::PricesPage::OutputColumn)->text(), u"12.5"_s);
        QVERIFY(table->item(reloaded, bd::ui::PricesPage::SourceColumn)
                    ->text()
                    .startsWith(u"your override"_s));
        QVERIFY(table->item(prices->rowOf(u"gpt-4o-mini"_s), bd::ui::PricesPage::SourceColumn)
                    ->text()
                    .startsWith(u"built in"_s));

        // A second engine on the same override reads the same price.
        window.reset();
        --m_dbCounter; // same override path
        window = makeWindow();
        QSignalSpy listed(window->engine(), &bd::Engine::pricesListed);
        window->engine()->requestPrices();
        QVERIFY(listed.wait(5000));
        QCOMPARE(listed.first()
                     .at(0)
                     .toJsonObject()
                     .value(u"gpt-4o"_s)
                     .toObject()
                     .value(u"output"_s)
                     .toDouble(),
                 12.5);
    }

    void unpricedModelsShowCostUnknown()
    {
        auto window = makeWindow();
        SettingsDialog *dialog = window->openSettings();
        bd::ui::PricesPage *prices = dialog->pricesPage();
        QTRY_VERIFY(prices->rowOf(u"gpt-4o"_s) >= 0);
        // A table without gpt-4o (say, an override that dropped it): the model the OpenAI
        // provider names is still listed, priced as unknown, never as zero.
        QJsonObject table{
            {u"sim-1"_s,
             QJsonObject{{u"input"_s, 0.15}, {u"output"_s, 0.6}, {u"source"_s, u"built in"_s}}}};
        Q_EMIT window->engine()->pricesListed(table);
        const int row = prices->rowOf(u"gpt-4o"_s);
        QVERIFY(row >= 0);
        QCOMPARE(prices->table()->item(row, bd::ui::PricesPage::InputColumn)->text(),
                 u"cost unknown"_s);
        QCOMPARE(prices->table()->item(row, bd::ui::PricesPage::OutputColumn)->text(), QString());
        QCOMPARE(prices->table()->item(row, bd::ui::PricesPage::SourceColumn)->text(),
                 u"cost unknown"_s);
    }

    void exportCanBeStopped()
    {
        QString db;
        auto window = makeWindow(&db);
        const qint64 jobId = importJob(*window, db, writeCsv(u"big.csv"_s, 60'000), 0, false);
        QVERIFY(jobId > 0);
        QTRY_VERIFY(window->jobsModel()->job(jobId));
        window->exportJob(jobId);
        bd::ui::ExportDialog *dialog = nullptr;
        QTRY_VERIFY((dialog = window->findChild<bd::ui::ExportDialog *>()) != nullptr);
        const QString path = m_dir.filePath(u"stopped.csv"_s);
        dialog->setPath(path);
        QSignalSpy exported(dialog, &bd::ui::ExportDialog::exported);
        dialog->startExport();
        dialog->cancelExport();
        QVERIFY(exported.wait(20000));
        QCOMPARE(exported.first().at(2).toBool(), false);
        QCOMPARE(exported.first().at(3).toString(), u"export cancelled"_s);
        QVERIFY2(dialog->statusText().contains(u"nothing was written"_s),
                 qPrintable(dialog->statusText()));
        QVERIFY(!QFile::exists(path));
        // Nothing half-written beside it either (the writer's temporary file is gone).
        const QStringList leftovers =
            QDir(m_dir.path()).entryList({u"*stopped*"_s}, QDir::Files | QDir::Hidden);
        QVERIFY2(leftovers.isEmpty(), qPrintable(leftovers.join(u", "_s)));

        // The same dialog then exports in full.
        exported.clear();
        dialog->startExport();
        QVERIFY(exported.wait(20000));
        QVERIFY2(exported.first().at(2).toBool(), qPrintable(exported.first().at(3).toString()));
        QVERIFY(QFile::exists(path));
    }
};

QTEST_MAIN(TestGuiSettings)
#include "test_gui_settings.moc"
