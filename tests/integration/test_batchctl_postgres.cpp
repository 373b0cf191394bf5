// batchctl end to end on PostgreSQL: `run` of a small CSV on the simulator against a private
// server (tests/store/privatepostgres.h), then `status --json` in another process sees the
// job finished; `--db` with a password in the URL never prints it. Skipped without the
// PostgreSQL server binaries.

#include "../store/privatepostgres.h"
#include "../support/batchctlrun.h"

#include <QFile>
#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;

class TestBatchctlPostgres : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void runThenStatusOnPostgres();
    void unreachableServerIsReportedWithoutPassword();

private:
    BatchctlRun batchctl(const QStringList &arguments, int timeoutMs = 120'000)
    {
        return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, m_env, m_dir.path(),
                           timeoutMs);
    }

    QTemporaryDir m_dir;
    QProcessEnvironment m_env;
    std::unique_ptr<bd::storetest::PrivatePostgres> m_server;
};

void TestBatchctlPostgres::initTestCase()
{
    if (!bd::storetest::PrivatePostgres::available())
        QSKIP("PostgreSQL's server (initdb, pg_ctl) is not installed (Debian: postgresql)");
    QVERIFY(m_dir.isValid());
    m_server = std::make_unique<bd::storetest::PrivatePostgres>();
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    m_env = QProcessEnvironment::systemEnvironment();
    m_env.insert(u"XDG_CONFIG_HOME"_s, m_dir.filePath(u"config"_s));
    m_env.insert(u"XDG_DATA_HOME"_s, m_dir.filePath(u"data"_s));
    m_env.insert(u"HOME"_s, m_dir.path());
    for (const char *key : {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL",
                            "ANTHROPIC_BASE_URL", "PGPASSWORD"})
        m_env.remove(QString::fromLatin1(key));
}

void TestBatchctlPostgres::runThenStatusOnPostgres()
{
    const QString csv = m_dir.filePath(u"small.csv"_s);
    {
        QFile file(csv);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("id,text\n");
        for (int i = 1; i <= 25; ++i)
            file.write(QByteArray::number(i) + ",row " + QByteArray::number(i) + "\n");
    }
    // A database that does not exist yet: run creates it and its schema.
    const QString db = m_server->url(u"batchctl_e2e"_s);
    const BatchctlRun run = batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s,
                                      u"--provider"_s, u"simulator"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    const QJsonObject ran = run.json();
    QCOMPARE(ran.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(ran.value(u"completed"_s).toInteger(), 25);
    const qint64 job = ran.value(u"job"_s).toInteger();

    const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonArray jobs = status.json().value(u"jobs"_s).toArray();
    QCOMPARE(jobs.size(), 1);
    const QJsonObject first = jobs.first().toObject();
    QCOMPARE(first.value(u"job"_s).toInteger(), job);
    QCOMPARE(first.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(first.value(u"completed"_s).toInteger(), 25);
    QCOMPARE(first.value(u"pending"_s).toInteger(), 0);

    // The same input again continues the job instead of importing it twice.
    const BatchctlRun again =
        batchctl({u"run"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--provider"_s,
                  u"simulator"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
    QCOMPARE(again.json().value(u"job"_s).toInteger(), job);
}

void TestBatchctlPostgres::unreachableServerIsReportedWithoutPassword()
{
    // Nothing listens on port 1; the password in the URL must not show up anywhere.
    const BatchctlRun status = batchctl(
        {u"status"_s, u"--db"_s, u"postgresql://someone:s3cretpw@127.0.0.1:1/nodb"_s, u"--json"_s},
        60'000);
    QVERIFY2(status.exitCode != 0, qPrintable(status.describe()));
    QVERIFY2(!status.out.contains("s3cretpw") && !status.err.contains("s3cretpw"),
             qPrintable(status.describe()));
}

QTEST_GUILESS_MAIN(TestBatchctlPostgres)
#include "test_batchctl_postgres.moc"
