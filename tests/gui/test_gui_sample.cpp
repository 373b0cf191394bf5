// The import wizard's Try on a sample and Compare steps (ui/samplepage.h), offscreen on a
// real SQLite database: N rows spread over the file run as real sample jobs through the
// facade, against a loopback OpenAI server or the simulator; answers, fields, tokens and
// cost side by side with what the whole file would cost and take; up to three candidates
// compared field by field; "Run the whole file" answers the sampled rows from the response
// cache, so the loopback server never sees them again, and costs what the sample projected
// (within 25 %).
#include "api/jobsettings.h"
#include "fakeprovider.h"
#include "fieldsstep.h"
#include "format.h"
#include "guitestfixture.h"
#include "jobsmodel.h"
#include "samplepage.h"
#include "taskspage.h"
#include "tasktablemodel.h"

#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ingest::FieldKind;
using bd::ingest::OutputField;
using bd::ui::ImportWizard;
using bd::ui::SamplePage;

namespace {

void keepScreenshot(QWidget *widget, const QString &name)
{
    const QString dir = qEnvironmentVariable("BD_SCREENSHOT_DIR");
    if (!dir.isEmpty())
        QVERIFY(widget->grab().save(QDir(dir).filePath(name)));
}

QStringList headers(const QTableWidget *table)
{
    QStringList names;
    for (int c = 0; c < table->columnCount(); ++c)
        names.append(table->horizontalHeaderItem(c)->text());
    return names;
}

QString cell(const QTableWidget *table, int row, const QString &header)
{
    const int column = int(headers(table).indexOf(header));
    const QTableWidgetItem *item = column >= 0 ? table->item(row, column) : nullptr;
    return item ? item->text() : QString();
}

bool sampleDone(const SamplePage *page, int candidates)
{
    const auto &outcomes = page->sampleRun()->outcomes();
    if (page->isRunning() || outcomes.size() != candidates)
        return false;
    return std::all_of(outcomes.cbegin(), outcomes.cend(),
                       [](const bd::ui::SampleOutcome &outcome) { return outcome.isDone(); });
}

QString describe(const SamplePage *page)
{
    QStringList parts{page->statusLabel()->text()};
    for (const auto &outcome : page->sampleRun()->outcomes())
        parts.append(u"%1: job %2 completed %3 error '%4'"_s.arg(outcome.label)
                         .arg(outcome.jobId)
                         .arg(outcome.counts.completed)
                         .arg(outcome.error));
    return parts.join(u" | "_s);
}

} // namespace

class TestGuiSample final : public QObject, private bd::testing::GuiTestFixture
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        qunsetenv("DBUS_SESSION_BUS_ADDRESS");
    }

    void aSampleOnTheLoopbackServerIsReusedByTheWholeFile();
    void compareThreeCandidatesAndRunTheChosenOne();
    void projectedTimeFollowsLatencyAndConcurrency();

private:
    // The job of the whole file (not a sample) once it finished; 0 before.
    static qint64 finishedWholeJob(const QString &db)
    {
        for (const bd::JobInfo &job : storedJobs(db)) {
            if (!job.spec.settings.contains(bd::settingkeys::sampleRows) &&
                job.state == bd::JobState::Finished)
                return job.id;
        }
        return 0;
    }

    ImportWizard *openWizard(bd::ui::MainWindow &window, const QString &csv,
                             const QString &templateText)
    {
        window.openCsv(csv);
        ImportWizard *wizard = waitForWizard(window);
        if (wizard) {
            wizard->templateEditor()->setPlainText(templateText);
            wizard->setSimulatorLatency(0);
        }
        return wizard;
    }
};

