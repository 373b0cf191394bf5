// batchctl as scripts use it: the real binary through QProcess, on databases in a
// temporary folder, checked against CLI.md (exit codes, --json fields, exports, DLQ) and
// against a crash: SIGKILL in the middle of a run, then `resume` finishes every row once.

#include "ingest/csvreader.h"
#include "ingest/exportwriter.h"
#include "ingest/prompttemplate.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <memory>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <sys/stat.h>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;
using bd::providers::SimulatorProvider;

namespace {

const QStringList kResultColumns = {
    u"status"_s,        u"output"_s,        u"error"_s,    u"model"_s,    u"input_tokens"_s,
    u"output_tokens"_s, u"cached_tokens"_s, u"cost_usd"_s, u"attempts"_s, u"task_id"_s};

struct Result
{
    int exitCode = -1;
    bool crashed = false;
    QByteArray out;
    QByteArray err;

    QJsonObject json() const { return QJsonDocument::fromJson(out).object(); }
    QString describe() const
    {
        return u"exit %1\nstdout: %2\nstderr: %3"_s.arg(exitCode).arg(
            QString::fromUtf8(out.left(2000)), QString::fromUtf8(err.left(2000)));
    }
};

// How the export writer shows an input cell in CSV (formula-like text gets a leading ').
QString asCsvCell(const QString &value)
{
    if (!value.isEmpty()) {
        const QChar c = value.at(0);
        if (c == u'=' || c == u'+' || c == u'-' || c == u'@' || c == u'\t' || c == u'\r')
            return u"'"_s + value;
    }
    return value;
}

struct Table
{
    QStringList header;
    QList<QStringList> rows;
    QString error;
};

Table readCsv(const QString &path)
{
    Table table;
    bd::ingest::CsvReader reader;
    if (!reader.open(path)) {
        table.error = reader.errorString();
        return table;
    }
    table.header = reader.header();
    QStringList fields;
    while (reader.readRow(fields))
        table.rows.append(fields);
    if (reader.hasError())
        table.error = reader.errorString();
    return table;
}

} // namespace

class TestBatchctl : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void version();
    void runSampleWithJsonAndExport();
    void runningAgainContinuesTheJob();
    void exportCommandWritesJsonlAndXlsx();
    void usageErrorsImportNothing();
    void deadLettersExitFourAndReplay();
    void quotaPausesWithExitThreeAndAlert();
    void globalBudgetPausesWithExitThreeAndRaisingResumes();
    void crashThenResumeCompletesEveryRowOnce();
    void statusShowsTheAdaptiveConcurrencyOfARunningJob();
    void offPeakRunWaitsThenRunsNow();
    void dlqReplayWithEditedTemplate();
    void strictNumbersAndFilesAreUsageErrors();
    void encodingOptionChoosesTheDecoding();
    void aJobBudgetHoldsAgainstABurstOfRequests();

private:
    Result batchctl(const QStringList &arguments, int timeoutMs = 60'000);
    QString writeCsv(const QString &name, const QStringList &header,
                     const QList<QStringList> &rows);
    // An id,text CSV of count rows; text is textPattern with %1 the row's number.
    QString numberedCsv(const QString &name, int count, const QString &textPattern);
    QString samplePath() const;

    QTemporaryDir m_dir;
    QProcessEnvironment m_env;
    // Shared between the sample tests (one 2000-row run serves several checks).
    QString m_sampleDb;
    qint64 m_sampleJob = 0;
    const QString m_sampleTemplate = u"Classify this {{product}} review: {{review}}"_s;
    const QString m_sampleSystem = u"Answer with one word."_s;
};

