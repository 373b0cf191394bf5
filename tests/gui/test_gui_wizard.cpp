// The import wizard as a new analyst meets it: the prompt of the selected row renders as
// the template is typed; a provider without a key warns at once and leads to Settings ›
// Providers; a large or expensive import asks before anything is stored; the estimate
// shows what the global budget has left.
#include "api/jobsettings.h"
#include "csvpreview.h"
#include "estimatekeys.h"
#include "format.h"
#include "guitestfixture.h"
#include "samplepage.h"
#include "settingsdialog.h"

#include <QAbstractButton>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTimeEdit>
#include <QDir>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTableWidget>

using namespace Qt::StringLiterals;
using bd::ui::ImportWizard;
using bd::ui::MainWindow;

namespace {

void keepScreenshot(QWidget *widget, const QString &name)
{
    const QString dir = qEnvironmentVariable("BD_SCREENSHOT_DIR");
    if (!dir.isEmpty())
        QVERIFY(widget->grab().save(QDir(dir).filePath(name)));
}

// The scroll area the widget shows in (the page it is on scrolls there).
QScrollArea *scrollAreaOf(QWidget *widget)
{
    for (QWidget *up = widget->parentWidget(); up; up = up->parentWidget()) {
        if (auto *scroll = qobject_cast<QScrollArea *>(up))
            return scroll;
    }
    return nullptr;
}

void clickButton(QMessageBox *box, const QString &text)
{
    for (QAbstractButton *button : box->buttons()) {
        if (button->text() == text) {
            button->click();
            return;
        }
    }
    QFAIL(qPrintable(u"no button %1"_s.arg(text)));
}

} // namespace

class TestGuiWizard final : public QObject, private bd::testing::GuiTestFixture
{
    Q_OBJECT

private:
    // The window's import wizard on a CSV of that many reviews; null when it did not open.
    ImportWizard *wizardOn(bd::ui::MainWindow &window, const QString &name, int rows)
    {
        window.openCsv(reviewsCsv(name, rows));
        return waitForWizard(window);
    }

    // The window's wizard at 1,024 × 700 on ten reviews, its sample run for the setup and
    // these other candidates ({provider, model, template} each); null when that failed.
    // Where "Run the whole file with" is when it is not in view as the sample page stands
    // (scrolled as it is); empty when it shows.
    static QString chooserOutOfView(ImportWizard *wizard)
    {
        QScrollArea *scroll = scrollAreaOf(wizard->samplePage());
        auto *chooser = wizard->samplePage()->findChild<QComboBox *>(u"chosenCandidate"_s);
        if (!scroll || !chooser || !chooser->isVisible())
            return u"no chooser shown"_s;
        const QRect shown(chooser->mapTo(scroll->viewport(), QPoint()), chooser->size());
        if (scroll->viewport()->rect().contains(shown))
            return {};
        return u"the chooser at y %1 below a viewport %2 high"_s.arg(shown.y()).arg(
            scroll->viewport()->height());
    }

    // Two candidates beside the setup's (A): B and C on the simulator.
    inline static const QList<QStringList> kTwoMore = {
        {u"simulator"_s, u"sim-1-mini"_s, u"Say {{text}}"_s},
        {u"simulator"_s, u"sim-1"_s, u"In one word: {{text}}"_s}};

    ImportWizard *sampledAtSmallestScreen(MainWindow &window, const QString &name,
                                          const QList<QStringList> &candidates = {})
    {
        ImportWizard *wizard = wizardOn(window, name, 10);
        if (!wizard)
            return nullptr;
        wizard->resize(1024, 700);
        wizard->templateEditor()->setPlainText(u"Say {{text}}"_s);
        if (!QTest::qWaitFor([wizard] { return wizard->trySampleButton()->isEnabled(); }, 5000))
            return nullptr;
        for (const QStringList &candidate : candidates)
            wizard->samplePage()->addCandidate(candidate.value(0), candidate.value(1),
                                               candidate.value(2));
        if (!wizard->trySample() ||
            !QTest::qWaitFor([wizard] { return !wizard->samplePage()->isRunning(); }, 30000))
            return nullptr;
        QCoreApplication::processEvents();
        return wizard;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        // No key anywhere: the environment has none, and there is no keychain.
        qunsetenv("OPENAI_API_KEY");
        qunsetenv("DBUS_SESSION_BUS_ADDRESS");
    }

