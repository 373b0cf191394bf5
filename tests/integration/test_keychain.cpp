// API keys in the OS keychain, against a real GNOME Keyring on a private session bus that
// this test starts (and stops) itself: the KeyStore round trip, batchctl's `key` commands,
// `batchctl run` taking its key from the keychain to the loopback fake provider, and the
// console's asynchronous key and base URL resolution.

#include "batchctlrun.h"
#include "fakeprovider.h"
#include "keystore.h"
#include "providerconfig.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::secrets::KeyStore;
using bd::testing::FakeProvider;

namespace {

const QString kKeychainKey = u"sk-from-the-keychain-7f3a9c21d4"_s;
const QString kEnvironmentKey = u"sk-from-the-environment-52be01"_s;

// A session bus that activates nothing: the only Secret Service on it is the keyring
// daemon started here, and none is started behind the test's back.
const char kBusConfig[] =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig>\n"
    "  <type>session</type>\n"
    "  <listen>unix:tmpdir=%1</listen>\n"
    "  <auth>EXTERNAL</auth>\n"
    "  <policy context=\"default\">\n"
    "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
    "    <allow eavesdrop=\"true\"/>\n"
    "    <allow own=\"*\"/>\n"
    "  </policy>\n"
    "</busconfig>\n";

} // namespace

class TestKeychain final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void keyStoreRoundTrip();
    void resolveKeyPrefersTheEnvironment();
    void runTakesTheKeyFromTheKeychain();
    void environmentWinsOverTheKeychain();
    void missingKeyIsAUsageErrorNamingBothPlaces();
    void keyIsNeverAnArgument();
    void noKeychainStillRunsWithTheEnvironment();
    void consoleResolvesKeysWithoutWaiting();
    void consoleBaseUrlOrder();

private:
    // Writes and waits; empty on success.
    QString writeKey(const QString &provider, const QString &key);
    QString deleteKey(const QString &provider);
    std::pair<QString, QString> readKey(const QString &provider); // key, error
    QProcessEnvironment batchctlEnvironment(const QString &home) const;
    BatchctlRun batchctl(const QStringList &arguments, const QProcessEnvironment &env,
                         const QByteArray &stdinData = {});
    QString writeCsv(const QString &dir, int rows);
    QStringList runArguments(const QString &csv, const QString &dir) const;
    void expectKeyNowhere(const QString &key, const QString &dir, const BatchctlRun &run);

    QTemporaryDir m_dir;
    QProcess m_bus;
    QProcess m_keyring;
    QString m_busAddress;
    FakeProvider m_server;
};

