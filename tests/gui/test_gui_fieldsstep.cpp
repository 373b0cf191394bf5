// The import wizard's Fields step (ui/fieldsstep.h): fields named by the user become a
// strict JSON Schema, a pasted schema is checked as one types, problems show inline and
// hold the import back, and a stored job's schema comes back as fields ("run again").
#include "api/jobsettings.h"
#include "fieldsstep.h"
#include "guitestfixture.h"

#include <QComboBox>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QSignalSpy>
#include <QTableWidget>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ingest::FieldKind;
using bd::ingest::OutputField;
using bd::ui::FieldsStep;

class TestGuiFieldsStep : public QObject, public bd::testing::GuiTestFixture
{
    Q_OBJECT

private Q_SLOTS:
    void fieldsBuildTheSchema();
    void pastedSchemaIsCheckedInline();
    void storedSchemaComesBack();
    void wizardHoldsBackABadStep();
    void jsonModeForCompatibleServers();
    void theHeaderAndKindsShowWhole();
};

void TestGuiFieldsStep::fieldsBuildTheSchema()
{
    FieldsStep step;
    QVERIFY(step.schemaText().isEmpty());
    QVERIFY(step.problem().isEmpty());
    QSignalSpy changed(&step, &FieldsStep::changed);
    step.setAsking(true);
    QVERIFY(!changed.isEmpty());
    QCOMPARE(step.problem(), u"name at least one output field"_s);
    QCOMPARE(step.statusLabel()->text(), step.problem());

    step.addField(OutputField{u"label"_s, FieldKind::Choice, {u"positive"_s, u"negative"_s}, {}});
    step.addField(OutputField{u"score"_s, FieldKind::Number, {}, u"0 to 1"_s});
    step.addField(OutputField{u"urgent"_s, FieldKind::YesNo, {}, {}});
    QVERIFY2(step.problem().isEmpty(), qPrintable(step.problem()));
    const QJsonObject schema = QJsonDocument::fromJson(step.schemaText().toUtf8()).object();
    QCOMPARE(schema.value(u"required"_s).toArray(),
             (QJsonArray{u"label"_s, u"score"_s, u"urgent"_s}));
    QCOMPARE(schema.value(u"properties"_s).toObject().value(u"label"_s).toObject().value(u"enum"_s),
             QJsonValue(QJsonArray{u"positive"_s, u"negative"_s}));
    QVERIFY(step.statusLabel()->text().contains(
        u"label (one of a list), score (number), urgent (yes/no)"_s));

    // Renaming a field to a taken name shows the problem at once.
    step.fieldTable()->item(2, 0)->setText(u"score"_s);
    QCOMPARE(step.problem(), u"field 'score' is named twice"_s);
    QVERIFY(step.schemaText().isEmpty());
    step.fieldTable()->item(2, 0)->setText(u"urgent"_s);
    QVERIFY(step.problem().isEmpty());

    step.setAsking(false);
    QVERIFY(step.schemaText().isEmpty());
}

void TestGuiFieldsStep::pastedSchemaIsCheckedInline()
{
    FieldsStep step;
    step.setAsking(true);
    step.setPastedSchema(u"{\n  \"type\": \"object\",\n  \"properties\": {\n    \"a\": }\n}"_s);
    QVERIFY2(step.problem().startsWith(u"the pasted schema line 4: not JSON"_s),
             qPrintable(step.problem()));
    QVERIFY(step.statusLabel()->text().contains(u"line 4"_s));
    step.setPastedSchema(u"{\"properties\": {\"b\": {\"type\": \"integer\"}, \"a\": {}}}"_s);
    QVERIFY2(step.problem().isEmpty(), qPrintable(step.problem()));
    // The pasted order is kept: b before a.
    QVERIFY(step.schemaText().indexOf(u"\"b\""_s) < step.schemaText().indexOf(u"\"a\""_s));
}

void TestGuiFieldsStep::storedSchemaComesBack()
{
    QString error;
    const auto strict = bd::ingest::OutputSchema::fromFields(
        {{u"mood"_s, FieldKind::Choice, {u"calm"_s, u"angry"_s}, {}},
         {u"tags"_s, FieldKind::TextList, {}, {}}},
        &error);
    QVERIFY(strict);
    FieldsStep step;
    step.setSchemaText(QString::fromUtf8(strict->text()));
    QCOMPARE(step.fieldTable()->rowCount(), 2);
    QCOMPARE(step.fieldTable()->item(0, 0)->text(), u"mood"_s);
    QCOMPARE(step.fieldTable()->item(0, 2)->text(), u"calm, angry"_s);
    QCOMPARE(step.schemaText(), QString::fromUtf8(strict->text()));
    // A schema the fields cannot express stays as it was written.
    const QString integer = u"{\"properties\":{\"n\":{\"type\":\"integer\"}}}"_s;
    step.setSchemaText(integer);
    QCOMPARE(step.fieldTable()->rowCount(), 0);
    QCOMPARE(step.schemaText(), integer);
}