    void promptRendersForTheSelectedRow()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = wizardOn(*window, u"prompt.csv"_s, 30);
        QVERIFY(wizard);
        wizard->templateEditor()->setPlainText(u"Say {{text}} about {{product}}"_s);
        QCOMPARE(wizard->promptPreview()->toPlainText(),
                 u"Say Review number 1, it boils water about kettle"_s);
        wizard->previewTable()->setCurrentCell(4, 1);
        QCOMPARE(wizard->promptPreview()->toPlainText(),
                 u"Say Review number 5, it boils water about kettle"_s);
        // Typing changes it at once.
        wizard->templateEditor()->moveCursor(QTextCursor::End);
        QTest::keyClicks(wizard->templateEditor(), u"!"_s);
        QCOMPARE(wizard->promptPreview()->toPlainText(),
                 u"Say Review number 5, it boils water about kettle!"_s);
        // A template that does not fit the columns renders nothing.
        wizard->templateEditor()->setPlainText(u"Say {{nope}}"_s);
        QVERIFY(!wizard->promptPreview()->toPlainText().contains(u"Review"_s));
        wizard->templateEditor()->setPlainText(u"Say {{text}}"_s);
        keepScreenshot(wizard, u"wizard-prompt-preview.png"_s);
        wizard->reject();
    }

    // The first row count is close before the file is counted: 2,000 rows read "≈ 151 rows"
    // (the reader's whole buffered chunk was taken for the 50 rows parsed). Exact when the
    // head holds the file; within 10 % from a 64 KiB head, also with long quoted cells that
    // span lines; the wizard says when it is an estimate.
    void theRowEstimateIsClose()
    {
        const QString sample =
            qEnvironmentVariable("BATCHDESK_SOURCE_DIR") + u"/resources/samples/reviews.csv"_s;
        bd::ui::CsvPreview head = bd::ui::readCsvPreview(sample, {}, {}, 50);
        QVERIFY(head.ok);
        QCOMPARE(head.estimatedRows, 2000);
        QVERIFY(head.rowsExact);
        const auto close = [](qint64 estimate, qint64 rows) {
            return qAbs(estimate - rows) * 10 <= rows;
        };
        head = bd::ui::readCsvPreview(sample, {}, {}, 50, 64 * 1024);
        QVERIFY(!head.rowsExact);
        QVERIFY2(close(head.estimatedRows, 2000), qPrintable(QString::number(head.estimatedRows)));

        QByteArray csv = "id,note\r\n";
        for (int i = 1; i <= 2000; ++i) {
            csv += QByteArray::number(i) + ",\"Line one of " + QByteArray::number(i) +
                   ", \"\"quoted\"\"\n" + QByteArray(80 + i % 300, 'x') + "\n\nlast line\"\r\n";
        }
        const QString multiline = writeFile(u"multiline.csv"_s, csv);
        head = bd::ui::readCsvPreview(multiline, {}, {}, 50, 64 * 1024);
        QVERIFY(head.ok);
        QVERIFY(!head.rowsExact);
        QVERIFY2(close(head.estimatedRows, 2000), qPrintable(QString::number(head.estimatedRows)));

        QString db;
        auto window = makeWindow(&db);
        window->openCsv(sample);
        ImportWizard *wizard = waitForWizard(*window);
        QVERIFY(wizard);
        auto *rows = wizard->findChild<QLabel *>(u"rowsLabel"_s);
        QVERIFY(rows);
        QTRY_VERIFY2(rows->text().endsWith(bd::ui::formatCount(2000) + u" rows"_s),
                     qPrintable(rows->text()));
        wizard->reject();
        // A file the preview reads whole is counted at once.
        wizard = wizardOn(*window, u"thirty.csv"_s, 30);
        QVERIFY(wizard);
        rows = wizard->findChild<QLabel *>(u"rowsLabel"_s);
        QVERIFY2(rows->text().endsWith(u"· 30 rows"_s), qPrintable(rows->text()));
        wizard->reject();
    }

    // The wizard opens no larger than its screen, its Import button inside it (at
    // 1,024 × 700 it opened at 1,080 × 760 with the buttons off the bottom).
    void theWizardFitsItsScreen()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = wizardOn(*window, u"fit.csv"_s, 10);
        QVERIFY(wizard);
        const QRect screen = wizard->screen()->availableGeometry();
        QVERIFY2(wizard->width() <= screen.width() && wizard->height() <= screen.height(),
                 qPrintable(u"%1×%2 on %3×%4"_s.arg(wizard->width())
                                .arg(wizard->height())
                                .arg(screen.width())
                                .arg(screen.height())));
        QPushButton *import = wizard->importButton();
        QVERIFY(wizard->rect().contains(QRect(import->mapTo(wizard, QPoint()), import->size())));
        // No empty label where a hidden row was: "Tiering:" shows only with model auto.
        for (const QLabel *label : wizard->findChildren<QLabel *>()) {
            if (label->text() == u"Tiering:"_s)
                QVERIFY2(!label->isVisible(), "the Tiering label shows without its field");
        }
        // No page scrolls sideways at 1,024 × 700 (the settings needed 1,127 px).
        wizard->resize(1024, 700);
        wizard->templateEditor()->setPlainText(u"Say {{text}}"_s);
        QTRY_VERIFY(wizard->trySampleButton()->isEnabled());
        // Each page scrolls in a scroll area of its own.
        const auto sideways = [](QWidget *page) {
            QCoreApplication::processEvents();
            QScrollArea *scroll = scrollAreaOf(page);
            return scroll && scroll->isVisible() ? scroll->horizontalScrollBar()->maximum() : -1;
        };
        QCOMPARE(sideways(wizard->templateEditor()), 0);
        QVERIFY(wizard->trySample());
        QTRY_VERIFY_WITH_TIMEOUT(!wizard->samplePage()->isRunning(), 30000);
        QCOMPARE(sideways(wizard->samplePage()), 0);
        wizard->backToSettings();
        QCOMPARE(sideways(wizard->templateEditor()), 0);
        wizard->reject();
    }

    // The sample's page is as wide as it needs at 1024×700, not as the settings' three
    // columns: its tables and Run the sample button show without scrolling sideways.
    void theSamplePageFitsTheSmallestScreen()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = sampledAtSmallestScreen(*window, u"fitsample.csv"_s);
        QVERIFY(wizard);
        QScrollArea *scroll = scrollAreaOf(wizard->samplePage());
        QVERIFY(scroll);
        QCOMPARE(scroll->horizontalScrollBar()->maximum(), 0);
        // One candidate's answers fit their table: its cost column is not cut at the right.
        QTableWidget *results = wizard->samplePage()->resultsTable();
        QTRY_COMPARE(results->rowCount(), 10);
        QCOMPARE(results->horizontalScrollBar()->maximum(), 0);
        wizard->reject();
    }

    // The sample page is as tall as it needs, not as the settings page: at 1,024 × 700 its
    // "Run the whole file with" chooser shows without scrolling down (the pages stood in
    // one stack, as tall as its tallest page, and a blank stretch came before the chooser).
    void theSamplePageIsAsTallAsItsContent()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = sampledAtSmallestScreen(*window, u"tallsample.csv"_s);
        QVERIFY(wizard);
        QScrollArea *scroll = scrollAreaOf(wizard->samplePage());
        QVERIFY(scroll);
        QCOMPARE(scroll->verticalScrollBar()->maximum(), 0);
        const QString hidden = chooserOutOfView(wizard);
        QVERIFY2(hidden.isEmpty(), qPrintable(hidden));
        // The settings still scroll down as far as they need, and back at them it is so.
        wizard->backToSettings();
        QCoreApplication::processEvents();
        scroll = scrollAreaOf(wizard->templateEditor());
        QVERIFY(scroll && scroll->isVisible());
        QVERIFY(scroll->verticalScrollBar()->maximum() > 0);
        wizard->reject();
    }

    // Three candidates side by side fit 1,024 × 700: their eleven result columns scrolled
    // sideways (C's answers off the right). Each number shows whole; the input and the
    // answers share the rest.
    void threeCandidatesFitTheSmallestScreen()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = sampledAtSmallestScreen(*window, u"threecandidates.csv"_s, kTwoMore);
        QVERIFY(wizard);
        bd::ui::SamplePage *page = wizard->samplePage();
        QCOMPARE(page->sampleRun()->outcomes().size(), 3);
        QTableWidget *results = page->resultsTable();
        QTRY_COMPARE(results->rowCount(), 10);
        QCOMPARE(results->columnCount(), 11);
        QCoreApplication::processEvents();
        QCOMPARE(results->horizontalScrollBar()->maximum(), 0);
        int used = 0;
        for (int c = 0; c < results->columnCount(); ++c) {
            const QString header = results->horizontalHeaderItem(c)->text();
            const int width = results->columnWidth(c);
            used += width;
            const int whole = qMax(static_cast<QAbstractItemView *>(results)->sizeHintForColumn(c),
                                   results->horizontalHeader()->sectionSizeHint(c));
            if (c == 0 || header.endsWith(u"tokens"_s) || header.endsWith(u"cost"_s))
                QVERIFY2(width >= whole,
                         qPrintable(u"%1: %2 of %3 px"_s.arg(header).arg(width).arg(whole)));
            else
                QVERIFY2(width >= 100, qPrintable(u"%1: %2 px"_s.arg(header).arg(width)));
        }
        QVERIFY(used <= results->viewport()->width());
        wizard->reject();
    }

    // The sample's summary fits 1,024 × 700 with three candidates, one of them with a long
    // template: it scrolled sideways, its Template column cut at the edge. Every figure
    // shows whole; the model and the template share the rest and elide.
    void theSampleSummaryFitsTheSmallestScreen()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = sampledAtSmallestScreen(
            *window, u"summaryfit.csv"_s,
            {kTwoMore.at(0),
             {u"simulator"_s, u"sim-1"_s,
              u"In one word, and politely, say what this customer thinks of the kettle: "
              "{{text}}"_s}});
        QVERIFY(wizard);
        QTableWidget *summary = wizard->samplePage()->summaryTable();
        QTRY_COMPARE(summary->rowCount(), 3);
        QCoreApplication::processEvents();
        QVERIFY2(summary->horizontalHeader()->length() <= summary->viewport()->width(),
                 qPrintable(u"the columns need %1 px, the table shows %2"_s
                                .arg(summary->horizontalHeader()->length())
                                .arg(summary->viewport()->width())));
        QCOMPARE(summary->horizontalScrollBar()->maximum(), 0);
        for (int c = 0; c < summary->columnCount(); ++c) {
            const QString header = summary->horizontalHeaderItem(c)->text();
            if (header == u"Model"_s || header == u"Template"_s)
                continue;
            const int whole = qMax(static_cast<QAbstractItemView *>(summary)->sizeHintForColumn(c),
                                   summary->horizontalHeader()->sectionSizeHint(c));
            QVERIFY2(summary->columnWidth(c) >= whole,
                     qPrintable(
                         u"%1: %2 of %3 px"_s.arg(header).arg(summary->columnWidth(c)).arg(whole)));
        }
        wizard->reject();
    }

    // With three candidates the sample page was taller than 700 px and "Run the whole file
    // with" sat below the fold: it shows without scrolling.
    void withThreeCandidatesTheChooserShowsWithoutScrolling()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = sampledAtSmallestScreen(*window, u"threechooser.csv"_s, kTwoMore);
        QVERIFY(wizard);
        QCOMPARE(wizard->samplePage()->sampleRun()->outcomes().size(), 3);
        QCOMPARE(scrollAreaOf(wizard->samplePage())->verticalScrollBar()->value(), 0);
        const QString hidden = chooserOutOfView(wizard);
        QVERIFY2(hidden.isEmpty(), qPrintable(hidden));
        // The answers are still there to read, if in a shorter table.
        QTableWidget *results = wizard->samplePage()->resultsTable();
        QTRY_COMPARE(results->rowCount(), 10);
        QVERIFY(results->isVisible() && results->viewport()->height() >= 3 * results->rowHeight(0));
        wizard->reject();
    }

    void aProviderWithoutAKeyWarnsAtOnce()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = wizardOn(*window, u"nokey.csv"_s, 10);
        QVERIFY(wizard);
        QVERIFY(wizard->keyProblem().isEmpty()); // the simulator needs none
        QWidget *warning = wizard->findChild<QWidget *>(u"keyWarning"_s);
        QVERIFY(warning && !warning->isVisible());

        const int openai = wizard->providerBox()->findData(u"openai"_s);
        QVERIFY(openai >= 0);
        wizard->providerBox()->setCurrentIndex(openai);
        QTRY_VERIFY_WITH_TIMEOUT(!wizard->isCheckingKey(), 10000);
        QVERIFY2(wizard->keyProblem().contains(u"OPENAI_API_KEY"_s),
                 qPrintable(wizard->keyProblem()));
        QVERIFY(warning->isVisible());
        keepScreenshot(wizard, u"wizard-no-key.png"_s);

        QTest::mouseClick(wizard->providerSettingsButton(), Qt::LeftButton);
        bd::ui::SettingsDialog *settings = nullptr;
        QTRY_VERIFY((settings = window->findChild<bd::ui::SettingsDialog *>()) != nullptr);
        QTRY_VERIFY(settings->isVisible());
        QCOMPARE(settings->currentTab(), bd::ui::SettingsDialog::ProvidersTab);
        // The settings take input above the wizard.
        QVERIFY(!isBlockedByModal(settings));
        settings->reject();

        wizard->providerBox()->setCurrentIndex(wizard->providerBox()->findData(u"simulator"_s));
        QTRY_VERIFY(!warning->isVisible());
        QVERIFY(wizard->keyProblem().isEmpty());
        wizard->reject();
    }

    void aDeadlinePicksTheLane()
    {
        QString db;
        auto window = makeWindow(&db);
        ImportWizard *wizard = wizardOn(*window, u"deadline.csv"_s, 20);
        QVERIFY(wizard);
        wizard->templateEditor()->setPlainText(u"{{text}}"_s);
        wizard->setSimulatorLatency(0);
        auto *on = wizard->findChild<QCheckBox *>(u"wizardDeadlineOn"_s);
        auto *when = wizard->findChild<QDateTimeEdit *>(u"wizardDeadline"_s);
        auto *plan = wizard->findChild<QLabel *>(u"wizardDeadlinePlan"_s);
        QVERIFY(on && when && plan);
        QVERIFY(!when->isEnabled());
        // No plan, no row: an empty one stood under Deadline.
        QVERIFY(!plan->isVisible());
        on->setChecked(true);
        QVERIFY(when->isEnabled() && !wizard->priorityBox()->isEnabled());
        // 36 h ahead: the batch API, said before anything is imported.
        when->setDateTime(QDateTime::currentDateTime().addSecs(36 * 3600));
        QTRY_VERIFY_WITH_TIMEOUT(plan->text().contains(u"batch API"_s), 10000);
        // Two hours ahead: sync calls.
        when->setDateTime(QDateTime::currentDateTime().addSecs(2 * 3600));
        QTRY_VERIFY_WITH_TIMEOUT(plan->text().contains(u"sync calls at priority 2"_s), 10000);
        keepScreenshot(wizard, u"wizard-deadline.png"_s);
        // In the past: the engine refuses it and says why.
        when->setDateTime(QDateTime::currentDateTime().addSecs(-3600));
        QTRY_VERIFY_WITH_TIMEOUT(plan->text().contains(u"already passed"_s), 10000);
        when->setDateTime(QDateTime::currentDateTime().addSecs(36 * 3600));
        QTRY_VERIFY_WITH_TIMEOUT(plan->text().contains(u"batch API"_s), 10000);
        QVERIFY(plan->isVisible());
        // Off again: the row goes, and comes back with the next plan.
        on->setChecked(false);
        QVERIFY(!plan->isVisible());
        on->setChecked(true);
        QTRY_VERIFY_WITH_TIMEOUT(plan->isVisible() && plan->text().contains(u"batch API"_s), 10000);
        QVERIFY(wizard->startImport());
        QTRY_VERIFY_WITH_TIMEOUT(storedJobs(db).size() == 1, 20000);
        const bd::JobInfo job = storedJobs(db).constFirst();
        QCOMPARE(job.spec.priority, 3);
        QCOMPARE(job.spec.mode, u"batch-api"_s);
        QVERIFY(job.spec.settings.contains(bd::settingkeys::deadlineMs));
        // The estimate goes with the job, to stand beside the actual cost when it is done.
        QVERIFY(job.spec.settings.value(bd::ui::estimatekeys::maxUsd).toDouble() > 0);
    }

    void aLargeImportAsksFirst()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"large.csv"_s, int(ImportWizard::kLargeImportRows) + 1);
        window->openCsv(csv);
        ImportWizard *wizard = waitForWizard(*window);
        QVERIFY(wizard);
        wizard->templateEditor()->setPlainText(u"{{text}}"_s);
        wizard->setSimulatorLatency(0);
        QTRY_VERIFY_WITH_TIMEOUT(wizard->largeImportReason().contains(u"50,001 rows"_s), 20000);
        QVERIFY(wizard->startImport());
        QTRY_VERIFY_WITH_TIMEOUT(
            wizard->importConfirmation() && wizard->importConfirmation()->isVisible(), 10000);
        QVERIFY(wizard->importConfirmation()->text().contains(u"50,001 rows"_s));
        keepScreenshot(wizard->importConfirmation(), u"wizard-confirm-large.png"_s);
        clickButton(wizard->importConfirmation(), u"Cancel"_s);
        QTest::qWait(300);
        QVERIFY(storedJobs(db).isEmpty()); // nothing stored
        QVERIFY(wizard->isVisible());
        QVERIFY(!wizard->isImporting());

        QVERIFY(wizard->startImport());
        QTRY_VERIFY_WITH_TIMEOUT(
            wizard->importConfirmation() && wizard->importConfirmation()->isVisible(), 10000);
        clickButton(wizard->importConfirmation(), u"Import"_s);
        QTRY_VERIFY_WITH_TIMEOUT(storedJobs(db).size() == 1, 20000);
    }

    void anImportAboveTheGlobalBudgetAsksFirst()
    {
        QString db;
        auto window = makeWindow(&db);
        window->engine()->setGlobalBudget(0.001, u"month"_s);
        ImportWizard *wizard = wizardOn(*window, u"dear.csv"_s, 40);
        QVERIFY(wizard);
        wizard->templateEditor()->setPlainText(u"Say {{text}}"_s);
        wizard->setSimulatorLatency(0);
        QTRY_VERIFY_WITH_TIMEOUT(!wizard->isEstimating() && wizard->lastEstimate().rows == 40,
                                 10000);
        QTRY_VERIFY2_WITH_TIMEOUT(wizard->estimateText().contains(
                                      u"Global budget: %1 left"_s.arg(bd::ui::formatUsd(0.001))),
                                  qPrintable(wizard->estimateText()), 10000);
        QVERIFY2(
            wizard->largeImportReason().contains(
                u"more than the %1 the global budget has left"_s.arg(bd::ui::formatUsd(0.001))),
            qPrintable(wizard->largeImportReason()));
        QVERIFY(wizard->estimateText().contains(u"pauses when the budget is reached"_s));
        keepScreenshot(wizard, u"wizard-budget.png"_s);
        QVERIFY(wizard->startImport());
        QTRY_VERIFY_WITH_TIMEOUT(
            wizard->importConfirmation() && wizard->importConfirmation()->isVisible(), 10000);
        clickButton(wizard->importConfirmation(), u"Cancel"_s);
        QTest::qWait(200);
        QVERIFY(storedJobs(db).isEmpty());
        wizard->reject();
    }

private:
    // Whether a window takes no input because a modal window is above it.
    static bool isBlockedByModal(QWidget *widget)
    {
        return !widget->isEnabled() ||
               (QApplication::activeModalWidget() && QApplication::activeModalWidget() != widget &&
                !widget->isAncestorOf(QApplication::activeModalWidget()));
    }
};

QTEST_MAIN(TestGuiWizard)
#include "test_gui_wizard.moc"