void TestGuiSample::aSampleOnTheLoopbackServerIsReusedByTheWholeFile()
{
    bd::testing::FakeProvider fake;
    QVERIFY(fake.listen());
    // A made-up key for the loopback server: no real provider is ever reached.
    qputenv("OPENAI_API_KEY", "sk-loopback-test-not-a-key");
    qputenv("OPENAI_BASE_URL", fake.openAiBaseUrl().toUtf8());
    QString db;
    auto window = makeWindow(&db);
    const int inputRows = 40;
    // Every second row says "negative": the loopback server's label for it (its first
    // choice the prompt names); the others get the first choice, "positive".
    ImportWizard *wizard =
        openWizard(*window, reviewsCsv(u"loopback.csv"_s, inputRows, " negative"),
                   u"Classify the mood of: {{text}}"_s);
    QVERIFY(wizard);
    wizard->providerBox()->setCurrentIndex(wizard->providerBox()->findData(u"openai"_s));
    wizard->modelBox()->setCurrentText(u"gpt-4o-mini"_s);
    wizard->fieldsStep()->setAsking(true);
    wizard->fieldsStep()->addField(OutputField{
        u"label"_s, FieldKind::Choice, {u"positive"_s, u"negative"_s, u"neutral"_s}, {}});
    wizard->fieldsStep()->addField(OutputField{u"score"_s, FieldKind::Number, {}, {}});
    QTRY_VERIFY_WITH_TIMEOUT(!wizard->isEstimating() && wizard->lastEstimate().rows == inputRows,
                             20000);

    QCOMPARE(wizard->sampleRowsBox()->value(), 10); // the default
    QTest::mouseClick(wizard->trySampleButton(), Qt::LeftButton);
    QVERIFY(wizard->isShowingSample());
    SamplePage *page = wizard->samplePage();
    // A second candidate on the same rows: another model of the same provider.
    page->addCandidate(u"openai"_s, u"gpt-4.1-nano"_s, u"Classify the mood of: {{text}}"_s);
    QTRY_VERIFY2_WITH_TIMEOUT(sampleDone(page, 1), qPrintable(describe(page)), 30000);
    QTest::mouseClick(page->runButton(), Qt::LeftButton);
    QTRY_VERIFY2_WITH_TIMEOUT(sampleDone(page, 2) && page->sampleRun()->comparison(),
                              qPrintable(describe(page)), 30000);

    const auto &outcomes = page->sampleRun()->outcomes();
    for (const auto &outcome : outcomes) {
        QVERIFY2(outcome.error.isEmpty(), qPrintable(describe(page)));
        QCOMPARE(outcome.counts.completed, 10);
        QVERIFY(outcome.costUsd > 0);
    }
    QVERIFY(outcomes.at(0).continued); // A ran once: the second run showed its answers again
    // Ten rows spread evenly: 1 + floor(i * 40 / 10).
    QTableWidget *results = page->resultsTable();
    QCOMPARE(results->rowCount(), 10);
    for (int i = 0; i < 10; ++i)
        QCOMPARE(results->item(i, 0)->text(), QString::number(1 + i * inputRows / 10));
    // Inputs, each candidate's fields, tokens and cost side by side.
    const QStringList columns = headers(results);
    for (const QString &name : {u"Input"_s, u"A · label"_s, u"A · score"_s, u"A · tokens"_s,
                                u"A · cost"_s, u"B · label"_s, u"B · score"_s, u"B · cost"_s})
        QVERIFY2(columns.contains(name), qPrintable(columns.join(u", "_s)));
    QVERIFY(cell(results, 0, u"Input"_s).contains(u"Review number 1,"_s));
    QCOMPARE(cell(results, 0, u"A · label"_s), u"positive"_s); // the fake's first choice
    QVERIFY(!cell(results, 0, u"A · score"_s).isEmpty());
    QVERIFY(cell(results, 0, u"A · cost"_s).startsWith(u'$'));
    // Both models answered the same, field by field.
    const auto &comparison = *page->sampleRun()->comparison();
    QVERIFY2(comparison.error.isEmpty(), qPrintable(comparison.error));
    QCOMPARE(comparison.fields.size(), 2);
    QCOMPARE(comparison.fields.at(0).field, u"label"_s);
    QCOMPARE(comparison.fields.at(0).agreeing, 10);
    QCOMPARE(cell(page->agreementTable(), 0, u"Agreement"_s), u"100 %"_s);

    // The whole file's projection from what the sample really cost.
    // A copy: the wizard (and its sample page) closes once the whole file is imported.
    const bd::ui::SampleOutcome a = outcomes.at(0);
    QVERIFY(a.projection);
    QCOMPARE(a.projection->inputRows, inputRows);
    QVERIFY(qAbs(a.projection->costUsd - a.costUsd * inputRows / 10) < 1e-9);
    QCOMPARE(cell(page->summaryTable(), 0, u"Whole file"_s).section(u' ', 0, 0),
             bd::ui::formatUsd(a.projection->costUsd));
    QVERIFY2(cell(page->summaryTable(), 0, u"Whole file time"_s).contains(u"in flight"_s),
             qPrintable(cell(page->summaryTable(), 0, u"Whole file time"_s)));
    wizard->resize(1180, 820);
    keepScreenshot(wizard, u"wizard-sample.png"_s);
    // 10 rows for A, 10 for B: each sampled prompt went out twice (two models), nothing else.
    QCOMPARE(fake.requestCount("/v1/chat/completions"), 20);

    // Run the whole file with A: the sampled rows come from the response cache.
    QCOMPARE(wizard->importButton()->text(), u"Run the &whole file"_s);
    QVERIFY(wizard->importButton()->isEnabled());
    QTest::mouseClick(wizard->importButton(), Qt::LeftButton);
    qint64 wholeJob = 0;
    QTRY_VERIFY_WITH_TIMEOUT((wholeJob = finishedWholeJob(db)) != 0, 30000);
    const bd::JobInfo whole = *storedJob(db, wholeJob);
    QCOMPARE(whole.spec.model, u"gpt-4o-mini"_s);
    QCOMPARE(whole.counts.completed, inputRows);
    // Only the 30 rows the sample did not take reached the server.
    QCOMPARE(fake.requestCount("/v1/chat/completions"), 20 + inputRows - 10);
    for (int row = 1; row <= inputRows; ++row) {
        const QString prompt =
            u"Classify the mood of: Review number %1, it boils water%2"_s.arg(row).arg(
                row % 2 ? QString() : u" negative"_s);
        const bool sampled = (row - 1) % 4 == 0;
        QVERIFY2(fake.attemptsFor(prompt) == (sampled ? 2 : 1),
                 qPrintable(u"row %1 sent %2 times"_s.arg(row).arg(fake.attemptsFor(prompt))));
    }
    // What the whole file really cost (the sample's rows included) against the projection.
    const double real = whole.costUsd + a.costUsd;
    QVERIFY2(qAbs(real - a.projection->costUsd) <= 0.25 * a.projection->costUsd,
             qPrintable(u"real %1 vs projected %2"_s.arg(real).arg(a.projection->costUsd)));

    // The Tasks view: the job's fields as columns, filtered with "label = negative".
    window->showPage(bd::ui::MainWindow::TasksScreen);
    bd::ui::TasksPage *tasks = window->tasksPage();
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            window->engine()->requestJobs();
            tasks->showJob(wholeJob);
            return tasks->model()->fieldColumns() == QStringList({u"label"_s, u"score"_s});
        }(),
        10000);
    QTRY_VERIFY_WITH_TIMEOUT(tasks->model()->hasCount() && tasks->model()->rowCount() == inputRows,
                             10000);
    tasks->searchField()->setText(u"label = negative"_s);
    QTRY_VERIFY_WITH_TIMEOUT(tasks->currentFilter().field == u"label"_s &&
                                 tasks->model()->hasCount() &&
                                 tasks->model()->filter().field == u"label"_s &&
                                 tasks->model()->rowCount() == inputRows / 2,
                             10000);
    QCOMPARE(tasks->currentFilter().fieldValue, u"negative"_s);
    QVERIFY(tasks->currentFilter().text.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(tasks->model()->rowAt(0).has_value(), 10000);
    for (int row = 0; row < tasks->model()->rowCount(); ++row) {
        const auto task = tasks->model()->rowAt(row);
        QVERIFY(task);
        QCOMPARE(task->rowNumber % 2, 0);
        const int labelColumn = tasks->model()->columnCount() - 2;
        QCOMPARE(
            tasks->model()->headerData(labelColumn, Qt::Horizontal, Qt::DisplayRole).toString(),
            u"label"_s);
        QCOMPARE(tasks->model()->index(row, labelColumn).data().toString(), u"negative"_s);
    }
    // Another value, and a field the job does not have (plain text search then).
    tasks->searchField()->setText(u"label = positive"_s);
    QTRY_VERIFY_WITH_TIMEOUT(tasks->model()->filter().fieldValue == u"positive"_s &&
                                 tasks->model()->hasCount() &&
                                 tasks->model()->rowCount() == inputRows / 2,
                             10000);
    tasks->searchField()->setText(u"mood = negative"_s);
    QTRY_VERIFY_WITH_TIMEOUT(tasks->model()->filter().text == u"mood = negative"_s &&
                                 tasks->model()->hasCount() && tasks->model()->rowCount() == 0,
                             10000);
    qunsetenv("OPENAI_API_KEY");
    qunsetenv("OPENAI_BASE_URL");
}

