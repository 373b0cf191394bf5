// Settings › Providers for Google Gemini on the offscreen platform: its own box (keychain
// account "gemini"), "Test connection" through the engine to the loopback fake Gemini, the
// key from GOOGLE_API_KEY when GEMINI_API_KEY is not set, and a refused key never shown.

#include "api/credentials.h"
#include "api/engine.h"
#include "fakegemini.h"
#include "importwizard.h"
#include "mainwindow.h"
#include "providerspage.h"
#include "settingsdialog.h"

#include <memory>
#include <QComboBox>
#include <QFile>
#include <QLineEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::ImportWizard;
using bd::ui::MainWindow;
using bd::ui::SettingsDialog;

class TestGuiGemini final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    std::unique_ptr<MainWindow> makeWindow()
    {
        bd::EngineOptions engineOptions;
        engineOptions.database = m_dir.filePath(u"gemini.sqlite"_s);
        engineOptions.priceOverridePath = m_dir.filePath(u"config/prices.json"_s);
        MainWindow::Options options;
        options.restoreWindowState = false;
        options.trayNotifications = false;
        options.resumeInterruptedJobs = false;
        options.snapshotIntervalMs = 100;
        options.useKeychain = false;
        auto window = std::make_unique<MainWindow>(bd::createEngine(engineOptions), options);
        window->show();
        if (!QTest::qWaitFor([&] { return window->isEngineOpen(); }, 10000))
            qFatal("the engine did not open");
        return window;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
        qunsetenv("GEMINI_API_KEY");
        qunsetenv("GOOGLE_API_KEY");
        qunsetenv("GEMINI_BASE_URL");
    }

    void init() { QSettings().clear(); }

    void keyAccountAndVariables()
    {
        QCOMPARE(bd::keyAccount(u"gemini"_s), u"gemini"_s);
        QCOMPARE(bd::apiKeyVariable(u"gemini"_s), u"GEMINI_API_KEY"_s);
        QCOMPARE(bd::baseUrlVariable(u"gemini"_s), u"GEMINI_BASE_URL"_s);
        QCOMPARE(bd::apiKeyVariables(u"gemini"_s),
                 (QStringList{u"GEMINI_API_KEY"_s, u"GOOGLE_API_KEY"_s}));
        qputenv("GOOGLE_API_KEY", "from-google");
        QCOMPARE(bd::apiKeyFromEnvironment(u"gemini"_s), u"from-google"_s);
        qputenv("GEMINI_API_KEY", "from-gemini");
        QCOMPARE(bd::apiKeyFromEnvironment(u"gemini"_s), u"from-gemini"_s);
        qunsetenv("GEMINI_API_KEY");
        qunsetenv("GOOGLE_API_KEY");
        // Other providers do not borrow Google's variable.
        QCOMPARE(bd::apiKeyVariables(u"openai"_s), QStringList{u"OPENAI_API_KEY"_s});
    }

    void importWizardOffersGemini()
    {
        // The console's provider list: a new job can run on Gemini, its models offered.
        const QString csv = m_dir.filePath(u"rows.csv"_s);
        QFile file(csv);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("id,text\n1,hello\n");
        file.close();
        auto window = makeWindow();
        ImportWizard *wizard = window->openCsv(csv);
        QVERIFY(wizard);
        QComboBox *providers = nullptr;
        for (QComboBox *combo : wizard->findChildren<QComboBox *>()) {
            if (combo->findData(u"openai"_s) >= 0)
                providers = combo;
        }
        QVERIFY(providers);
        const int gemini = providers->findData(u"gemini"_s);
        QVERIFY(gemini >= 0);
        QCOMPARE(providers->itemText(gemini), u"Google Gemini"_s);
        providers->setCurrentIndex(gemini);
        bool modelOffered = false;
        for (QComboBox *combo : wizard->findChildren<QComboBox *>()) {
            if (combo->findText(u"gemini-2.5-flash"_s) >= 0)
                modelOffered = true;
        }
        QVERIFY(modelOffered);
        wizard->close();
    }

    void testConnectionAgainstLoopback()
    {
        bd::testing::FakeGemini server;
        QVERIFY(server.listen());
        const QString goodKey = u"AIza-good-0123456789"_s;
        server.options().requiredKey = goodKey;
        server.options().echoKeyInErrors = true; // the page must still not show it

        auto window = makeWindow();
        SettingsDialog *dialog = window->openSettings();
        bd::ui::ProvidersPage *page = dialog->providersPage();
        QVERIFY(page->baseUrlEdit(u"gemini"_s));
        QCOMPARE(page->baseUrlEdit(u"gemini"_s)->placeholderText(),
                 u"https://generativelanguage.googleapis.com"_s);
        QCOMPARE(page->keyStatus(u"gemini"_s), u"none (no keychain)"_s);
        page->baseUrlEdit(u"gemini"_s)->setText(server.baseUrl());
        QSignalSpy finished(page, &bd::ui::ProvidersPage::connectionTestFinished);

        // The key from GOOGLE_API_KEY alone.
        qputenv("GOOGLE_API_KEY", goodKey.toUtf8());
        page->testConnection(u"gemini"_s);
        QVERIFY(finished.wait(10000));
        qunsetenv("GOOGLE_API_KEY");
        QCOMPARE(finished.constLast().at(1).toBool(), true);
        QVERIFY2(page->testResult(u"gemini"_s).startsWith(u"Connected: 2 models"_s),
                 qPrintable(page->testResult(u"gemini"_s)));
        QVERIFY(page->testResult(u"gemini"_s).contains(u"gemini-2.5-flash"_s));

        const QString badKey = u"AIza-bad-SECRET-42424242"_s;
        page->keyEdit(u"gemini"_s)->setText(badKey);
        page->testConnection(u"gemini"_s);
        QVERIFY(finished.wait(10000));
        QCOMPARE(finished.constLast().at(1).toBool(), false);
        const QString result = page->testResult(u"gemini"_s);
        QVERIFY2(result.startsWith(u"Failed: "_s) && result.contains(u"PERMISSION_DENIED"_s),
                 qPrintable(result));
        QVERIFY2(!result.contains(badKey), qPrintable(result));
        QCOMPARE(page->keyEdit(u"gemini"_s)->echoMode(), QLineEdit::Password);
    }
};

QTEST_MAIN(TestGuiGemini)
#include "test_gui_gemini.moc"