void TestKeychain::initTestCase()
{
    QVERIFY(m_dir.isValid());
    // The console's settings (QSettings) go to this test's own folder.
    qputenv("XDG_CONFIG_HOME", m_dir.filePath(u"config"_s).toUtf8());
    QCoreApplication::setOrganizationName(u"BatchDeskKeychainTest"_s);
    QCoreApplication::setApplicationName(u"BatchDeskKeychainTest"_s);
    qunsetenv("OPENAI_BASE_URL");
    qunsetenv("ANTHROPIC_API_KEY");
    QVERIFY(m_server.listen());
    const QString dbusDaemon = QStandardPaths::findExecutable(u"dbus-daemon"_s);
    const QString keyringDaemon = QStandardPaths::findExecutable(u"gnome-keyring-daemon"_s);
    if (dbusDaemon.isEmpty() || keyringDaemon.isEmpty())
        QSKIP("needs dbus-daemon and gnome-keyring-daemon (scripts/setup-debian.sh installs them)");
    QDir(m_dir.path()).mkpath(u"home/.local/share"_s);
    QDir(m_dir.path()).mkpath(u"run"_s);
    QFile::setPermissions(m_dir.filePath(u"run"_s),
                          QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);

    QFile config(m_dir.filePath(u"bus.conf"_s));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(QString::fromLatin1(kBusConfig).arg(m_dir.filePath(u"run"_s)).toUtf8());
    config.close();
    m_bus.start(dbusDaemon, {u"--config-file="_s + config.fileName(), u"--print-address=1"_s,
                             u"--nofork"_s, u"--nopidfile"_s});
    QVERIFY2(m_bus.waitForStarted(5'000), qPrintable(m_bus.errorString()));
    QVERIFY(QTest::qWaitFor([this] { return m_bus.canReadLine(); }, 10'000));
    m_busAddress = QString::fromUtf8(m_bus.readLine()).trimmed();
    QVERIFY2(!m_busAddress.isEmpty(), "dbus-daemon printed no address");
    // Before the first keychain call of this process: libsecret and QtDBus read it once.
    qputenv("DBUS_SESSION_BUS_ADDRESS", m_busAddress.toUtf8());

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"DBUS_SESSION_BUS_ADDRESS"_s, m_busAddress);
    env.insert(u"HOME"_s, m_dir.filePath(u"home"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir.filePath(u"home/.local/share"_s));
    env.insert(u"XDG_RUNTIME_DIR"_s, m_dir.filePath(u"run"_s));
    m_keyring.setProcessEnvironment(env);
    m_keyring.start(keyringDaemon, {u"--foreground"_s, u"--unlock"_s, u"--components=secrets"_s});
    QVERIFY2(m_keyring.waitForStarted(5'000), qPrintable(m_keyring.errorString()));
    m_keyring.write("test-keyring-password");
    m_keyring.closeWriteChannel();

    // The daemon takes its bus name a moment after it starts: ask until it answers.
    QString lastError;
    const bool ready = QTest::qWaitFor(
        [&] {
            const auto [key, error] = readKey(u"openai"_s);
            lastError = error;
            return error.isEmpty();
        },
        15'000);
    if (!ready)
        QSKIP(qPrintable(u"GNOME Keyring did not come up on the private bus: %1 (%2)"_s.arg(
            lastError, QString::fromLocal8Bit(m_keyring.readAllStandardError()))));
}

void TestKeychain::cleanupTestCase()
{
    // Only what this test started, by its own handle.
    for (QProcess *process : {&m_keyring, &m_bus}) {
        if (process->state() == QProcess::NotRunning)
            continue;
        process->terminate();
        if (!process->waitForFinished(5'000)) {
            process->kill();
            process->waitForFinished(5'000);
        }
    }
}

void TestKeychain::init()
{
    m_server.options() = FakeProvider::Options();
    m_server.resetCounters();
    qunsetenv("OPENAI_API_KEY");
}

QString TestKeychain::writeKey(const QString &provider, const QString &key)
{
    KeyStore store;
    QString result = u"no answer"_s;
    bool done = false;
    store.writeKey(provider, key, [&](const QString &error) {
        result = error;
        done = true;
    });
    if (!QTest::qWaitFor([&] { return done; }, 10'000))
        return u"no answer within 10 s"_s;
    return result;
}

QString TestKeychain::deleteKey(const QString &provider)
{
    KeyStore store;
    QString result = u"no answer"_s;
    bool done = false;
    store.deleteKey(provider, [&](const QString &error) {
        result = error;
        done = true;
    });
    if (!QTest::qWaitFor([&] { return done; }, 10'000))
        return u"no answer within 10 s"_s;
    return result;
}

std::pair<QString, QString> TestKeychain::readKey(const QString &provider)
{
    KeyStore store;
    std::pair<QString, QString> result{{}, u"no answer"_s};
    bool done = false;
    store.readKey(provider, [&](const QString &key, const QString &error) {
        result = {key, error};
        done = true;
    });
    if (!QTest::qWaitFor([&] { return done; }, 10'000))
        return {QString(), u"no answer within 10 s"_s};
    return result;
}

QProcessEnvironment TestKeychain::batchctlEnvironment(const QString &home) const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"HOME"_s, home);
    env.insert(u"XDG_CONFIG_HOME"_s, home + u"/config"_s);
    env.insert(u"XDG_DATA_HOME"_s, home + u"/data"_s);
    env.insert(u"DBUS_SESSION_BUS_ADDRESS"_s, m_busAddress);
    env.remove(u"OPENAI_API_KEY"_s);
    env.remove(u"OPENAI_BASE_URL"_s);
    env.remove(u"ANTHROPIC_API_KEY"_s);
    return env;
}

BatchctlRun TestKeychain::batchctl(const QStringList &arguments, const QProcessEnvironment &env,
                                   const QByteArray &stdinData)
{
    BatchctlRun run;
    QProcess process;
    process.setProcessEnvironment(env);
    QSignalSpy finished(&process, &QProcess::finished);
    process.start(QStringLiteral(BATCHCTL_PATH), arguments);
    if (!process.waitForStarted(10'000))
        return run;
    process.write(stdinData);
    process.closeWriteChannel();
    // The fake provider lives in this process: wait with the event loop running.
    if (finished.isEmpty() && !finished.wait(120'000)) {
        process.kill();
        process.waitForFinished(5'000);
    }
    run.exitCode = process.exitCode();
    run.status = process.exitStatus();
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    return run;
}

QString TestKeychain::writeCsv(const QString &dir, int rows)
{
    const QString path = dir + u"/rows.csv"_s;
    QFile csv(path);
    if (!csv.open(QIODevice::WriteOnly))
        return {};
    csv.write("id,text\r\n");
    for (int i = 1; i <= rows; ++i)
        csv.write(QByteArray::number(i) + ",row number " + QByteArray::number(i) + "\r\n");
    return path;
}

QStringList TestKeychain::runArguments(const QString &csv, const QString &dir) const
{
    return {u"run"_s,        csv,
            u"--template"_s, u"Say {{text}}"_s,
            u"--provider"_s, u"openai"_s,
            u"--model"_s,    u"gpt-4o-mini"_s,
            u"--mode"_s,     u"realtime"_s,
            u"--base-url"_s, m_server.openAiBaseUrl(),
            u"--db"_s,       dir + u"/jobs.sqlite"_s,
            u"--export"_s,   dir + u"/out.jsonl"_s,
            u"--json"_s};
}

void TestKeychain::expectKeyNowhere(const QString &key, const QString &dir, const BatchctlRun &run)
{
    const QByteArray bytes = key.toUtf8();
    QVERIFY2(!run.out.contains(bytes) && !run.err.contains(bytes), qPrintable(run.describe()));
    int checked = 0;
    for (const QString &name : QDir(dir).entryList(QDir::Files)) {
        QFile file(dir + u'/' + name);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray content = file.readAll();
        QVERIFY2(!content.contains(bytes), qPrintable(name));
        QVERIFY2(!content.contains(bytes.mid(3, 16)), qPrintable(name));
        ++checked;
    }
    QVERIFY(QFile::exists(dir + u"/jobs.sqlite"_s));
    QVERIFY(QFile::exists(dir + u"/out.jsonl"_s));
    QVERIFY(checked >= 2);
}

void TestKeychain::keyStoreRoundTrip()
{
    QCOMPARE(writeKey(u"anthropic"_s, u"sk-ant-round-trip"_s), QString());
    QCOMPARE(readKey(u"anthropic"_s), std::make_pair(u"sk-ant-round-trip"_s, QString()));
    // Providers that share a key share the entry.
    QCOMPARE(writeKey(u"openai"_s, u"sk-openai-round-trip"_s), QString());
    QCOMPARE(readKey(u"openai-compatible"_s).first, u"sk-openai-round-trip"_s);
    QCOMPARE(readKey(u"anthropic"_s).first, u"sk-ant-round-trip"_s);
    QCOMPARE(deleteKey(u"anthropic"_s), QString());
    QCOMPARE(readKey(u"anthropic"_s), std::make_pair(QString(), QString()));
    QCOMPARE(deleteKey(u"anthropic"_s), QString()); // already gone: not an error
    QCOMPARE(deleteKey(u"openai"_s), QString());
}

void TestKeychain::resolveKeyPrefersTheEnvironment()
{
    QCOMPARE(writeKey(u"openai"_s, kKeychainKey), QString());
    KeyStore store;
    std::optional<KeyStore::ResolvedKey> resolved;
    store.resolveKey(u"openai"_s, [&](const KeyStore::ResolvedKey &r) { resolved = r; });
    QVERIFY(QTest::qWaitFor([&] { return resolved.has_value(); }, 10'000));
    QCOMPARE(resolved->key, kKeychainKey);
    QCOMPARE(resolved->source, KeyStore::ResolvedKey::Source::Keychain);

    qputenv("OPENAI_API_KEY", kEnvironmentKey.toUtf8());
    resolved.reset();
    store.resolveKey(u"openai"_s, [&](const KeyStore::ResolvedKey &r) { resolved = r; });
    QVERIFY(QTest::qWaitFor([&] { return resolved.has_value(); }, 10'000));
    QCOMPARE(resolved->key, kEnvironmentKey);
    QCOMPARE(resolved->source, KeyStore::ResolvedKey::Source::Environment);
    qunsetenv("OPENAI_API_KEY");
    QCOMPARE(deleteKey(u"openai"_s), QString());
}

void TestKeychain::runTakesTheKeyFromTheKeychain()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QProcessEnvironment env = batchctlEnvironment(dir.path());

    const BatchctlRun set =
        batchctl({u"key"_s, u"set"_s, u"openai"_s}, env, kKeychainKey.toUtf8() + "\n");
    QVERIFY2(set.exitCode == 0, qPrintable(set.describe()));
    QCOMPARE(readKey(u"openai"_s).first, kKeychainKey);

    const BatchctlRun status = batchctl({u"key"_s, u"status"_s, u"--json"_s}, env);
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonArray entries = status.json().value(u"keys"_s).toArray();
    QCOMPARE(entries.size(), 3); // openai, anthropic, gemini
    QCOMPARE(entries.at(0)[u"provider"_s].toString(), u"openai"_s);
    QCOMPARE(entries.at(0)[u"keychain"_s].toBool(), true);
    QCOMPARE(entries.at(0)[u"environment"_s].toBool(), false);
    QCOMPARE(entries.at(0)[u"uses"_s].toString(), u"keychain"_s);
    QCOMPARE(entries.at(1)[u"keychain"_s].toBool(), false);
    QCOMPARE(entries.at(1)[u"uses"_s].toString(), u"none"_s);
    QVERIFY(!status.out.contains(kKeychainKey.toUtf8()) &&
            !status.err.contains(kKeychainKey.toUtf8()));

    m_server.options().requiredKey = kKeychainKey;
    m_server.options().echoCredentialsInErrors = true; // a leak would show in any error body
    const QString csv = writeCsv(dir.path(), 12);
    const BatchctlRun run = batchctl(runArguments(csv, dir.path()), env);
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 12);
    QCOMPARE(m_server.requestCount("/v1/chat/completions"), 12);
    for (const FakeProvider::ReceivedRequest &sent : m_server.received())
        QCOMPARE(sent.header("authorization"), "Bearer " + kKeychainKey.toUtf8());
    expectKeyNowhere(kKeychainKey, dir.path(), run);

    const BatchctlRun removed = batchctl({u"key"_s, u"delete"_s, u"openai"_s}, env);
    QVERIFY2(removed.exitCode == 0, qPrintable(removed.describe()));
    QCOMPARE(readKey(u"openai"_s), std::make_pair(QString(), QString()));
}

void TestKeychain::environmentWinsOverTheKeychain()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QCOMPARE(writeKey(u"openai"_s, kKeychainKey), QString());
    QProcessEnvironment env = batchctlEnvironment(dir.path());
    env.insert(u"OPENAI_API_KEY"_s, kEnvironmentKey);
    m_server.options().requiredKey = kEnvironmentKey;
    const BatchctlRun run = batchctl(runArguments(writeCsv(dir.path(), 5), dir.path()), env);
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 5);
    QVERIFY(!m_server.received().isEmpty());
    for (const FakeProvider::ReceivedRequest &sent : m_server.received())
        QCOMPARE(sent.header("authorization"), "Bearer " + kEnvironmentKey.toUtf8());
    expectKeyNowhere(kEnvironmentKey, dir.path(), run);
    expectKeyNowhere(kKeychainKey, dir.path(), run);

    const BatchctlRun status = batchctl({u"key"_s, u"status"_s, u"openai"_s}, env);
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    QVERIFY2(status.out.contains("runs use OPENAI_API_KEY"), qPrintable(status.describe()));
    QCOMPARE(deleteKey(u"openai"_s), QString());
}

void TestKeychain::missingKeyIsAUsageErrorNamingBothPlaces()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QCOMPARE(deleteKey(u"openai"_s), QString());
    const QProcessEnvironment env = batchctlEnvironment(dir.path());
    const BatchctlRun run = batchctl(runArguments(writeCsv(dir.path(), 3), dir.path()), env);
    QVERIFY2(run.exitCode == 2, qPrintable(run.describe()));
    QVERIFY2(run.err.contains("OPENAI_API_KEY") && run.err.contains("batchctl key set openai"),
             qPrintable(run.describe()));
    QCOMPARE(m_server.requestCount(), 0);
    QVERIFY(!QFile::exists(dir.filePath(u"jobs.sqlite"_s))); // refused before anything

    // resume: a job imported with the key, resumed without it.
    QProcessEnvironment withKey = env;
    withKey.insert(u"OPENAI_API_KEY"_s, kEnvironmentKey);
    m_server.options().fault = FakeProvider::Fault::Unauthorized; // the job pauses
    const BatchctlRun first = batchctl(runArguments(writeCsv(dir.path(), 3), dir.path()), withKey);
    QVERIFY2(first.exitCode == 3, qPrintable(first.describe()));
    const BatchctlRun resume =
        batchctl({u"resume"_s, u"--db"_s, dir.filePath(u"jobs.sqlite"_s)}, env);
    QVERIFY2(resume.exitCode == 2, qPrintable(resume.describe()));
    QVERIFY2(resume.err.contains("OPENAI_API_KEY") &&
                 resume.err.contains("batchctl key set openai"),
             qPrintable(resume.describe()));
}

void TestKeychain::keyIsNeverAnArgument()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QProcessEnvironment env = batchctlEnvironment(dir.path());
    const BatchctlRun onCommandLine =
        batchctl({u"key"_s, u"set"_s, u"openai"_s, kKeychainKey}, env);
    QCOMPARE(onCommandLine.exitCode, 2);
    QVERIFY(onCommandLine.err.contains("stdin"));
    QVERIFY(!onCommandLine.err.contains(kKeychainKey.toUtf8()));
    const BatchctlRun empty = batchctl({u"key"_s, u"set"_s, u"openai"_s}, env, "\n");
    QCOMPARE(empty.exitCode, 2);
    const BatchctlRun simulator = batchctl({u"key"_s, u"set"_s, u"simulator"_s}, env, "x\n");
    QCOMPARE(simulator.exitCode, 2);
    QCOMPARE(readKey(u"openai"_s), std::make_pair(QString(), QString()));
}

void TestKeychain::noKeychainStillRunsWithTheEnvironment()
{
    // No session bus at all: the environment variable is enough, and a missing key says
    // at once where to put one.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QProcessEnvironment env = batchctlEnvironment(dir.path());
    env.remove(u"DBUS_SESSION_BUS_ADDRESS"_s);
    env.remove(u"XDG_RUNTIME_DIR"_s);
    QElapsedTimer timer;
    timer.start();
    const BatchctlRun missing = batchctl(runArguments(writeCsv(dir.path(), 3), dir.path()), env);
    QVERIFY2(missing.exitCode == 2, qPrintable(missing.describe()));
    QVERIFY2(missing.err.contains("OPENAI_API_KEY") && missing.err.contains("no D-Bus session bus"),
             qPrintable(missing.describe()));
    QCOMPARE(missing.err.count('\n'), 1); // one line
    QVERIFY2(timer.elapsed() < 5'000, qPrintable(u"took %1 ms"_s.arg(timer.elapsed())));

    env.insert(u"OPENAI_API_KEY"_s, kEnvironmentKey);
    m_server.options().requiredKey = kEnvironmentKey;
    const BatchctlRun run = batchctl(runArguments(writeCsv(dir.path(), 4), dir.path()), env);
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 4);

    const BatchctlRun status = batchctl({u"key"_s, u"status"_s, u"openai"_s}, env);
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    QVERIFY2(status.out.contains("no D-Bus session bus") &&
                 status.out.contains("runs use OPENAI_API_KEY"),
             qPrintable(status.describe()));
}

void TestKeychain::consoleResolvesKeysWithoutWaiting()
{
    QCOMPARE(writeKey(u"openai"_s, kKeychainKey), QString());
    bd::JobSpec spec;
    spec.provider = u"openai"_s;
    QObject context;
    std::optional<std::pair<bd::ProviderConfig, QString>> answer;
    const auto resolve = [&] {
        answer.reset();
        QElapsedTimer timer;
        timer.start();
        bd::ui::resolveProviderConfig(
            spec, &context,
            [&](const bd::ProviderConfig &config, const QString &problem) {
                answer = {config, problem};
            });
        // The call only starts the lookup: the answer comes from the event loop.
        QVERIFY(!answer.has_value());
        QVERIFY(timer.elapsed() < 200);
        QVERIFY(QTest::qWaitFor([&] { return answer.has_value(); }, 10'000));
    };

    resolve();
    QCOMPARE(answer->first.apiKey, kKeychainKey);
    QCOMPARE(answer->first.id, u"openai"_s);
    QCOMPARE(answer->second, QString());

    qputenv("OPENAI_API_KEY", kEnvironmentKey.toUtf8());
    resolve();
    QCOMPARE(answer->first.apiKey, kEnvironmentKey);
    qunsetenv("OPENAI_API_KEY");

    // A local server's key is optional: a key kept for OpenAI is not handed to it.
    spec.provider = u"openai-compatible"_s;
    resolve();
    QCOMPARE(answer->first.apiKey, QString());
    QCOMPARE(answer->second, QString());

    spec.provider = u"anthropic"_s;
    resolve();
    QCOMPARE(answer->first.apiKey, QString());
    QVERIFY2(answer->second.contains(u"ANTHROPIC_API_KEY"_s) &&
                 answer->second.contains(u"batchctl key set anthropic"_s),
             qPrintable(answer->second));

    // The context goes away before the keychain answers: nothing runs.
    spec.provider = u"openai"_s;
    bool called = false;
    {
        QObject shortLived;
        bd::ui::resolveProviderConfig(
            spec, &shortLived,
            [&](const bd::ProviderConfig &, const QString &) { called = true; });
    }
    resolve(); // a later lookup has come and gone: the first would have too
    QVERIFY(!called);
    QCOMPARE(deleteKey(u"openai"_s), QString());
}

void TestKeychain::consoleBaseUrlOrder()
{
    bd::JobSpec spec;
    spec.provider = u"anthropic"_s;
    QCOMPARE(bd::ui::providerBaseUrl(spec), QString()); // the provider's default
    QSettings().setValue(u"providers/anthropic/base_url"_s, u"http://127.0.0.1:1/from-settings"_s);
    QCOMPARE(bd::ui::providerBaseUrl(spec), u"http://127.0.0.1:1/from-settings"_s);
    qputenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:2/from-environment");
    QCOMPARE(bd::ui::providerBaseUrl(spec), u"http://127.0.0.1:2/from-environment"_s);
    spec.baseUrl = u"http://127.0.0.1:3/from-the-job"_s;
    QCOMPARE(bd::ui::providerBaseUrl(spec), u"http://127.0.0.1:3/from-the-job"_s);
    qunsetenv("ANTHROPIC_BASE_URL");
    // openai-compatible shares the openai account's settings.
    spec = bd::JobSpec();
    spec.provider = u"openai-compatible"_s;
    QSettings().setValue(u"providers/openai/base_url"_s, u"http://127.0.0.1:4/v1"_s);
    QCOMPARE(bd::ui::providerBaseUrl(spec), u"http://127.0.0.1:4/v1"_s);
    spec.provider = u"simulator"_s;
    QCOMPARE(bd::ui::providerBaseUrl(spec), QString());
}

QTEST_GUILESS_MAIN(TestKeychain)
#include "test_keychain.moc"
