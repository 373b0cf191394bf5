// A crash between the provider creating a batch and the engine storing its id: on resume
// the engine lists the provider's batches (OpenAI GET /v1/batches, paged with `after`) and
// adopts the one whose metadata names that row and those lines, instead of sending the
// lines again. batchctl and the engine against the loopback fake provider.

#include "batchctlrun.h"
#include "fakeprovider.h"

#include <memory>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>
#include <QUrlQuery>

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

const QString kKey = u"sk-adoption-TEST-0123456789abcdef"_s;
const QString kSystem = u"Label the review in one word."_s;
constexpr int kRows = 250;
constexpr int kBatchSize = 100;
constexpr int kBatches = 3; // 100 + 100 + 50

} // namespace

class TestBatchAdoption final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void idLostInTheCrashIsFoundAndAdopted();
    void batchOutsideTheWindowIsSubmittedAgain();

private:
    QString writeCsv();
    QProcessEnvironment environment() const;
    QStringList runArguments(const QString &csv) const;
    // Runs until every batch id is stored, then SIGKILL.
    void runAndCrash();
    template <typename F> void withDatabase(F body);
    QStringList storedBatchIds();
    int listRequests(bool withAfter) const;
    void expectEveryRowAnsweredOnce(int linesPerTask);

    std::unique_ptr<FakeProvider> m_server;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_db;
    QStringList m_texts;
    int m_connections = 0;
};

void TestBatchAdoption::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_server->options().requiredKey = kKey;
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_db = m_dir->filePath(u"jobs.sqlite"_s);
    m_texts.clear();
}

void TestBatchAdoption::cleanup()
{
    m_server.reset();
    m_dir.reset();
}

QString TestBatchAdoption::writeCsv()
{
    const QString path = m_dir->filePath(u"rows.csv"_s);
    QFile csv(path);
    if (!csv.open(QIODevice::WriteOnly))
        return {};
    csv.write("id,text\r\n");
    for (int row = 1; row <= kRows; ++row) {
        const QString text =
            u"review %1: the parcel came %2"_s.arg(row).arg(row % 2 ? u"late"_s : u"early"_s);
        m_texts.append(text);
        csv.write(QByteArray::number(row) + ",\"" + text.toUtf8() + "\"\r\n");
    }
    return path;
}

QProcessEnvironment TestBatchAdoption::environment() const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, m_dir->filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir->filePath(u"data"_s));
    env.insert(u"HOME"_s, m_dir->path());
    env.remove(u"OPENAI_BASE_URL"_s);
    env.insert(u"OPENAI_API_KEY"_s, kKey);
    return env;
}

QStringList TestBatchAdoption::runArguments(const QString &csv) const
{
    return {u"run"_s,
            csv,
            u"--template"_s,
            u"Classify: {{text}}"_s,
            u"--system"_s,
            kSystem,
            u"--provider"_s,
            u"openai"_s,
            u"--model"_s,
            u"gpt-4.1-mini"_s,
            u"--mode"_s,
            u"batch-api"_s,
            u"--base-url"_s,
            m_server->openAiBaseUrl(),
            u"--db"_s,
            m_db,
            u"--batch-size"_s,
            QString::number(kBatchSize),
            u"--batch-poll-ms"_s,
            u"100"_s,
            u"--json"_s};
}

template <typename F> void TestBatchAdoption::withDatabase(F body)
{
    const QString name = u"adoption-%1"_s.arg(++m_connections);
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        database.setDatabaseName(m_db);
        database.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=2000"_s);
        if (database.open())
            body(database);
        else
            qWarning("cannot open %s", qPrintable(m_db));
        database.close();
    }
    QSqlDatabase::removeDatabase(name);
}

QStringList TestBatchAdoption::storedBatchIds()
{
    QStringList ids;
    if (!QFileInfo::exists(m_db))
        return ids;
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        if (query.exec(u"SELECT provider_batch_id FROM provider_batches WHERE provider_batch_id "
                       "IS NOT NULL ORDER BY id"_s)) {
            while (query.next())
                ids.append(query.value(0).toString());
        }
    });
    return ids;
}

void TestBatchAdoption::runAndCrash()
{
    // The provider keeps the batches in progress until the crash has happened.
    m_server->options().holdBatches = true;
    QProcess process;
    process.setProcessEnvironment(environment());
    process.setWorkingDirectory(m_dir->path());
    process.start(QStringLiteral(BATCHCTL_PATH), runArguments(writeCsv()));
    QVERIFY(process.waitForStarted(10'000));
    QElapsedTimer waited;
    waited.start();
    while (waited.elapsed() < 30'000 && process.state() == QProcess::Running &&
           storedBatchIds().size() < kBatches)
        QTest::qWait(25);
    QVERIFY2(process.state() == QProcess::Running,
             qPrintable(u"batchctl ended early: "_s +
                        QString::fromUtf8(process.readAllStandardError())));
    QCOMPARE(storedBatchIds().size(), kBatches);
    process.kill(); // SIGKILL: nothing handed back
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(m_server->batchesCreated(), kBatches);
    m_server->options().holdBatches = false;
}

int TestBatchAdoption::listRequests(bool withAfter) const
{
    int count = 0;
    for (const FakeProvider::ReceivedRequest &request : m_server->received()) {
        if (request.method == "GET" && request.path == "/v1/batches" &&
            (!withAfter || QUrlQuery(QString::fromUtf8(request.query)).hasQueryItem(u"after"_s)))
            ++count;
    }
    return count;
}

void TestBatchAdoption::expectEveryRowAnsweredOnce(int linesPerTask)
{
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT id, row_no, state, output FROM tasks ORDER BY row_no"_s));
        int rows = 0;
        while (query.next()) {
            ++rows;
            const qint64 taskId = query.value(0).toLongLong();
            const int rowNo = query.value(1).toInt();
            const QString prompt = u"Classify: "_s + m_texts.at(rowNo - 1);
            const QString where = u"row %1 task %2"_s.arg(rowNo).arg(taskId);
            QVERIFY2(query.value(2).toInt() == 2, qPrintable(where)); // completed
            QVERIFY2(query.value(3).toString() == FakeProvider::answerFor(kSystem, prompt),
                     qPrintable(where));
            QVERIFY2(m_server->batchLinesFor(QString::number(taskId)) == linesPerTask,
                     qPrintable(where));
        }
        QCOMPARE(rows, kRows);
    });
}