void TestGuiFieldsStep::wizardHoldsBackABadStep()
{
    QString db;
    auto window = makeWindow(&db);
    bd::ui::ImportWizard *wizard = window->openCsv(reviewsCsv(u"reviews.csv"_s, 6));
    QVERIFY(wizard);
    QVERIFY(QTest::qWaitFor([&] { return wizard->isPreviewReady(); }, 10'000));
    wizard->templateEditor()->setPlainText(u"Label: {{text}}"_s);
    QVERIFY(
        QTest::qWaitFor([&] { return !wizard->isEstimating() && wizard->lastCheck().ok; }, 20'000));
    FieldsStep *step = wizard->fieldsStep();
    step->setAsking(true); // no fields yet: a problem
    QVERIFY(wizard->templateProblem().startsWith(u"Fields: "_s));
    QVERIFY(!wizard->startImport());
    // Good fields on the simulator: the engine refuses them (it answers free text).
    step->addField(OutputField{u"label"_s, FieldKind::Text, {}, {}});
    QVERIFY(wizard->templateProblem().isEmpty());
    QVERIFY(QTest::qWaitFor([&] { return !wizard->isEstimating(); }, 20'000));
    QVERIFY(!wizard->lastCheck().ok);
    QVERIFY2(wizard->lastCheck().error.contains(u"need a real provider"_s),
             qPrintable(wizard->lastCheck().error));
    wizard->close();
}

void TestGuiFieldsStep::jsonModeForCompatibleServers()
{
    // A local server without json_schema support: the step offers JSON mode, the job keeps
    // it (CLI.md --structured-output json_object), and "run again" brings it back. No
    // request is sent: the address only has to be well formed.
    qputenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    QString db;
    auto window = makeWindow(&db);
    bd::ui::ImportWizard *wizard = window->openCsv(reviewsCsv(u"local.csv"_s, 6));
    QVERIFY(wizard);
    QVERIFY(QTest::qWaitFor([&] { return wizard->isPreviewReady(); }, 10'000));
    wizard->templateEditor()->setPlainText(u"Label: {{text}}"_s);
    FieldsStep *step = wizard->fieldsStep();
    step->setAsking(true);
    step->addField(OutputField{u"label"_s, FieldKind::Choice, {u"calm"_s, u"angry"_s}, {}});
    QVERIFY(step->structuredOutputBox()->parentWidget()->isHidden()); // the simulator: none
    wizard->providerBox()->setCurrentIndex(wizard->providerBox()->findData(u"openai-compatible"_s));
    wizard->modelBox()->setCurrentText(u"local-model"_s);
    QVERIFY(!step->structuredOutputBox()->parentWidget()->isHidden());
    QCOMPARE(step->structuredOutput(), u"json_schema"_s);
    QVERIFY(QTest::qWaitFor([&] { return !wizard->isEstimating() && wizard->lastCheck().ok; }, 20'000));
    QVERIFY(!wizard->lastCheck().spec.settings.contains(bd::settingkeys::structuredOutput));

    step->structuredOutputBox()->setCurrentIndex(step->structuredOutputBox()->findData(u"json_object"_s));
    QCOMPARE(step->structuredOutput(), u"json_object"_s);
    QVERIFY(QTest::qWaitFor([&] { return !wizard->isEstimating() && wizard->lastCheck().ok; }, 20'000));
    QVERIFY2(wizard->lastCheck().ok, qPrintable(wizard->lastCheck().error));
    QCOMPARE(wizard->lastCheck().spec.settings.value(bd::settingkeys::structuredOutput).toString(),
             u"json_object"_s);
    const bd::JobInfo job{.spec = wizard->lastCheck().spec};

    // Another provider: the choice goes away (the engine would refuse it there).
    wizard->providerBox()->setCurrentIndex(wizard->providerBox()->findData(u"openai"_s));
    QVERIFY(step->structuredOutput().isEmpty());
    QVERIFY(step->structuredOutputBox()->parentWidget()->isHidden());
    wizard->close();

    // Run again: the stored job's mode comes back.
    bd::ui::ImportWizard *again = window->openCsv(reviewsCsv(u"local2.csv"_s, 6));
    QVERIFY(QTest::qWaitFor([&] { return again->isPreviewReady(); }, 10'000));
    again->setFromJob(job);
    QCOMPARE(again->fieldsStep()->structuredOutput(), u"json_object"_s);
    again->close();
    qunsetenv("OPENAI_BASE_URL");
}

// Each column's header and each kind's name show whole at the width the wizard gives the
// step at 1,024 px: the header read "lues (one of a lis", clipped on both sides.
void TestGuiFieldsStep::theHeaderAndKindsShowWhole()
{
    FieldsStep step;
    step.resize(980, 320);
    step.show();
    QVERIFY(QTest::qWaitForWindowExposed(&step));
    const auto headerShowsWhole = [&step] {
        QHeaderView *header = step.fieldTable()->horizontalHeader();
        for (int column = 0; column < header->count(); ++column) {
            if (header->sectionSize(column) < header->sectionSizeHint(column))
                return u"column %1: %2 of %3 px"_s.arg(column)
                    .arg(header->sectionSize(column))
                    .arg(header->sectionSizeHint(column));
        }
        return QString();
    };
    QCOMPARE(headerShowsWhole(), QString());
    step.setAsking(true);
    step.addField(OutputField{u"label"_s, FieldKind::Choice, {u"positive"_s, u"negative"_s}, {}});
    step.addField(OutputField{u"topics"_s, FieldKind::TextList, {}, {}});
    QCoreApplication::processEvents();
    QCOMPARE(headerShowsWhole(), QString());
    // The widest kind's name fits its column.
    QTableWidget *table = step.fieldTable();
    for (int row = 0; row < table->rowCount(); ++row) {
        auto *kind = qobject_cast<QComboBox *>(table->cellWidget(row, 1));
        QVERIFY(kind);
        QVERIFY2(
            table->columnWidth(1) >= kind->sizeHint().width(),
            qPrintable(u"%1 of %2 px"_s.arg(table->columnWidth(1)).arg(kind->sizeHint().width())));
    }
}

QTEST_MAIN(TestGuiFieldsStep)
#include "test_gui_fieldsstep.moc"