void TestGuiSample::compareThreeCandidatesAndRunTheChosenOne()
{
    QString db;
    auto window = makeWindow(&db);
    ImportWizard *wizard = openWizard(*window, reviewsCsv(u"compare.csv"_s, 40), u"{{text}}"_s);
    QVERIFY(wizard);
    wizard->modelBox()->setCurrentText(u"sim-1"_s);
    wizard->sampleRowsBox()->setValue(8);
    QTRY_VERIFY_WITH_TIMEOUT(!wizard->isEstimating() && wizard->lastEstimate().rows == 40, 20000);
    SamplePage *page = wizard->samplePage();
    // The mini model answers the simulator's way (from the prompt): it agrees on every
    // row; another template asks something else and agrees on none.
    page->addCandidate(u"simulator"_s, u"sim-1-mini"_s, u"{{text}}"_s);
    page->addCandidate(u"simulator"_s, u"sim-1"_s, u"In one word: {{text}}"_s);
    QCOMPARE(page->extraCandidates(), 2);
    QVERIFY(!page->findChild<QPushButton *>(u"addCandidate"_s)->isEnabled()); // three at most
    QVERIFY(wizard->trySample());
    QTRY_VERIFY2_WITH_TIMEOUT(sampleDone(page, 3) && page->sampleRun()->comparison(),
                              qPrintable(describe(page)), 30000);
    const auto &comparison = *page->sampleRun()->comparison();
    QVERIFY2(comparison.error.isEmpty(), qPrintable(comparison.error));
    QCOMPARE(comparison.rows, 8);
    QCOMPARE(comparison.comparedRows, 8);
    QCOMPARE(comparison.fields.size(), 1);
    QCOMPARE(comparison.fields.at(0).agreeing, 0); // C differs everywhere
    QCOMPARE(cell(page->agreementTable(), 0, u"Field"_s), u"answer"_s);
    QCOMPARE(cell(page->agreementTable(), 0, u"Agreement"_s), u"0 %"_s);
    // Side by side: A and B the same, C not (its cells are marked).
    QTableWidget *results = page->resultsTable();
    QCOMPARE(results->rowCount(), 8);
    QCOMPARE(cell(results, 0, u"A · answer"_s), cell(results, 0, u"B · answer"_s));
    QVERIFY(cell(results, 0, u"A · answer"_s) != cell(results, 0, u"C · answer"_s));
    const int cColumn = int(headers(results).indexOf(u"C · answer"_s));
    QVERIFY(results->item(0, cColumn)->background().style() != Qt::NoBrush);
    // What each would cost for the whole file: the mini model for less.
    const auto &outcomes = page->sampleRun()->outcomes();
    QVERIFY(outcomes.at(0).projection && outcomes.at(1).projection && outcomes.at(2).projection);
    QVERIFY(outcomes.at(1).projection->costUsd < outcomes.at(0).projection->costUsd);
    QCOMPARE(page->summaryTable()->rowCount(), 3);
    QCOMPARE(cell(page->summaryTable(), 1, u"Model"_s), u"Simulator (offline) · sim-1-mini"_s);
    QCOMPARE(cell(page->summaryTable(), 1, u"Answered"_s), u"8 of 8"_s);
    wizard->resize(1180, 820);
    keepScreenshot(wizard, u"wizard-compare.png"_s);

    // A and B agree: take the cheaper B for the whole file.
    page->choose(1);
    QVERIFY(wizard->importButton()->isEnabled());
    QTest::mouseClick(wizard->importButton(), Qt::LeftButton);
    qint64 wholeJob = 0;
    QTRY_VERIFY_WITH_TIMEOUT((wholeJob = finishedWholeJob(db)) != 0, 30000);
    const bd::JobInfo whole = *storedJob(db, wholeJob);
    QCOMPARE(whole.spec.model, u"sim-1-mini"_s);
    QCOMPARE(whole.spec.templateText, u"{{text}}"_s);
    QCOMPARE(whole.counts.completed, 40);
    // The sample jobs stay in the list, marked as samples of the file.
    int samples = 0;
    for (const bd::JobInfo &job : storedJobs(db))
        samples += job.spec.settings.value(bd::settingkeys::sampleRows).toInt() == 8 ? 1 : 0;
    QCOMPARE(samples, 3);
    // The Jobs view says which jobs are samples.
    QTRY_VERIFY_WITH_TIMEOUT(window->jobsModel()->rowCount() == 4, 10000);
    int sampleRows = 0;
    for (int row = 0; row < window->jobsModel()->rowCount(); ++row) {
        const QString source =
            window->jobsModel()->index(row, bd::ui::JobsModel::SourceColumn).data().toString();
        sampleRows += source == u"compare.csv · sample of 40 rows"_s ? 1 : 0;
    }
    QCOMPARE(sampleRows, 3);
}

void TestGuiSample::projectedTimeFollowsLatencyAndConcurrency()
{
    // 1,000 rows at 16 in flight and 800 ms a call: 63 round trips.
    QCOMPARE(bd::ui::projectedSeconds(1000, 800, 16), qint64(51));
    // A rate limit slower than that wins: 1,000 rows at 600 a minute.
    QCOMPARE(bd::ui::projectedSeconds(1000, 800, 16, 600), qint64(100));
    QCOMPARE(bd::ui::projectedSeconds(0, 800, 16), qint64(0));
    QCOMPARE(bd::ui::projectedSeconds(10, -1, 16), qint64(-1));
}

QTEST_MAIN(TestGuiSample)
#include "test_gui_sample.moc"