void TestBatchAdoption::idLostInTheCrashIsFoundAndAdopted()
{
    runAndCrash();
    const QStringList created = storedBatchIds();
    // The crash window: the first two rows never got their ids stored (one still
    // "assembling", one "submitted" without an id); the third keeps its id.
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"UPDATE provider_batches SET provider_batch_id = NULL, state = "
                           "'assembling' WHERE id = (SELECT MIN(id) FROM provider_batches)"_s));
        QVERIFY(query.exec(u"UPDATE provider_batches SET provider_batch_id = NULL WHERE id = "
                           "(SELECT MIN(id) + 1 FROM provider_batches)"_s));
    });
    QCOMPARE(storedBatchIds().size(), 1);
    qint64 firstRow = 0;
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT MIN(id) FROM provider_batches"_s) && query.next());
        firstRow = query.value(0).toLongLong();
    });
    // Newer batches in front: another client's with the same reference but other lines
    // (never adopted), and 150 more, so the real ones are only found on later pages.
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    const QString impostor = m_server->addForeignOpenAiBatch(
        QJsonObject{{u"batchdesk_reference"_s, QString::number(firstRow)},
                    {u"batchdesk_lines"_s, QString(64, u'0')}},
        now + 5);
    for (int i = 0; i < 150; ++i)
        m_server->addForeignOpenAiBatch(QJsonObject{{u"batchdesk_reference"_s, u"elsewhere"_s}},
                                        now + 5);
    m_server->resetCounters();
    const int createdBefore = m_server->batchesCreated();

    const BatchctlRun resumed =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), {u"resume"_s, u"--db"_s, m_db, u"--json"_s},
                    environment(), m_dir->path(), 60'000);
    QVERIFY2(resumed.status == QProcess::NormalExit && resumed.exitCode == 0,
             qPrintable(resumed.describe()));
    QCOMPARE(resumed.json().value(u"completed"_s).toInt(), kRows);
    QCOMPARE(resumed.json().value(u"dead"_s).toInt(), 0);

    // Nothing sent again: no upload, no create; the batch list was read, page after page.
    QCOMPARE(m_server->batchesCreated(), createdBefore);
    QCOMPARE(m_server->requestCount("/v1/files"), 0);
    QVERIFY(listRequests(false) >= 2);
    QVERIFY(listRequests(true) >= 2);
    expectEveryRowAnsweredOnce(1);
    // Each row has its own provider id back, the impostor is nobody's.
    QCOMPARE(storedBatchIds(), created);
    QVERIFY(!storedBatchIds().contains(impostor));
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM provider_batches WHERE state = 'ended'"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), kBatches);
    });
}

void TestBatchAdoption::batchOutsideTheWindowIsSubmittedAgain()
{
    runAndCrash();
    // The row says it was made a day after every batch the provider has: none of them can be
    // its batch, and the listing stops at the first batch older than the row.
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"UPDATE provider_batches SET provider_batch_id = NULL, state = "
                           "'assembling', created_at = created_at + 86400000 WHERE id = "
                           "(SELECT MIN(id) FROM provider_batches)"_s));
    });
    m_server->resetCounters();
    const int createdBefore = m_server->batchesCreated();
    const BatchctlRun resumed =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), {u"resume"_s, u"--db"_s, m_db, u"--json"_s},
                    environment(), m_dir->path(), 60'000);
    QVERIFY2(resumed.status == QProcess::NormalExit && resumed.exitCode == 0,
             qPrintable(resumed.describe()));
    QCOMPARE(resumed.json().value(u"completed"_s).toInt(), kRows);
    QCOMPARE(m_server->batchesCreated(), createdBefore + 1); // the first batch's lines, again
    QCOMPARE(listRequests(false), 1);
    QCOMPARE(listRequests(true), 0);
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT state FROM provider_batches ORDER BY id"_s));
        QStringList states;
        while (query.next())
            states.append(query.value(0).toString());
        QCOMPARE(states, (QStringList{u"failed"_s, u"ended"_s, u"ended"_s, u"ended"_s}));
    });
}

QTEST_GUILESS_MAIN(TestBatchAdoption)
#include "test_batchadoption.moc"