void TestBatchctl::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(QFileInfo(QStringLiteral(BATCHCTL_PATH)).isExecutable(), BATCHCTL_PATH);
    QVERIFY2(QFileInfo(samplePath()).isFile(), qPrintable(samplePath()));
    // Keep the user's own config and data (a prices.json, the default database) out of it.
    m_env = QProcessEnvironment::systemEnvironment();
    m_env.insert(u"XDG_CONFIG_HOME"_s, m_dir.filePath(u"config"_s));
    m_env.insert(u"XDG_DATA_HOME"_s, m_dir.filePath(u"data"_s));
    m_env.insert(u"HOME"_s, m_dir.path());
    for (const char *key :
         {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"})
        m_env.remove(QString::fromLatin1(key));
    m_sampleDb = m_dir.filePath(u"sample.sqlite"_s);
}

QString TestBatchctl::samplePath() const
{
    QString root = qEnvironmentVariable("BATCHDESK_SOURCE_DIR");
#ifdef BATCHDESK_SOURCE_DIR_FALLBACK
    if (root.isEmpty())
        root = QStringLiteral(BATCHDESK_SOURCE_DIR_FALLBACK);
#endif
    return root + u"/resources/samples/reviews.csv"_s;
}

Result TestBatchctl::batchctl(const QStringList &arguments, int timeoutMs)
{
    QProcess process;
    process.setProcessEnvironment(m_env);
    process.setWorkingDirectory(m_dir.path());
    process.start(QStringLiteral(BATCHCTL_PATH), arguments);
    Result result;
    if (!process.waitForStarted(10'000)) {
        result.err = process.errorString().toUtf8();
        return result;
    }
    process.closeWriteChannel();
    if (!process.waitForFinished(timeoutMs)) {
        process.kill();
        process.waitForFinished();
        result.err = "timed out: " + process.readAllStandardError();
        return result;
    }
    result.crashed = process.exitStatus() != QProcess::NormalExit;
    result.exitCode = result.crashed ? -1 : process.exitCode();
    result.out = process.readAllStandardOutput();
    result.err = process.readAllStandardError();
    return result;
}

QString TestBatchctl::writeCsv(const QString &name, const QStringList &header,
                               const QList<QStringList> &rows)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return {};
    const auto line = [](const QStringList &fields) -> QByteArray {
        QStringList quoted;
        for (QString field : fields) {
            if (field.contains(u',') || field.contains(u'"') || field.contains(u'\n'))
                field = u"\""_s + field.replace(u"\""_s, u"\"\""_s) + u"\""_s;
            quoted.append(field);
        }
        return quoted.join(u',').toUtf8() + "\r\n";
    };
    QByteArray data = line(header);
    for (const QStringList &row : rows)
        data += line(row);
    file.write(data);
    return path;
}

QString TestBatchctl::numberedCsv(const QString &name, int count, const QString &textPattern)
{
    QList<QStringList> rows;
    for (int i = 1; i <= count; ++i)
        rows.append({QString::number(i), textPattern.arg(i)});
    return writeCsv(name, {u"id"_s, u"text"_s}, rows);
}

void TestBatchctl::version()
{
    const Result r = batchctl({u"--version"_s});
    QVERIFY2(r.exitCode == 0, qPrintable(r.describe()));
    QCOMPARE(QString::fromUtf8(r.out).trimmed(),
             u"batchctl "_s + QStringLiteral(BATCHDESK_VERSION));

    const Result help = batchctl({u"--help"_s});
    QCOMPARE(help.exitCode, 0);
    QVERIFY(help.out.contains("dlq replay"));

    const Result nothing = batchctl({});
    QCOMPARE(nothing.exitCode, 2);
    const Result unknown = batchctl({u"frobnicate"_s});
    QCOMPARE(unknown.exitCode, 2);
}

void TestBatchctl::runSampleWithJsonAndExport()
{
    const QString exportPath = m_dir.filePath(u"sample-out.csv"_s);
    QElapsedTimer timer;
    timer.start();
    const Result r =
        batchctl({u"run"_s, samplePath(), u"--template"_s, m_sampleTemplate, u"--system"_s,
                  m_sampleSystem, u"--db"_s, m_sampleDb, u"--json"_s, u"--export"_s, exportPath});
    const double wall = double(timer.elapsed()) / 1000.0;
    QVERIFY2(r.exitCode == 0, qPrintable(r.describe()));

    // Exactly one JSON object on stdout; the human text went to stderr.
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(r.out, &parseError);
    QVERIFY2(parseError.error == QJsonParseError::NoError && doc.isObject(),
             qPrintable(r.describe()));
    const QJsonObject json = doc.object();
    QVERIFY(json.value(u"job"_s).isDouble());
    m_sampleJob = json.value(u"job"_s).toInteger();
    QVERIFY(m_sampleJob > 0);
    QCOMPARE(json.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(json.value(u"tasks"_s).toInteger(), 2000);
    QCOMPARE(json.value(u"completed"_s).toInteger(), 2000);
    QCOMPARE(json.value(u"dead"_s).toInteger(), 0);
    QCOMPARE(json.value(u"pending"_s).toInteger(), 0);
    QVERIFY(json.value(u"cost_usd"_s).isDouble());
    QVERIFY(json.value(u"cost_usd"_s).toDouble() > 0);
    QVERIFY(json.value(u"input_tokens"_s).toInteger() > 0);
    QVERIFY(json.value(u"output_tokens"_s).toInteger() > 0);
    QCOMPARE(json.value(u"cached_tokens"_s).toInteger(), 0);
    QVERIFY(json.value(u"elapsed_s"_s).isDouble());
    const double elapsed = json.value(u"elapsed_s"_s).toDouble();
    QVERIFY2(elapsed > 0 && elapsed <= wall + 0.01, qPrintable(QString::number(elapsed)));
    QVERIFY(!r.err.isEmpty());

    // The export: input columns in order, then the result columns; rows in input order.
    const Table input = readCsv(samplePath());
    QVERIFY2(input.error.isEmpty(), qPrintable(input.error));
    QCOMPARE(input.rows.size(), 2000);
    const Table out = readCsv(exportPath);
    QVERIFY2(out.error.isEmpty(), qPrintable(out.error));
    QCOMPARE(out.header, input.header + kResultColumns);
    QCOMPARE(out.rows.size(), 2000);

    bd::ingest::PromptTemplate prompt(m_sampleTemplate);
    QString error;
    QVERIFY2(prompt.bind(input.header, &error), qPrintable(error));
    const int columns = int(input.header.size());
    const auto col = [&](const QString &name) { return int(out.header.indexOf(name)); };
    QSet<qint64> taskIds;
    QSet<QString> sentPrompts;
    QStringList cachedRows;
    qint64 inputTokens = 0;
    qint64 outputTokens = 0;
    double cost = 0;
    for (int i = 0; i < 2000; ++i) {
        const QStringList &row = out.rows.at(i);
        const QStringList &source = input.rows.at(i);
        for (int c = 0; c < columns; ++c) {
            if (row.at(c) != asCsvCell(source.at(c)))
                QFAIL(qPrintable(u"row %1 column %2: '%3' vs '%4'"_s.arg(i + 1).arg(c).arg(
                    row.at(c), source.at(c))));
        }
        QCOMPARE(row.at(col(u"status"_s)), u"completed"_s);
        const QString expected =
            SimulatorProvider::answerFor(m_sampleSystem, prompt.render(source));
        if (row.at(col(u"output"_s)) != expected)
            QFAIL(qPrintable(u"row %1: output '%2', expected '%3'"_s.arg(i + 1).arg(
                row.at(col(u"output"_s)), expected)));
        QCOMPARE(row.at(col(u"error"_s)), QString());
        QCOMPARE(row.at(col(u"model"_s)), u"sim-1"_s);
        bool ok = false;
        taskIds.insert(row.at(col(u"task_id"_s)).toLongLong(&ok));
        QVERIFY(ok);
        inputTokens += row.at(col(u"input_tokens"_s)).toLongLong();
        outputTokens += row.at(col(u"output_tokens"_s)).toLongLong();
        const double rowCost = row.at(col(u"cost_usd"_s)).toDouble(&ok);
        QVERIFY(ok);
        cost += rowCost;
        // The sample repeats itself: each distinct prompt is sent once (attempts 1, billed);
        // its repeats come from the response cache (attempts 0, no tokens, no cost).
        const QString attempts = row.at(col(u"attempts"_s));
        if (attempts == u"1"_s) {
            QVERIFY2(!sentPrompts.contains(expected),
                     qPrintable(u"row %1 sent twice"_s.arg(i + 1)));
            sentPrompts.insert(expected);
            QVERIFY(rowCost > 0);
        } else {
            QCOMPARE(attempts, u"0"_s);
            QCOMPARE(row.at(col(u"input_tokens"_s)), u"0"_s);
            QCOMPARE(rowCost, 0.0);
            cachedRows.append(expected);
        }
    }
    QCOMPARE(taskIds.size(), 2000);
    for (const QString &answer : std::as_const(cachedRows))
        QVERIFY(sentPrompts.contains(answer)); // a cache hit repeats an answer that was sent
    QVERIFY(sentPrompts.size() < 2000 && !cachedRows.isEmpty());
    // The summary adds up to the rows.
    QCOMPARE(json.value(u"input_tokens"_s).toInteger(), inputTokens);
    QCOMPARE(json.value(u"output_tokens"_s).toInteger(), outputTokens);
    QVERIFY2(qAbs(json.value(u"cost_usd"_s).toDouble() - cost) < 1e-6,
             qPrintable(u"%1 vs %2"_s.arg(json.value(u"cost_usd"_s).toDouble()).arg(cost)));
}

void TestBatchctl::runningAgainContinuesTheJob()
{
    QVERIFY2(m_sampleJob > 0, "needs runSampleWithJsonAndExport");
    const Result again =
        batchctl({u"run"_s, samplePath(), u"--template"_s, m_sampleTemplate, u"--system"_s,
                  m_sampleSystem, u"--db"_s, m_sampleDb, u"--json"_s});
    QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
    const QJsonObject json = again.json();
    QCOMPARE(json.value(u"job"_s).toInteger(), m_sampleJob);
    QCOMPARE(json.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(json.value(u"tasks"_s).toInteger(), 2000);
    QCOMPARE(json.value(u"completed"_s).toInteger(), 2000);
    QVERIFY2(again.err.contains("continuing job"), qPrintable(again.describe()));

    const Result status = batchctl({u"status"_s, u"--db"_s, m_sampleDb, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonObject statusJson = status.json();
    QVERIFY(statusJson.value(u"jobs"_s).isArray());
    QVERIFY(statusJson.value(u"alerts"_s).isArray());
    const QJsonArray jobs = statusJson.value(u"jobs"_s).toArray();
    QCOMPARE(jobs.size(), 1);
    const QJsonObject job = jobs.at(0).toObject();
    QCOMPARE(job.value(u"job"_s).toInteger(), m_sampleJob);
    QCOMPARE(job.value(u"tasks"_s).toInteger(), 2000);
    QCOMPARE(job.value(u"completed"_s).toInteger(), 2000);
    QCOMPARE(job.value(u"state"_s).toString(), u"finished"_s);
    for (const char *key :
         {"dead", "pending", "cost_usd", "input_tokens", "output_tokens", "cached_tokens"})
        QVERIFY2(job.contains(QLatin1StringView(key)), key);
    QCOMPARE(statusJson.value(u"alerts"_s).toArray().size(), 0);

    // A different template is a different job.
    const Result other = batchctl({u"run"_s, samplePath(), u"--template"_s, u"{{review}}"_s,
                                   u"--db"_s, m_sampleDb, u"--json"_s});
    QVERIFY2(other.exitCode == 0, qPrintable(other.describe()));
    QVERIFY(other.json().value(u"job"_s).toInteger() != m_sampleJob);
    const Result status2 = batchctl({u"status"_s, u"--db"_s, m_sampleDb, u"--json"_s});
    QCOMPARE(status2.json().value(u"jobs"_s).toArray().size(), 2);
}

void TestBatchctl::exportCommandWritesJsonlAndXlsx()
{
    QVERIFY2(m_sampleJob > 0, "needs runSampleWithJsonAndExport");
    const QString jsonl = m_dir.filePath(u"sample.jsonl"_s);
    const Result r = batchctl(
        {u"export"_s, QString::number(m_sampleJob), u"--out"_s, jsonl, u"--db"_s, m_sampleDb});
    QVERIFY2(r.exitCode == 0, qPrintable(r.describe()));
    QFile file(jsonl);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = file.readAll().split('\n');
    QList<QJsonObject> objects;
    for (const QByteArray &line : lines) {
        if (line.trimmed().isEmpty())
            continue;
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
        QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
        objects.append(doc.object());
    }
    QCOMPARE(objects.size(), 2000);
    const Table input = readCsv(samplePath());
    bd::ingest::PromptTemplate prompt(m_sampleTemplate);
    QString error;
    QVERIFY(prompt.bind(input.header, &error));
    QSet<qint64> ids;
    for (int i = 0; i < objects.size(); ++i) {
        const QJsonObject &o = objects.at(i);
        for (int c = 0; c < input.header.size(); ++c)
            QCOMPARE(o.value(input.header.at(c)).toString(), input.rows.at(i).at(c)); // as it was
        for (const QString &key : kResultColumns)
            QVERIFY2(o.contains(key), qPrintable(key));
        QCOMPARE(o.value(u"status"_s).toString(), u"completed"_s);
        QCOMPARE(o.value(u"output"_s).toString(),
                 SimulatorProvider::answerFor(m_sampleSystem, prompt.render(input.rows.at(i))));
        // Sent once per distinct prompt; repeats answered by the response cache for free.
        const qint64 attempts = o.value(u"attempts"_s).toInteger();
        QVERIFY(attempts == 0 || attempts == 1);
        QCOMPARE(o.value(u"cost_usd"_s).toDouble() > 0, attempts == 1);
        ids.insert(o.value(u"task_id"_s).toInteger());
    }
    QCOMPARE(ids.size(), 2000);

    const QString xlsx = m_dir.filePath(u"sample.xlsx"_s);
    const Result x = batchctl(
        {u"export"_s, QString::number(m_sampleJob), u"--out"_s, xlsx, u"--db"_s, m_sampleDb});
    QVERIFY2(x.exitCode == 0, qPrintable(x.describe()));
    QFile book(xlsx);
    QVERIFY(book.open(QIODevice::ReadOnly));
    const QByteArray bytes = book.readAll();
    QVERIFY(bytes.startsWith(QByteArrayLiteral("PK\x03\x04"))); // a ZIP container
    QVERIFY(bytes.size() > 10'000);
    QVERIFY(bytes.contains("xl/worksheets/sheet1.xml"));

    // Unknown job, unknown format, missing --out: usage errors.
    QCOMPARE(batchctl({u"export"_s, u"999"_s, u"--out"_s, m_dir.filePath(u"x.csv"_s), u"--db"_s,
                       m_sampleDb})
                 .exitCode,
             2);
    QCOMPARE(batchctl({u"export"_s, QString::number(m_sampleJob), u"--out"_s,
                       m_dir.filePath(u"x.txt"_s), u"--db"_s, m_sampleDb})
                 .exitCode,
             2);
    QCOMPARE(batchctl({u"export"_s, QString::number(m_sampleJob), u"--db"_s, m_sampleDb}).exitCode,
             2);
    QVERIFY(!QFileInfo::exists(m_dir.filePath(u"x.csv"_s)));
}

void TestBatchctl::usageErrorsImportNothing()
{
    const QString csv = writeCsv(u"small.csv"_s, {u"id"_s, u"text"_s},
                                 {{u"1"_s, u"alpha"_s}, {u"2"_s, u"beta"_s}, {u"3"_s, u"gamma"_s}});
    const QString db = m_dir.filePath(u"usage.sqlite"_s);

    // On a fresh database: nothing is created, let alone imported.
    Result r = batchctl({u"run"_s, csv, u"--template"_s, u"Say {{txet}}"_s, u"--db"_s, db});
    QVERIFY2(r.exitCode == 2, qPrintable(r.describe()));
    QVERIFY2(r.err.contains("txet"), qPrintable(r.describe()));
    QVERIFY(r.out.isEmpty());
    QVERIFY(!QFileInfo::exists(db));

    // A database holding one job keeps exactly that one job through every usage error.
    r = batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(r.exitCode == 0, qPrintable(r.describe()));
    const qint64 job = r.json().value(u"job"_s).toInteger();

    const QList<QStringList> bad = {
        {u"run"_s, csv, u"--template"_s, u"Say {{nosuch}} and {{text}}"_s},
        {u"run"_s, m_dir.filePath(u"missing.csv"_s), u"--template"_s, u"Say {{text}}"_s},
        {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--provider"_s, u"bogus"_s},
        // A local OpenAI-compatible server has no batch API (nothing listens there: the
        // check comes before anything is sent).
        {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--mode"_s, u"batch-api"_s,
         u"--provider"_s, u"openai-compatible"_s, u"--base-url"_s, u"http://127.0.0.1:9/v1"_s,
         u"--model"_s, u"llama3"_s},
        {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--model"_s, u"gpt-99"_s},
        // A local server has no default model name.
        {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--provider"_s, u"openai-compatible"_s,
         u"--base-url"_s, u"http://127.0.0.1:9/v1"_s},
        {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--priority"_s, u"7"_s},
        {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--max-retries"_s, u"-1"_s},
        {u"run"_s, csv},
        {u"run"_s, csv, u"--template"_s, u"Say {{text"_s},
    };
    for (QStringList arguments : bad) {
        arguments << u"--db"_s << db << u"--json"_s;
        r = batchctl(arguments);
        QVERIFY2(r.exitCode == 2, qPrintable(arguments.join(u' ') + u"\n"_s + r.describe()));
        QVERIFY2(!r.err.isEmpty(), qPrintable(arguments.join(u' ')));
    }
    const Result status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonArray jobs = status.json().value(u"jobs"_s).toArray();
    QCOMPARE(jobs.size(), 1);
    QCOMPARE(jobs.at(0).toObject().value(u"job"_s).toInteger(), job);
    QCOMPARE(jobs.at(0).toObject().value(u"tasks"_s).toInteger(), 3);

    // status on a database that does not exist is a usage error, and does not create it.
    const QString none = m_dir.filePath(u"none.sqlite"_s);
    QCOMPARE(batchctl({u"status"_s, u"--db"_s, none}).exitCode, 2);
    QVERIFY(!QFileInfo::exists(none));
}

void TestBatchctl::deadLettersExitFourAndReplay()
{
    QList<QStringList> rows;
    const QList<int> invalidRows = {3, 11, 19};
    for (int i = 1; i <= 20; ++i) {
        rows.append({u"%1"_s.arg(i), invalidRows.contains(i)
                                         ? u"bad row [[sim:invalid]] %1"_s.arg(i)
                                         : u"good row %1"_s.arg(i)});
    }
    const QString csv = writeCsv(u"dlq.csv"_s, {u"id"_s, u"text"_s}, rows);
    const QString db = m_dir.filePath(u"dlq.sqlite"_s);
    const Result r = batchctl(
        {u"run"_s, csv, u"--template"_s, u"Check: {{text}}"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(r.exitCode == 4, qPrintable(r.describe()));
    QJsonObject json = r.json();
    QCOMPARE(json.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(json.value(u"completed"_s).toInteger(), 17);
    QCOMPARE(json.value(u"dead"_s).toInteger(), 3);
    QCOMPARE(json.value(u"pending"_s).toInteger(), 0);
    const qint64 job = json.value(u"job"_s).toInteger();

    const auto listDead = [&](QList<qint64> *taskIds) -> QJsonArray {
        const Result list = batchctl({u"dlq"_s, u"list"_s, u"--db"_s, db, u"--json"_s});
        if (list.exitCode != 0) {
            qWarning("%s", qPrintable(list.describe()));
            return {};
        }
        const QJsonArray dead = list.json().value(u"dead"_s).toArray();
        if (taskIds) {
            taskIds->clear();
            for (const QJsonValue &value : dead)
                taskIds->append(value.toObject().value(u"task_id"_s).toInteger());
        }
        return dead;
    };
    QList<qint64> deadIds;
    QJsonArray dead = listDead(&deadIds);
    QCOMPARE(dead.size(), 3);
    for (int i = 0; i < 3; ++i) {
        const QJsonObject entry = dead.at(i).toObject();
        QCOMPARE(entry.value(u"row"_s).toInteger(), invalidRows.at(i));
        QCOMPARE(entry.value(u"job"_s).toInteger(), job);
        QCOMPARE(entry.value(u"attempts"_s).toInteger(), 1);
        QCOMPARE(entry.value(u"error_class"_s).toString(), u"invalid_request"_s);
        QVERIFY(entry.value(u"error"_s).toString().contains(u"[[sim:invalid]]"_s));
    }

    // Replay all: they are sent again, die again (exit 4), and their attempts start over.
    Result replay = batchctl({u"dlq"_s, u"replay"_s, u"--db"_s, db});
    QVERIFY2(replay.exitCode == 4, qPrintable(replay.describe()));
    QVERIFY2(replay.err.contains("replaying 3"), qPrintable(replay.describe()));
    dead = listDead(nullptr);
    QCOMPARE(dead.size(), 3);
    for (const QJsonValue &value : dead)
        QCOMPARE(value.toObject().value(u"attempts"_s).toInteger(), 1); // not 2

    // Replay one task by id, with --job and --json: the same contract as resume.
    replay = batchctl({u"dlq"_s, u"replay"_s, u"--job"_s, QString::number(job), u"--task"_s,
                       QString::number(deadIds.at(1)), u"--db"_s, db, u"--json"_s});
    QVERIFY2(replay.exitCode == 4, qPrintable(replay.describe()));
    QVERIFY2(replay.err.contains("replaying 1"), qPrintable(replay.describe()));
    json = replay.json();
    QCOMPARE(json.value(u"dead"_s).toInteger(), 3);
    QCOMPARE(json.value(u"completed"_s).toInteger(), 17);
    dead = listDead(nullptr);
    QCOMPARE(dead.size(), 3);
    for (const QJsonValue &value : dead)
        QCOMPARE(value.toObject().value(u"attempts"_s).toInteger(), 1);

    // The export shows the dead rows with their reason, the rest completed.
    const QString out = m_dir.filePath(u"dlq.csv.out.csv"_s);
    QCOMPARE(batchctl({u"export"_s, QString::number(job), u"--out"_s, out, u"--db"_s, db}).exitCode,
             0);
    const Table table = readCsv(out);
    QVERIFY2(table.error.isEmpty(), qPrintable(table.error));
    QCOMPARE(table.rows.size(), 20);
    const int status = int(table.header.indexOf(u"status"_s));
    const int error = int(table.header.indexOf(u"error"_s));
    for (int i = 0; i < 20; ++i) {
        const bool bad = invalidRows.contains(i + 1);
        QCOMPARE(table.rows.at(i).at(status), bad ? u"dead"_s : u"completed"_s);
        QCOMPARE(table.rows.at(i).at(error).startsWith(u"invalid_request: "_s), bad);
    }
}

void TestBatchctl::quotaPausesWithExitThreeAndAlert()
{
    QList<QStringList> rows;
    for (int i = 1; i <= 10; ++i)
        rows.append({u"%1"_s.arg(i), i == 6 ? u"[[sim:quota]]"_s : u"fine %1"_s.arg(i)});
    const QString csv = writeCsv(u"quota.csv"_s, {u"id"_s, u"text"_s}, rows);
    const QString db = m_dir.filePath(u"quota.sqlite"_s);
    const QString out = m_dir.filePath(u"quota-out.csv"_s);
    const Result r = batchctl({u"run"_s, csv, u"--template"_s, u"{{text}}"_s, u"--db"_s, db,
                               u"--json"_s, u"--concurrency"_s, u"1"_s, u"--export"_s, out});
    QVERIFY2(r.exitCode == 3, qPrintable(r.describe()));
    const QJsonObject json = r.json();
    QCOMPARE(json.value(u"state"_s).toString(), u"paused"_s);
    // One request at a time: rows 1-5 answered, row 6 hit the quota, 6-10 wait unharmed.
    QCOMPARE(json.value(u"completed"_s).toInteger(), 5);
    QCOMPARE(json.value(u"pending"_s).toInteger(), 5);
    QCOMPARE(json.value(u"dead"_s).toInteger(), 0);
    // run --export writes the file when the job stops, paused included.
    const Table table = readCsv(out);
    QCOMPARE(table.rows.size(), 10);
    QCOMPARE(table.rows.at(5).at(table.header.indexOf(u"status"_s)), u"pending"_s);
    QCOMPARE(table.rows.at(5).at(table.header.indexOf(u"attempts"_s)), u"0"_s);

    const Result status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonObject s = status.json();
    QCOMPARE(s.keys(), (QStringList{u"alerts"_s, u"jobs"_s, u"workers"_s}));
    // The engines seen on the database lately: the run's, which completed the five rows.
    const QJsonArray workers = s.value(u"workers"_s).toArray();
    QVERIFY(!workers.isEmpty());
    qint64 completedByWorkers = 0;
    for (const QJsonValue &worker : workers) {
        for (const QString &key : {u"id"_s, u"host"_s, u"pid"_s, u"last_seen"_s, u"completed"_s})
            QVERIFY2(worker.toObject().contains(key), qPrintable(key));
        // The run has ended: its last heartbeat said it stopped.
        QVERIFY2(!worker.toObject().value(u"stopped_at"_s).toString().isEmpty(),
                 qPrintable(QString::fromUtf8(status.out)));
        completedByWorkers += worker.toObject().value(u"completed"_s).toInteger();
    }
    QCOMPARE(completedByWorkers, 5);
    const QJsonArray jobs = s.value(u"jobs"_s).toArray();
    QCOMPARE(jobs.size(), 1);
    QCOMPARE(jobs.at(0).toObject().value(u"state"_s).toString(), u"paused"_s);
    const QJsonArray alerts = s.value(u"alerts"_s).toArray();
    QCOMPARE(alerts.size(), 1);
    const QJsonObject alert = alerts.at(0).toObject();
    QCOMPARE(alert.value(u"kind"_s).toString(), u"quota_exhausted"_s);
    QVERIFY(alert.value(u"message"_s).toString().contains(u"quota"_s));
    QVERIFY(alert.value(u"raised_at"_s).isString());
    const QDateTime raised =
        QDateTime::fromString(alert.value(u"raised_at"_s).toString(), Qt::ISODateWithMs);
    QVERIFY2(raised.isValid(), qPrintable(alert.value(u"raised_at"_s).toString()));
    QVERIFY(qAbs(raised.secsTo(QDateTime::currentDateTimeUtc())) < 600);
    QVERIFY(alert.contains(u"cleared_at"_s));
    QVERIFY(alert.value(u"cleared_at"_s).isNull());
    QVERIFY2(alert.value(u"figures"_s).toObject().contains(u"value"_s),
             qPrintable(QString::fromUtf8(QJsonDocument(alert).toJson())));
}

// A cap across every job of the database: the run stops short of it with exit 3 and the
// alerts say so with their figures; `budget --set` raises it and `resume` finishes.
void TestBatchctl::globalBudgetPausesWithExitThreeAndRaisingResumes()
{
    const QString csv = numberedCsv(u"global.csv"_s, 400, u"global budget row %1"_s);
    const QString db = m_dir.filePath(u"global.sqlite"_s);
    const Result r =
        batchctl({u"run"_s, csv, u"--template"_s, u"{{text}}"_s, u"--db"_s, db, u"--json"_s,
                  u"--concurrency"_s, u"32"_s, u"--global-budget"_s, u"0.002"_s});
    QVERIFY2(r.exitCode == 3, qPrintable(r.describe()));
    const QJsonObject run = r.json();
    QCOMPARE(run.value(u"state"_s).toString(), u"paused"_s);
    QCOMPARE(run.value(u"reason"_s).toString(), u"global budget reached"_s);
    QVERIFY(run.value(u"completed"_s).toInteger() > 0);
    QVERIFY(run.value(u"pending"_s).toInteger() > 0);
    QVERIFY2(run.value(u"cost_usd"_s).toDouble() <= 0.002, qPrintable(r.describe()));

    const Result status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonObject budget = status.json().value(u"global_budget"_s).toObject();
    QCOMPARE(budget.value(u"cap_usd"_s).toDouble(), 0.002);
    QCOMPARE(budget.value(u"period"_s).toString(), u"month"_s);
    QVERIFY(budget.value(u"spent_usd"_s).toDouble() <= 0.002);
    QMap<QString, QJsonObject> alerts;
    for (const QJsonValue &alert : status.json().value(u"alerts"_s).toArray())
        alerts.insert(alert.toObject().value(u"kind"_s).toString(), alert.toObject());
    QVERIFY2(alerts.contains(u"global_budget_80"_s) &&
                 alerts.contains(u"global_budget_exhausted"_s),
             qPrintable(status.describe()));
    const QJsonObject figures =
        alerts.value(u"global_budget_exhausted"_s).value(u"figures"_s).toObject();
    QCOMPARE(figures.value(u"threshold"_s).toDouble(), 0.002);
    QVERIFY(figures.value(u"value"_s).toDouble() <= 0.002);
    QCOMPARE(figures.value(u"period"_s).toString(), u"month"_s);
    const Result human = batchctl({u"status"_s, u"--db"_s, db});
    QVERIFY2(human.out.contains("global budget: $0.0020 per month"), qPrintable(human.describe()));
    QVERIFY2(human.out.contains("    spent $0.00"), qPrintable(human.describe()));

    // Bad input is a usage error; a raised cap is stored and honoured by resume.
    QCOMPARE(batchctl({u"budget"_s, u"--db"_s, db, u"--set"_s, u"-1"_s}).exitCode, 2);
    QCOMPARE(batchctl({u"budget"_s, u"--db"_s, db, u"--set"_s, u"5"_s, u"--period"_s, u"week"_s})
                 .exitCode,
             2);
    const Result raised = batchctl(
        {u"budget"_s, u"--db"_s, db, u"--set"_s, u"5"_s, u"--period"_s, u"day"_s, u"--json"_s});
    QVERIFY2(raised.exitCode == 0, qPrintable(raised.describe()));
    QCOMPARE(raised.json().value(u"cap_usd"_s).toDouble(), 5.0);
    QCOMPARE(raised.json().value(u"period"_s).toString(), u"day"_s);
    const Result resumed = batchctl({u"resume"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.describe()));
    const Result after = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    const QJsonObject job = after.json().value(u"jobs"_s).toArray().at(0).toObject();
    QCOMPARE(job.value(u"completed"_s).toInteger(), 400);
    for (const QJsonValue &alert : after.json().value(u"alerts"_s).toArray()) {
        // The budget alerts ended when the cap went up.
        QVERIFY2(!alert.toObject().value(u"cleared_at"_s).isNull(),
                 qPrintable(QString::fromUtf8(QJsonDocument(alert.toObject()).toJson())));
    }
}

void TestBatchctl::crashThenResumeCompletesEveryRowOnce()
{
    constexpr int kRows = 20'000;
    QList<QStringList> rows;
    rows.reserve(kRows);
    for (int i = 1; i <= kRows; ++i)
        rows.append({u"C%1"_s.arg(i, 5, 10, QLatin1Char('0')), u"crash test row %1"_s.arg(i)});
    const QStringList header = {u"id"_s, u"text"_s};
    const QString csv = writeCsv(u"crash.csv"_s, header, rows);
    const QString db = m_dir.filePath(u"crash.sqlite"_s);
    const QString templateText = u"Echo {{id}}: {{text}}"_s;

    QProcess run;
    run.setProcessEnvironment(m_env);
    run.setWorkingDirectory(m_dir.path());
    run.start(QStringLiteral(BATCHCTL_PATH),
              {u"run"_s, csv, u"--template"_s, templateText, u"--db"_s, db, u"--json"_s,
               u"--sim-latency-ms"_s, u"20"_s, u"--concurrency"_s, u"32"_s});
    QVERIFY(run.waitForStarted(10'000));

    // Watch the database from outside until some answers are stored, then pull the plug.
    qint64 completedAtKill = 0;
    {
        QElapsedTimer waited;
        waited.start();
        std::unique_ptr<QSqlDatabase> watch;
        const QString connection = u"crash-watch"_s;
        while (waited.elapsed() < 30'000 && run.state() == QProcess::Running) {
            if (!watch && QFileInfo::exists(db)) {
                watch = std::make_unique<QSqlDatabase>(
                    QSqlDatabase::addDatabase(u"QSQLITE"_s, connection));
                watch->setDatabaseName(db);
                watch->setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=1000"_s);
                if (!watch->open())
                    watch.reset();
            }
            if (watch) {
                QSqlQuery query(*watch);
                if (query.exec(u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s) && query.next())
                    completedAtKill = query.value(0).toLongLong();
                if (completedAtKill >= 1'000)
                    break;
            }
            QTest::qWait(20);
        }
        if (watch) {
            watch->close();
            watch.reset();
        }
        QSqlDatabase::removeDatabase(connection);
    }
    QVERIFY2(run.state() == QProcess::Running,
             qPrintable(u"batchctl ended before the kill: "_s +
                        QString::fromUtf8(run.readAllStandardError())));
    QVERIFY2(completedAtKill >= 1'000, qPrintable(QString::number(completedAtKill)));
    run.kill(); // SIGKILL: no handler, no shutdown, no lease handed back
    QVERIFY(run.waitForFinished(10'000));
    QCOMPARE(run.exitStatus(), QProcess::CrashExit);

    // The crash left the job running with leases held by a process that is gone.
    Result status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    QJsonObject job = status.json().value(u"jobs"_s).toArray().at(0).toObject();
    QCOMPARE(job.value(u"state"_s).toString(), u"running"_s);
    const qint64 completedAfterKill = job.value(u"completed"_s).toInteger();
    QVERIFY(completedAfterKill >= completedAtKill);
    QVERIFY2(completedAfterKill < kRows, "the run finished before it could be killed");
    {
        QSqlDatabase side = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"crash-side"_s);
        side.setDatabaseName(db);
        QVERIFY(side.open());
        QSqlQuery query(side);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM tasks WHERE state = 1"_s) && query.next());
        QVERIFY2(query.value(0).toLongLong() > 0, "no leases were left behind by the kill");
        query.finish();
        side.close();
    }
    QSqlDatabase::removeDatabase(u"crash-side"_s);

    QElapsedTimer resumeTimer;
    resumeTimer.start();
    const Result resumed = batchctl({u"resume"_s, u"--db"_s, db, u"--json"_s}, 45'000);
    QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.describe()));
    const QJsonObject summary = resumed.json();
    QCOMPARE(summary.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(summary.value(u"tasks"_s).toInteger(), kRows);
    QCOMPARE(summary.value(u"completed"_s).toInteger(), kRows);
    QCOMPARE(summary.value(u"dead"_s).toInteger(), 0);
    QCOMPARE(summary.value(u"pending"_s).toInteger(), 0);
    qInfo("killed at %lld completed; resume took %.1f s", completedAfterKill,
          double(resumeTimer.elapsed()) / 1000.0);

    // Every row completed exactly once, with its own answer, charged once.
    const QString out = m_dir.filePath(u"crash-out.csv"_s);
    const Result exported =
        batchctl({u"export"_s, QString::number(summary.value(u"job"_s).toInteger()), u"--out"_s,
                  out, u"--db"_s, db});
    QVERIFY2(exported.exitCode == 0, qPrintable(exported.describe()));
    const Table table = readCsv(out);
    QVERIFY2(table.error.isEmpty(), qPrintable(table.error));
    QCOMPARE(table.header, header + kResultColumns);
    QCOMPARE(table.rows.size(), kRows);
    bd::ingest::PromptTemplate prompt(templateText);
    QString error;
    QVERIFY(prompt.bind(header, &error));
    QSet<qint64> taskIds;
    for (int i = 0; i < kRows; ++i) {
        const QStringList &row = table.rows.at(i);
        if (row.at(0) != rows.at(i).at(0) || row.at(2) != u"completed"_s || row.at(10) != u"1"_s ||
            row.at(3) != SimulatorProvider::answerFor(QString(), prompt.render(rows.at(i))))
            QFAIL(qPrintable(u"row %1: %2"_s.arg(i + 1).arg(row.join(u" | "_s))));
        taskIds.insert(row.at(11).toLongLong());
    }
    QCOMPARE(taskIds.size(), kRows);

    {
        QSqlDatabase side = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"crash-final"_s);
        side.setDatabaseName(db);
        QVERIFY(side.open());
        QSqlQuery query(side);
        QVERIFY(query.exec(u"SELECT COUNT(*), MIN(attempts), MAX(attempts), COUNT(DISTINCT row_no) "
                           "FROM tasks WHERE state = 2"_s) &&
                query.next());
        QCOMPARE(query.value(0).toLongLong(), kRows);
        QCOMPARE(query.value(1).toInt(), 1);
        QCOMPARE(query.value(2).toInt(), 1);
        QCOMPARE(query.value(3).toLongLong(), kRows);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM tasks WHERE lease_owner IS NOT NULL"_s) &&
                query.next());
        QCOMPARE(query.value(0).toLongLong(), 0);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM attempts"_s) && query.next());
        QCOMPARE(query.value(0).toLongLong(), 0); // no failures recorded, nothing charged twice
        query.finish();
        side.close();
    }
    QSqlDatabase::removeDatabase(u"crash-final"_s);

    status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    job = status.json().value(u"jobs"_s).toArray().at(0).toObject();
    QCOMPARE(job.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(status.json().value(u"jobs"_s).toArray().size(), 1);
}

void TestBatchctl::statusShowsTheAdaptiveConcurrencyOfARunningJob()
{
    // A job runs in one batchctl (--concurrency 6, the simulator answering in 50 ms: about
    // 30 s of work); `status --json` in another process shows the concurrency its limiter
    // has adapted to, as the running engine recorded it, within the --concurrency bound.
    constexpr int kRows = 3'600;
    constexpr int kBound = 6;
    QList<QStringList> rows;
    for (int i = 1; i <= kRows; ++i)
        rows.append({QString::number(i), u"adaptive row %1"_s.arg(i)});
    const QString csv = writeCsv(u"adaptive.csv"_s, {u"id"_s, u"text"_s}, rows);
    const QString db = m_dir.filePath(u"adaptive.sqlite"_s);
    QProcess run;
    run.setProcessEnvironment(m_env);
    run.setWorkingDirectory(m_dir.path());
    run.start(QStringLiteral(BATCHCTL_PATH),
              {u"run"_s, csv, u"--template"_s, u"Echo {{text}}"_s, u"--db"_s, db, u"--json"_s,
               u"--sim-latency-ms"_s, u"50"_s, u"--concurrency"_s, QString::number(kBound)});
    QVERIFY(run.waitForStarted(10'000));
    // The engine records it once a metrics interval (10 s, aligned to the clock).
    QJsonObject job;
    QElapsedTimer waited;
    waited.start();
    while (waited.elapsed() < 40'000 && run.state() == QProcess::Running) {
        if (QFileInfo::exists(db)) {
            const Result status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
            QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
            job = status.json().value(u"jobs"_s).toArray().at(0).toObject();
            if (job.contains(u"concurrency_limit"_s))
                break;
        }
        QTest::qWait(500);
    }
    const bool running = run.state() == QProcess::Running;
    run.kill();
    QVERIFY(run.waitForFinished(10'000));
    QVERIFY2(running, "the run ended before status showed its concurrency");
    QCOMPARE(job.value(u"state"_s).toString(), u"running"_s);
    QVERIFY2(job.contains(u"concurrency_limit"_s),
             QJsonDocument(job).toJson(QJsonDocument::Compact).constData());
    const int limit = job.value(u"concurrency_limit"_s).toInt();
    QVERIFY2(limit >= 1 && limit <= kBound, qPrintable(QString::number(limit)));
}

void TestBatchctl::offPeakRunWaitsThenRunsNow()
{
    // A window that opens in two hours: the run says what it waits for and sends nothing;
    // a second run with --run-now sends at once and the override is kept with the job.
    const QString csv = numberedCsv(u"offpeak.csv"_s, 20, u"night %1"_s);
    const QString db = m_dir.filePath(u"offpeak.sqlite"_s);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const QString window = u"%1-%2@UTC"_s.arg(now.addSecs(2 * 3600).toString(u"HH:mm"_s),
                                              now.addSecs(3 * 3600).toString(u"HH:mm"_s));
    const QStringList arguments = {u"run"_s,       csv,    u"--template"_s, u"{{text}}"_s,
                                   u"--db"_s,      db,     u"--priority"_s, u"3"_s,
                                   u"--offpeak"_s, window, u"--json"_s};

    QProcess waiting;
    waiting.setProcessEnvironment(m_env);
    waiting.setWorkingDirectory(m_dir.path());
    waiting.start(QStringLiteral(BATCHCTL_PATH), arguments);
    QVERIFY(waiting.waitForStarted(10'000));
    QByteArray err;
    QVERIFY(QTest::qWaitFor(
        [&] {
            waiting.waitForReadyRead(100);
            err += waiting.readAllStandardError();
            return err.contains("waiting for off-peak window");
        },
        20'000));
    QVERIFY2(err.contains("(opens in 1 h 5") || err.contains("(opens in 2 h)"), err.constData());
    QVERIFY2(err.contains("--run-now"), err.constData());
    QTest::qWait(300);
    waiting.terminate(); // like Ctrl-C: the job pauses, resumable
    QVERIFY(waiting.waitForFinished(20'000));
    QCOMPARE(waiting.exitCode(), 3);
    const QJsonObject paused = QJsonDocument::fromJson(waiting.readAllStandardOutput()).object();
    QCOMPARE(paused.value(u"completed"_s).toInteger(), 0);
    QCOMPARE(paused.value(u"pending"_s).toInteger(), 20);

    const Result now2 = batchctl(arguments + QStringList{u"--run-now"_s});
    QVERIFY2(now2.exitCode == 0, qPrintable(now2.describe()));
    QCOMPARE(now2.json().value(u"completed"_s).toInteger(), 20);
    bd::store::SqliteStore store(db);
    QCOMPARE(store.job(now2.json().value(u"job"_s).toInteger())
                 ->spec.settings.value(u"offpeak_run_now"_s)
                 .toBool(),
             true);

    const Result badWindow =
        batchctl({u"run"_s, csv, u"--template"_s, u"{{text}}"_s, u"--db"_s, db, u"--priority"_s,
                  u"3"_s, u"--offpeak"_s, u"22:00-06:00@Nowhere/City"_s});
    QCOMPARE(badWindow.exitCode, 2);
    QVERIFY2(badWindow.err.contains("Nowhere/City"), badWindow.err.constData());
    const Result notBulk = batchctl({u"run"_s, csv, u"--template"_s, u"{{text}}"_s, u"--db"_s, db,
                                     u"--offpeak"_s, u"22:00-06:00"_s});
    QCOMPARE(notBulk.exitCode, 2);
    QVERIFY2(notBulk.err.contains("--priority 3"), notBulk.err.constData());
}
void TestBatchctl::dlqReplayWithEditedTemplate()
{
    QList<QStringList> rows;
    for (int i = 1; i <= 6; ++i)
        rows.append({u"%1"_s.arg(i),
                     i % 3 == 0 ? u"bad %1 [[sim:invalid]]"_s.arg(i) : u"good %1"_s.arg(i)});
    const QString csv = writeCsv(u"dlqedit.csv"_s, {u"id"_s, u"text"_s}, rows);
    const QString db = m_dir.filePath(u"dlqedit.sqlite"_s);
    const Result run =
        batchctl({u"run"_s, csv, u"--template"_s, u"Echo {{text}}"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(run.exitCode == 4, qPrintable(run.describe()));
    const QString job = QString::number(run.json().value(u"job"_s).toInteger());

    const Result badPlaceholder = batchctl({u"dlq"_s, u"replay"_s, u"--job"_s, job, u"--db"_s, db,
                                            u"--template"_s, u"Echo {{nope}}"_s});
    QCOMPARE(badPlaceholder.exitCode, 2);
    QVERIFY2(badPlaceholder.err.contains("unknown placeholder {{nope}}"),
             badPlaceholder.err.constData());
    const Result badClass = batchctl(
        {u"dlq"_s, u"replay"_s, u"--job"_s, job, u"--db"_s, db, u"--class"_s, u"gremlins"_s});
    QCOMPARE(badClass.exitCode, 2);
    QVERIFY2(badClass.err.contains("gremlins"), badClass.err.constData());

    const Result replay =
        batchctl({u"dlq"_s, u"replay"_s, u"--job"_s, job, u"--db"_s, db, u"--class"_s,
                  u"invalid_request"_s, u"--template"_s, u"Echo row {{id}}"_s, u"--json"_s});
    QVERIFY2(replay.exitCode == 0, qPrintable(replay.describe()));
    QVERIFY2(replay.err.contains("replaying 2 dead-lettered task(s) with template revision 1"),
             replay.err.constData());
    QCOMPARE(replay.json().value(u"completed"_s).toInteger(), 6);
    QCOMPARE(replay.json().value(u"dead"_s).toInteger(), 0);
    bd::store::SqliteStore store(db);
    int row = 0;
    store.forEachExportRow(job.toLongLong(), [&](const bd::ingest::ExportRow &r) {
        ++row;
        const QString prompt =
            row % 3 == 0 ? u"Echo row %1"_s.arg(row) : u"Echo good %1"_s.arg(row);
        [&] {
            QCOMPARE(r.output, bd::providers::SimulatorProvider::answerFor(QString(), prompt));
        }();
        return true;
    });
    QCOMPARE(row, 6);
}

void TestBatchctl::strictNumbersAndFilesAreUsageErrors()
{
    // Every numeric option is a finite number in range (whole where it must be): "nan" or
    // "inf" never mean "no cap". Bad files and export folders are found before anything runs.
    const QString csv = writeCsv(u"strict.csv"_s, {u"id"_s, u"text"_s}, {{u"1"_s, u"alpha"_s}});
    const QString db = m_dir.filePath(u"strict.sqlite"_s);
    const QStringList run = {u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--db"_s, db};
    const QList<QStringList> badNumbers = {
        {u"--budget"_s, u"nan"_s},
        {u"--budget"_s, u"inf"_s},
        {u"--budget"_s, u"-inf"_s},
        {u"--budget"_s, u"0"_s},
        {u"--budget"_s, u"1e400"_s},
        {u"--budget"_s, u"5usd"_s},
        {u"--concurrency"_s, u"2.5"_s},
        {u"--concurrency"_s, u"0"_s},
        {u"--concurrency"_s, u"1e10"_s},
        {u"--rpm"_s, u"abc"_s},
        {u"--tpm"_s, u"nan"_s},
        {u"--priority"_s, u"2.5"_s},
        {u"--max-retries"_s, u"1.5"_s},
        {u"--max-output-tokens"_s, u"inf"_s},
        {u"--sim-failure-rate"_s, u"1.5"_s},
        {u"--sim-latency-ms"_s, u"-5"_s},
        {u"--metrics-port"_s, u"70000"_s},
        {u"--global-budget"_s, u"nan"_s},
        {u"--batch-max-wait-ms"_s, u"-1"_s},
        {u"--sim-rpm"_s, u"0x10"_s},
    };
    for (const QStringList &option : badNumbers) {
        const Result r = batchctl(run + option);
        QVERIFY2(r.exitCode == 2, qPrintable(option.join(u' ') + u"\n"_s + r.describe()));
        QVERIFY2(r.err.contains(option.at(0).toUtf8()),
                 qPrintable(option.join(u' ') + u"\n"_s + r.describe()));
    }
    QVERIFY(!QFileInfo::exists(db));

    // Template and system files: regular files of at most 1 MiB, named in the error.
    const QString fifo = m_dir.filePath(u"template.fifo"_s);
    QCOMPARE(::mkfifo(QFile::encodeName(fifo).constData(), 0600), 0);
    const QString large = m_dir.filePath(u"large-template.txt"_s);
    {
        QFile file(large);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QByteArray(1024 * 1024 + 1, 'x'));
    }
    const QList<QStringList> badFiles = {
        {u"--template-file"_s, u"/dev/zero"_s},
        {u"--template-file"_s, fifo},
        {u"--template-file"_s, m_dir.path()},
        {u"--template-file"_s, large},
        {u"--template-file"_s, m_dir.filePath(u"no-such-template.txt"_s)},
    };
    const QStringList runFromFile = {u"run"_s, csv, u"--db"_s, db};
    for (const QStringList &option : badFiles) {
        const Result r = batchctl(runFromFile + option);
        QVERIFY2(r.exitCode == 2, qPrintable(option.join(u' ') + u"\n"_s + r.describe()));
        QVERIFY2(r.err.contains(option.at(1).toUtf8()), qPrintable(r.describe()));
    }
    Result r = batchctl(run + QStringList{u"--system-file"_s, u"/dev/zero"_s});
    QVERIFY2(r.exitCode == 2 && r.err.contains("/dev/zero"), qPrintable(r.describe()));
    r = batchctl({u"estimate"_s, csv, u"--template-file"_s, fifo});
    QVERIFY2(r.exitCode == 2 && r.err.contains(fifo.toUtf8()), qPrintable(r.describe()));

    // An export into a folder that does not exist is refused before the run.
    const QString missingFolder = m_dir.filePath(u"no-such-folder/out.csv"_s);
    r = batchctl(run + QStringList{u"--export"_s, missingFolder});
    QVERIFY2(r.exitCode == 2 && r.err.contains("--export"), qPrintable(r.describe()));
    QVERIFY(!QFileInfo::exists(db));

    // The global budget: nan and inf are no amounts; nothing is created or stored.
    for (const QString &amount : {u"nan"_s, u"inf"_s, u"-1e-9"_s}) {
        r = batchctl({u"budget"_s, u"--db"_s, db, u"--set"_s, amount});
        QVERIFY2(r.exitCode == 2 && r.err.contains("--set"), qPrintable(r.describe()));
    }
    QVERIFY(!QFileInfo::exists(db));

    // On a database that exists: an unknown job is a usage error for replay and export.
    QVERIFY(QFileInfo::exists(m_sampleDb));
    r = batchctl({u"dlq"_s, u"replay"_s, u"--job"_s, u"999"_s, u"--db"_s, m_sampleDb});
    QVERIFY2(r.exitCode == 2 && r.err.contains("999"), qPrintable(r.describe()));
    r = batchctl({u"dlq"_s, u"replay"_s, u"--job"_s, u"1.5"_s, u"--db"_s, m_sampleDb});
    QCOMPARE(r.exitCode, 2);
    r = batchctl({u"export"_s, QString::number(m_sampleJob), u"--out"_s, missingFolder, u"--db"_s,
                  m_sampleDb});
    QVERIFY2(r.exitCode == 2 && r.err.contains("--out"), qPrintable(r.describe()));
    QVERIFY(!QFileInfo::exists(missingFolder));
}

void TestBatchctl::encodingOptionChoosesTheDecoding()
{
    // Line 2 is valid UTF-8, line 3 holds a Windows-1252 byte (0xE9, "é").
    const QString csv = m_dir.filePath(u"mixed-encoding.csv"_s);
    {
        QFile file(csv);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("id,text\r\n1,na\xC3\xAFve\r\n2,caf\xE9\r\n");
    }
    const auto run = [&](const QString &name, const QStringList &extra) {
        const QString db = m_dir.filePath(name + u".sqlite"_s);
        const QString out = m_dir.filePath(name + u".jsonl"_s);
        const Result r = batchctl(QStringList{u"run"_s, csv, u"--template"_s, u"{{text}}"_s,
                                              u"--db"_s, db, u"--export"_s, out} +
                                  extra);
        QStringList texts;
        QFile file(out);
        if (file.open(QIODevice::ReadOnly)) {
            while (!file.atEnd())
                texts.append(
                    QJsonDocument::fromJson(file.readLine()).object().value(u"text"_s).toString());
        }
        return std::pair{r, texts};
    };

    // Guessed: the switch to Windows-1252 is said, with the first offending line.
    const auto [guessed, guessedTexts] = run(u"enc-guess"_s, {});
    QVERIFY2(guessed.exitCode == 0, qPrintable(guessed.describe()));
    QVERIFY2(guessed.err.contains("not valid UTF-8 at line 3 (byte 0xE9)") &&
                 guessed.err.contains("Windows-1252"),
             qPrintable(guessed.describe()));
    QCOMPARE(guessedTexts.value(1), u"caf\u00e9"_s);

    // Told Windows-1252: decoded so, and nothing to warn about.
    const auto [told, toldTexts] = run(u"enc-1252"_s, {u"--encoding"_s, u"Windows-1252"_s});
    QVERIFY2(told.exitCode == 0, qPrintable(told.describe()));
    QVERIFY2(!told.err.contains("not valid UTF-8"), qPrintable(told.describe()));
    QCOMPARE(toldTexts.value(1), u"caf\u00e9"_s);

    // Told UTF-8: the bad byte is an error naming the file and line; no job is left behind.
    const QString strictDb = m_dir.filePath(u"enc-utf8.sqlite"_s);
    const auto [strict, strictTexts] = run(u"enc-utf8"_s, {u"--encoding"_s, u"UTF-8"_s});
    QVERIFY2(strict.exitCode == 2, qPrintable(strict.describe()));
    QVERIFY2(strict.err.contains((csv + u":3: invalid UTF-8"_s).toUtf8()),
             qPrintable(strict.describe()));
    QVERIFY(strictTexts.isEmpty());
    if (QFileInfo::exists(strictDb)) {
        const Result status = batchctl({u"status"_s, u"--db"_s, strictDb, u"--json"_s});
        QVERIFY2(status.json().value(u"jobs"_s).toArray().isEmpty(), qPrintable(status.describe()));
    }

    // An encoding it does not know is a usage error that lists the ones it does.
    const auto [unknown, unknownTexts] = run(u"enc-unknown"_s, {u"--encoding"_s, u"latin9"_s});
    QCOMPARE(unknown.exitCode, 2);
    QVERIFY2(unknown.err.contains("--encoding needs one of") && unknown.err.contains("'latin9'"),
             qPrintable(unknown.describe()));
}

void TestBatchctl::aJobBudgetHoldsAgainstABurstOfRequests()
{
    // 64 requests may be in flight at once, far more than the budget pays for: each is
    // reserved before it is sent, so the burst stops at the cap, the job pauses (exit 3)
    // with both budget alerts, and it is not "finished" over budget.
    const QString csv = numberedCsv(u"burst.csv"_s, 200, u"product number %1 is fine"_s);
    const QString db = m_dir.filePath(u"burst.sqlite"_s);
    const double budget = 0.002;
    const Result r = batchctl({u"run"_s, csv, u"--template"_s, u"Classify: {{text}}"_s, u"--db"_s,
                               db, u"--json"_s, u"--priority"_s, u"1"_s, u"--concurrency"_s,
                               u"64"_s, u"--budget"_s, QString::number(budget)});
    QVERIFY2(r.exitCode == 3, qPrintable(r.describe()));
    const QJsonObject run = r.json();
    QCOMPARE(run.value(u"state"_s).toString(), u"paused"_s);
    QVERIFY2(run.value(u"reason"_s).toString().contains(u"budget"_s), qPrintable(r.describe()));
    QVERIFY(run.value(u"completed"_s).toInteger() > 0);
    QVERIFY(run.value(u"pending"_s).toInteger() > 0);
    QVERIFY2(run.value(u"cost_usd"_s).toDouble() <= budget, qPrintable(r.describe()));

    const Result status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QSet<QString> kinds;
    for (const QJsonValue &alert : status.json().value(u"alerts"_s).toArray())
        kinds.insert(alert.toObject().value(u"kind"_s).toString());
    QVERIFY2(kinds.contains(u"budget_80"_s) && kinds.contains(u"budget_exhausted"_s),
             qPrintable(status.describe()));
    // A cap under a dollar is written with four decimals, not as "$0.00".
    QVERIFY2(r.err.contains("budget of $0.0020 reached"), qPrintable(r.describe()));
}

QTEST_GUILESS_MAIN(TestBatchctl)
#include "test_batchctl.moc"
