// Alert delivery: the webhook received by a loopback HTTP server in the test (JSON checked,
// one retry on 5xx / timeout, none on 4xx), the command run directly with the JSON on stdin
// and BATCHDESK_ALERT_* in its environment (no shell), failures and timeouts reported. Then
// the monitoring bundle end to end: a quota failure recorded -> the rule raises -> the store
// has the alert, the webhook has the JSON, /metrics shows it -> answers again -> cleared.

#include "core/clock.h"
#include "metrics/alertnotifier.h"
#include "metrics/exposition.h"
#include "metrics/monitoring.h"
#include "metrics/queueprobe.h"
#include "store/database.h"
#include "store/store.h"
#include "store/taskactions.h"
#include "store/taskreader.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QHostInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace Qt::StringLiterals;
using namespace bd::metrics;

namespace {

constexpr qint64 kT0 = 1'700'000'400'000;

// A webhook receiver on 127.0.0.1: records each request and answers with the next
// scripted status (-1: never answers; the last status repeats).
class HookServer final : public QObject
{
    Q_OBJECT

public:
    struct Request
    {
        QByteArray method;
        QByteArray target;
        QMap<QByteArray, QByteArray> headers; // lower-case names
        QByteArray body;
    };

    explicit HookServer(QList<int> statuses)
        : m_statuses(std::move(statuses))
    {
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                socket->setParent(this);
                connect(socket, &QTcpSocket::readyRead, this, [this, socket] { read(socket); });
            }
        });
    }
    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    QUrl url(const QString &pathAndQuery) const
    {
        return QUrl(u"http://127.0.0.1:%1%2"_s.arg(m_server.serverPort()).arg(pathAndQuery));
    }
    QList<Request> requests;

Q_SIGNALS:
    void received();

private:
    void read(QTcpSocket *socket)
    {
        QByteArray &buffer = m_buffers[socket];
        buffer += socket->readAll();
        const qsizetype end = buffer.indexOf("\r\n\r\n");
        if (end < 0)
            return;
        Request request;
        const QList<QByteArray> lines = buffer.left(end).split('\n');
        const QList<QByteArray> first = lines.constFirst().trimmed().split(' ');
        request.method = first.value(0);
        request.target = first.value(1);
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const qsizetype colon = lines.at(i).indexOf(':');
            if (colon > 0)
                request.headers.insert(lines.at(i).left(colon).trimmed().toLower(), lines.at(i).mid(colon + 1).trimmed());
        }
        const qsizetype length = request.headers.value("content-length").toLongLong();
        if (buffer.size() < end + 4 + length)
            return;
        request.body = buffer.mid(end + 4, length);
        buffer.clear();
        const int status = m_statuses.value(requests.size(), m_statuses.constLast());
        requests.append(request);
        Q_EMIT received();
        if (status < 0)
            return; // hold the connection, say nothing
        socket->write("HTTP/1.1 " + QByteArray::number(status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        socket->disconnectFromHost();
    }

    QTcpServer m_server;
    QList<int> m_statuses;
    QHash<QTcpSocket *, QByteArray> m_buffers;
};

AlertEvent sampleEvent(const QString &kind = u"error_rate_high"_s, qint64 job = 7)
{
    AlertEvent event;
    event.type = AlertEvent::Type::Raised;
    event.kind = kind;
    event.jobId = job;
    event.message = u"error rate 12.0% (12 of 100 calls) in the last 10 min, above 5.0%"_s;
    event.figures = QJsonObject{{u"rate"_s, 0.12}, {u"failures"_s, 12}, {u"attempts"_s, 100}};
    event.atMs = kT0;
    return event;
}

AlertNotifier::Options webhookOptions(const QUrl &url)
{
    AlertNotifier::Options options;
    options.webhookUrl = url;
    options.webhookTimeoutMs = 2000;
    options.retryDelayMs = 50;
    options.worker = u"host:1:abcdef"_s;
    return options;
}

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

} // namespace

class TestMetricsAlerts : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void webhookPostsTheAlertJson();
    void webhookRetriesOnceAfterServerError();
    void webhookGivesUpAfterTheRetry();
    void webhookDoesNotRetryClientErrors();
    void webhookTimesOut();
    void clearedOnlyWhenAskedFor();
    void commandGetsJsonOnStdinWithoutShell();
    void commandGetsEnvironment();
    void commandGetsNoProviderKeys();
    void commandFailuresAreReported();
    void commandsRunBoundedAndInOrder();
    void optionsFromJson();
    void monitoringEndToEnd();
    void twoWorkersOnOneDatabaseNotifyOnce();
    void oldestPendingAgePerPriorityFromTheDatabase();
};

void TestMetricsAlerts::initTestCase()
{
    qRegisterMetaType<AlertEvent>();
    qRegisterMetaType<QList<MetricSample>>();
}

void TestMetricsAlerts::webhookPostsTheAlertJson()
{
    HookServer hook({204});
    QVERIFY(hook.listen());
    AlertNotifier::Options options = webhookOptions(hook.url(u"/hooks/batchdesk?token=abc"_s));
    options.webhookHeaders = {{"Authorization", "Bearer s3cret"}};
    AlertNotifier notifier(options);
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(sampleEvent());
    QVERIFY(delivered.wait(5000));
    QCOMPARE(delivered.at(0).at(0).toString(), u"webhook"_s);
    QCOMPARE(delivered.at(0).at(1).toString(), u"error_rate_high"_s);
    QCOMPARE(delivered.at(0).at(2).toBool(), true);
    QCOMPARE(delivered.at(0).at(3).toString(), u"HTTP 204"_s);

    QCOMPARE(hook.requests.size(), 1);
    const HookServer::Request &request = hook.requests.at(0);
    QCOMPARE(request.method, "POST");
    QCOMPARE(request.target, "/hooks/batchdesk?token=abc");
    QCOMPARE(request.headers.value("content-type"), "application/json");
    QCOMPARE(request.headers.value("authorization"), "Bearer s3cret");
    QVERIFY(request.headers.value("user-agent").startsWith("BatchDesk/"));
    QJsonParseError error;
    const QJsonObject json = QJsonDocument::fromJson(request.body, &error).object();
    QCOMPARE(error.error, QJsonParseError::NoError);
    QCOMPARE(json.value(u"event"_s).toString(), u"raised"_s);
    QCOMPARE(json.value(u"kind"_s).toString(), u"error_rate_high"_s);
    QCOMPARE(json.value(u"job"_s).toInteger(), 7);
    QVERIFY(json.value(u"message"_s).toString().contains(u"12.0%"_s));
    QCOMPARE(json.value(u"figures"_s).toObject().value(u"rate"_s).toDouble(), 0.12);
    QCOMPARE(json.value(u"figures"_s).toObject().value(u"attempts"_s).toInt(), 100);
    QCOMPARE(json.value(u"at"_s).toString(), QDateTime::fromMSecsSinceEpoch(kT0).toUTC().toString(Qt::ISODateWithMs));
    QCOMPARE(json.value(u"source"_s).toString(), u"batchdesk"_s);
    QCOMPARE(json.value(u"host"_s).toString(), QHostInfo::localHostName());
    QCOMPARE(json.value(u"worker"_s).toString(), u"host:1:abcdef"_s);
    QCOMPARE(request.body, notifier.payload(sampleEvent()));
    QCOMPARE(notifier.pending(), 0);

    // A global alert has "job": null.
    const QJsonObject global = QJsonDocument::fromJson(notifier.payload(sampleEvent(u"queue_depth_high"_s, 0))).object();
    QVERIFY(global.value(u"job"_s).isNull());
}

void TestMetricsAlerts::webhookRetriesOnceAfterServerError()
{
    HookServer hook({503, 200});
    QVERIFY(hook.listen());
    AlertNotifier notifier(webhookOptions(hook.url(u"/h"_s)));
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(sampleEvent());
    QVERIFY(delivered.wait(5000));
    QCOMPARE(delivered.size(), 1);
    QCOMPARE(delivered.at(0).at(2).toBool(), true);
    QCOMPARE(hook.requests.size(), 2);
    QCOMPARE(hook.requests.at(0).body, hook.requests.at(1).body);
}

void TestMetricsAlerts::webhookGivesUpAfterTheRetry()
{
    HookServer hook({500});
    QVERIFY(hook.listen());
    AlertNotifier notifier(webhookOptions(hook.url(u"/h"_s)));
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(sampleEvent());
    QVERIFY(delivered.wait(5000));
    QCOMPARE(delivered.at(0).at(2).toBool(), false);
    QCOMPARE(delivered.at(0).at(3).toString(), u"HTTP 500"_s);
    QTest::qWait(200);
    QCOMPARE(hook.requests.size(), 2); // the first try and one retry
    QCOMPARE(delivered.size(), 1);
}

void TestMetricsAlerts::webhookDoesNotRetryClientErrors()
{
    HookServer hook({400});
    QVERIFY(hook.listen());
    AlertNotifier notifier(webhookOptions(hook.url(u"/h"_s)));
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(sampleEvent());
    QVERIFY(delivered.wait(5000));
    QCOMPARE(delivered.at(0).at(2).toBool(), false);
    QCOMPARE(delivered.at(0).at(3).toString(), u"HTTP 400"_s);
    QTest::qWait(200);
    QCOMPARE(hook.requests.size(), 1);
}

void TestMetricsAlerts::webhookTimesOut()
{
    HookServer hook({-1});
    QVERIFY(hook.listen());
    AlertNotifier::Options options = webhookOptions(hook.url(u"/slow"_s));
    options.webhookTimeoutMs = 300;
    AlertNotifier notifier(options);
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    QElapsedTimer timer;
    timer.start();
    notifier.notify(sampleEvent());
    QVERIFY(delivered.wait(5000));
    QCOMPARE(delivered.at(0).at(2).toBool(), false);
    QCOMPARE(delivered.at(0).at(3).toString(), u"no answer within 300 ms"_s);
    QCOMPARE(hook.requests.size(), 2);
    QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(notifier.pending(), 0);
}

void TestMetricsAlerts::clearedOnlyWhenAskedFor()
{
    HookServer hook({200});
    QVERIFY(hook.listen());
    AlertEvent cleared = sampleEvent();
    cleared.type = AlertEvent::Type::Cleared;
    {
        AlertNotifier notifier(webhookOptions(hook.url(u"/h"_s)));
        notifier.notify(cleared);
        QCOMPARE(notifier.pending(), 0);
    }
    AlertNotifier::Options options = webhookOptions(hook.url(u"/h"_s));
    options.notifyCleared = true;
    AlertNotifier notifier(options);
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(cleared);
    QVERIFY(delivered.wait(5000));
    QCOMPARE(hook.requests.size(), 1);
    QCOMPARE(QJsonDocument::fromJson(hook.requests.at(0).body).object().value(u"event"_s).toString(), u"cleared"_s);
}

void TestMetricsAlerts::commandGetsJsonOnStdinWithoutShell()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    // Shell syntax in an argument stays literal: no shell ever sees it.
    const QString out = dir.filePath(u"alert $(touch pwned) ; echo.json"_s);
    AlertNotifier::Options options;
    options.command = u"/usr/bin/tee"_s;
    options.commandArgs = {out};
    options.worker = u"host:1:abcdef"_s;
    AlertNotifier notifier(options);
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(sampleEvent());
    QVERIFY(delivered.wait(5000));
    QCOMPARE(delivered.at(0).at(0).toString(), u"command"_s);
    QVERIFY2(delivered.at(0).at(2).toBool(), qPrintable(delivered.at(0).at(3).toString()));
    QCOMPARE(delivered.at(0).at(3).toString(), u"exit code 0"_s);
    const QByteArray written = readFile(out);
    QCOMPARE(written, notifier.payload(sampleEvent()));
    const QJsonObject json = QJsonDocument::fromJson(written).object();
    QCOMPARE(json.value(u"kind"_s).toString(), u"error_rate_high"_s);
    QCOMPARE(json.value(u"figures"_s).toObject().value(u"failures"_s).toInt(), 12);
    QVERIFY(!QFile::exists(dir.filePath(u"pwned"_s)));
    QVERIFY(!QFile::exists(QDir::current().filePath(u"pwned"_s)));
    QCOMPARE(notifier.pending(), 0);
}

void TestMetricsAlerts::commandGetsEnvironment()
{
    QTemporaryDir dir;
    const QString out = dir.filePath(u"env.txt"_s);
    AlertNotifier::Options options;
    options.command = u"/usr/bin/awk"_s;
    options.commandArgs = {u"-v"_s, u"out="_s + out,
                           uR"(BEGIN { printf "%s|%s|%s|%s", ENVIRON["BATCHDESK_ALERT_EVENT"], ENVIRON["BATCHDESK_ALERT_KIND"], ENVIRON["BATCHDESK_ALERT_JOB"], ENVIRON["BATCHDESK_ALERT_MESSAGE"] > out })"_s};
    AlertNotifier notifier(options);
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(sampleEvent(u"no_progress"_s, 42));
    QVERIFY(delivered.wait(5000));
    QVERIFY2(delivered.at(0).at(2).toBool(), qPrintable(delivered.at(0).at(3).toString()));
    QCOMPARE(QString::fromUtf8(readFile(out)),
             u"raised|no_progress|42|"_s + sampleEvent().message);
}

void TestMetricsAlerts::commandGetsNoProviderKeys()
{
    // The engine's own environment holds keys; the command sees none of them, only what it
    // needs to run (PATH) and its BATCHDESK_ALERT_* values.
    const QStringList keys = {u"OPENAI_API_KEY"_s, u"ANTHROPIC_API_KEY"_s, u"GEMINI_API_KEY"_s,
                              u"GOOGLE_API_KEY"_s, u"SOME_OTHER_SECRET"_s};
    for (const QString &key : keys)
        qputenv(key.toLatin1(), "sk-must-not-leak");
    const auto unset = qScopeGuard([&] {
        for (const QString &key : keys)
            qunsetenv(key.toLatin1());
    });
    QTemporaryDir dir;
    const QString out = dir.filePath(u"env.txt"_s);
    AlertNotifier::Options options;
    options.command = u"/usr/bin/awk"_s;
    options.commandArgs = {u"-v"_s, u"out="_s + out,
                           uR"(BEGIN { for (k in ENVIRON) print k "=" ENVIRON[k] > out })"_s};
    AlertNotifier notifier(options);
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    notifier.notify(sampleEvent(u"no_progress"_s, 7));
    QVERIFY(delivered.wait(5000));
    QVERIFY2(delivered.at(0).at(2).toBool(), qPrintable(delivered.at(0).at(3).toString()));
    const QString seen = QString::fromUtf8(readFile(out));
    QVERIFY2(!seen.contains(u"sk-must-not-leak"_s), qPrintable(seen));
    QVERIFY2(seen.contains(u"BATCHDESK_ALERT_KIND=no_progress"_s), qPrintable(seen));
    QVERIFY2(seen.contains(u"\nPATH="_s) || seen.startsWith(u"PATH="_s), qPrintable(seen));
}

void TestMetricsAlerts::commandFailuresAreReported()
{
    struct Case
    {
        QString program;
        QStringList args;
        QString detailHas;
    };
    const QList<Case> cases = {
        {u"/bin/false"_s, {}, u"exit code 1"_s},
        {u"/nonexistent/alert-hook"_s, {}, QString()},
        {u"/usr/bin/sleep"_s, {u"30"_s}, u"killed"_s},
    };
    for (const Case &c : cases) {
        AlertNotifier::Options options;
        options.command = c.program;
        options.commandArgs = c.args;
        options.commandTimeoutMs = 300;
        AlertNotifier notifier(options);
        QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
        QElapsedTimer timer;
        timer.start();
        notifier.notify(sampleEvent());
        QVERIFY2(delivered.size() == 1 || delivered.wait(5000), qPrintable(c.program));
        QCOMPARE(delivered.at(0).at(2).toBool(), false);
        QVERIFY2(delivered.at(0).at(3).toString().contains(c.detailHas), qPrintable(delivered.at(0).at(3).toString()));
        QVERIFY(timer.elapsed() < 4000);
        QCOMPARE(notifier.pending(), 0);
    }
}

void TestMetricsAlerts::commandsRunBoundedAndInOrder()
{
    AlertNotifier::Options options;
    options.command = u"/usr/bin/sleep"_s;
    options.commandArgs = {u"0.3"_s};
    options.maxProcesses = 1;
    AlertNotifier notifier(options);
    QSignalSpy delivered(&notifier, &AlertNotifier::delivered);
    QElapsedTimer timer;
    timer.start();
    notifier.notify(sampleEvent(u"a"_s));
    notifier.notify(sampleEvent(u"b"_s));
    notifier.notify(sampleEvent(u"c"_s));
    QCOMPARE(notifier.pending(), 3);
    QTRY_COMPARE_WITH_TIMEOUT(delivered.size(), 3, 10000);
    QVERIFY2(timer.elapsed() >= 850, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(delivered.at(0).at(1).toString(), u"a"_s);
    QCOMPARE(delivered.at(1).at(1).toString(), u"b"_s);
    QCOMPARE(delivered.at(2).at(1).toString(), u"c"_s);
}

void TestMetricsAlerts::optionsFromJson()
{
    auto o = AlertNotifier::Options::fromJson(QJsonObject{
        {u"webhook_url"_s, u"https://hooks.example.com/x?y=1"_s},
        {u"webhook_headers"_s, QJsonObject{{u"Authorization"_s, u"Bearer t"_s}}},
        {u"webhook_timeout_s"_s, 3},
        {u"webhook_retries"_s, 0},
        {u"command"_s, u"\"/usr/local/bin/page me\" --team \"on call\""_s},
        {u"command_timeout_s"_s, 5},
        {u"notify_cleared"_s, true},
    });
    QCOMPARE(o.webhookUrl, QUrl(u"https://hooks.example.com/x?y=1"_s));
    QCOMPARE(o.webhookHeaders.size(), 1);
    QCOMPARE(o.webhookTimeoutMs, 3000);
    QCOMPARE(o.webhookRetries, 0);
    QCOMPARE(o.command, u"/usr/local/bin/page me"_s);
    QCOMPARE(o.commandArgs, (QStringList{u"--team"_s, u"on call"_s}));
    QCOMPARE(o.commandTimeoutMs, 5000);
    QVERIFY(o.notifyCleared);
    QVERIFY(AlertNotifier(o).isActive());

    o = AlertNotifier::Options::fromJson(QJsonObject{
        {u"webhook_url"_s, u"file:///etc/passwd"_s},
        {u"command"_s, QJsonArray{u"/usr/bin/logger"_s, u"-t"_s, u"batchdesk; rm -rf /"_s}},
    });
    QVERIFY(!o.webhookUrl.isValid()); // http and https only
    QCOMPARE(o.command, u"/usr/bin/logger"_s);
    QCOMPARE(o.commandArgs, (QStringList{u"-t"_s, u"batchdesk; rm -rf /"_s}));
    QCOMPARE(o.webhookRetries, 1);
    QVERIFY(!AlertNotifier(AlertNotifier::Options::fromJson({})).isActive());
}

void TestMetricsAlerts::monitoringEndToEnd()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QString openError;
    auto database = bd::store::Database::open(dir.filePath(u"queue.db"_s),
                                              bd::store::Database::Access::ReadWrite, &openError);
    QVERIFY2(database, qPrintable(openError));
    bd::store::Store *store = &database->queue();
    HookServer hook({200});
    QVERIFY(hook.listen());

    const QJsonObject json{
        {u"metrics"_s, QJsonObject{{u"interval_s"_s, 10}}},
        {u"alerts"_s, QJsonObject{{u"no_progress"_s, QJsonObject{{u"after_s"_s, 60}}}}},
        {u"notify"_s, QJsonObject{{u"webhook_url"_s, hook.url(u"/alerts"_s).toString()}}},
        {u"openmetrics"_s, QJsonObject{{u"enabled"_s, true}, {u"port"_s, 0}}},
    };
    MonitoringConfig config = MonitoringConfig::fromJson(json);
    QCOMPARE(config.thresholds.noProgress.afterMs, 60'000);
    config.recorder.autoTick = false; // the test moves time
    bd::FakeClock clock(kT0);
    auto monitoring = std::make_unique<Monitoring>(config, &clock, *database, u"host:1:e2e"_s);
    // The owner's wiring: transitions go to the store.
    connect(monitoring.get(), &Monitoring::alertRaised, this, [&](const AlertEvent &e) {
        store->raiseAlert(e.jobId, e.kind, e.message, e.atMs);
    });
    connect(monitoring.get(), &Monitoring::alertCleared, this, [&](const AlertEvent &e) {
        store->clearAlerts(e.jobId, e.kind, e.atMs);
    });
    QSignalSpy raised(monitoring.get(), &Monitoring::alertRaised);
    QSignalSpy cleared(monitoring.get(), &Monitoring::alertCleared);
    QSignalSpy delivered(monitoring->notifier(), &AlertNotifier::delivered);
    QString error;
    QVERIFY2(monitoring->start(store->alerts(false), &error), qPrintable(error));
    QVERIFY(monitoring->endpointPort() > 0);

    // Job 5 hits an exhausted quota.
    MetricsRecorder *recorder = monitoring->recorder();
    recorder->recordTransition(5, 2, u"sync"_s, [] {
        bd::TaskTransition t;
        t.action = bd::OutcomeAction::Release;
        t.outcome.error = bd::ErrorClass::QuotaExhausted;
        t.outcome.httpStatus = 429;
        return t;
    }(), -1);
    recorder->reportQueue(JobQueueReport{5, false, {{2, u"sync"_s, 99, 0, kT0}}});
    clock.advance(10'000);
    recorder->tick();
    QCOMPARE(raised.size(), 1);
    const auto event = raised.at(0).at(0).value<AlertEvent>();
    QCOMPARE(event.kind, u"quota_exhausted"_s);
    QCOMPARE(event.jobId, 5);

    // Stored, delivered, exposed.
    const QList<bd::AlertRecord> open = store->alerts(false);
    QCOMPARE(open.size(), 1);
    QCOMPARE(open.at(0).kind, u"quota_exhausted"_s);
    QCOMPARE(open.at(0).jobId, 5);
    QVERIFY(delivered.wait(5000));
    QVERIFY(delivered.at(0).at(2).toBool());
    QCOMPARE(QJsonDocument::fromJson(hook.requests.at(0).body).object().value(u"kind"_s).toString(),
             u"quota_exhausted"_s);
    QNetworkAccessManager network;
    QNetworkReply *reply = network.get(QNetworkRequest(
        QUrl(u"http://127.0.0.1:%1/metrics"_s.arg(monitoring->endpointPort()))));
    QSignalSpy finished(reply, &QNetworkReply::finished);
    QVERIFY(finished.wait(5000));
    const QByteArray text = reply->readAll();
    reply->deleteLater();
    QVERIFY2(text.contains("batchdesk_alerts_open{kind=\"quota_exhausted\",job=\"5\"} 1\n"), text.constData());
    QVERIFY2(text.contains("batchdesk_rate_limited_responses_total{job=\"5\",lane=\"sync\"} 1\n"), text.constData());
    QVERIFY(monitoring->store()->sampleCount(10'000) > 0);

    // Answers again: cleared in the store.
    recorder->recordTransition(5, 2, u"sync"_s, [] {
        bd::TaskTransition t;
        t.action = bd::OutcomeAction::Complete;
        return t;
    }(), 10);
    clock.advance(10'000);
    recorder->tick();
    QCOMPARE(cleared.size(), 1);
    QVERIFY(store->alerts(false).isEmpty());
    QCOMPARE(store->alerts(true).size(), 1);

    // A restart adopts what is open instead of notifying it again.
    store->raiseAlert(0, u"priority1_wait"_s, u"from before"_s, clock.nowMs());
    monitoring->shutdown();
    monitoring = std::make_unique<Monitoring>(config, &clock, *database, u"host:1:e2e"_s);
    QSignalSpy raisedAgain(monitoring.get(), &Monitoring::alertRaised);
    QSignalSpy clearedAgain(monitoring.get(), &Monitoring::alertCleared);
    QVERIFY(monitoring->start(store->alerts(false), &error));
    QVERIFY(monitoring->alerts()->isOpen(u"priority1_wait"_s));
    monitoring->recorder()->reportQueue(JobQueueReport{9, false, {{1, u"realtime"_s, 0, 0, 0}}});
    clock.advance(10'000);
    monitoring->recorder()->tick();
    QCOMPARE(raisedAgain.size(), 0);
    QCOMPARE(clearedAgain.size(), 1); // no priority-1 task waits: the adopted alert ends
    monitoring->shutdown();
    monitoring.reset();
    store = nullptr;
    database.reset();
}

// Two engines (two Store connections, two Monitoring bundles) on one SQLite file see the
// same priority-1 wait: the alert is stored once, raised (and delivered) once; one worker
// clearing it clears the stored alert, and the other's later clear is no second event.
void TestMetricsAlerts::twoWorkersOnOneDatabaseNotifyOnce()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"shared.db"_s);
    HookServer hook({200});
    QVERIFY(hook.listen());
    MonitoringConfig config = MonitoringConfig::fromJson(QJsonObject{
        {u"notify"_s, QJsonObject{{u"webhook_url"_s, hook.url(u"/alerts"_s).toString()}}}});
    config.recorder.autoTick = false;
    bd::FakeClock clock(kT0);

    struct Worker
    {
        std::unique_ptr<bd::store::Database> database;
        bd::store::Store *store = nullptr;
        std::unique_ptr<Monitoring> monitoring;
    };
    QList<std::shared_ptr<Worker>> workers;
    for (const QString &name : {u"w1"_s, u"w2"_s}) {
        auto worker = std::make_shared<Worker>();
        QString openError;
        worker->database = bd::store::Database::open(path, bd::store::Database::Access::ReadWrite, &openError);
        QVERIFY2(worker->database, qPrintable(openError));
        worker->store = &worker->database->queue();
        worker->monitoring = std::make_unique<Monitoring>(config, &clock, *worker->database, u"host:1:"_s + name);
        worker->monitoring->alerts()->setLedger(AlertCenter::storeLedger(worker->store));
        QVERIFY(worker->monitoring->start(worker->store->alerts(false)));
        workers.append(worker);
    }
    QSignalSpy raised1(workers.at(0)->monitoring.get(), &Monitoring::alertRaised);
    QSignalSpy raised2(workers.at(1)->monitoring.get(), &Monitoring::alertRaised);
    QSignalSpy updated2(workers.at(1)->monitoring.get(), &Monitoring::alertUpdated);
    QSignalSpy cleared1(workers.at(0)->monitoring.get(), &Monitoring::alertCleared);
    QSignalSpy cleared2(workers.at(1)->monitoring.get(), &Monitoring::alertCleared);

    // Both see a priority-1 task queued six minutes ago.
    const qint64 queuedAt = kT0 - 6 * 60'000;
    for (const auto &worker : std::as_const(workers)) {
        worker->monitoring->recorder()->reportQueue(JobQueueReport{3, true, {{1, u"realtime"_s, 4, 0, queuedAt}}});
    }
    clock.advance(10'000);
    workers.at(0)->monitoring->recorder()->tick();
    workers.at(1)->monitoring->recorder()->tick();
    QCOMPARE(raised1.size(), 1);
    QCOMPARE(raised2.size(), 0);
    QCOMPARE(updated2.size(), 1); // known as open there, not notified again
    QList<bd::AlertRecord> stored = workers.at(0)->store->alerts(true);
    QCOMPARE(stored.size(), 1);
    QCOMPARE(stored.at(0).kind, u"priority1_wait"_s);
    QVERIFY(stored.at(0).figures.value(u"value"_s).toDouble() >= 360.0);
    QCOMPARE(stored.at(0).figures.value(u"threshold"_s).toDouble(), 300.0);
    QSignalSpy received(&hook, &HookServer::received);
    QVERIFY(!hook.requests.isEmpty() || received.wait(5000));
    QTest::qWait(200); // a second delivery would have arrived by now
    QCOMPARE(hook.requests.size(), 1);

    // Worker 2's priority-1 queue drains first: it clears the stored alert for both.
    workers.at(1)->monitoring->recorder()->reportQueue(JobQueueReport{3, true, {{1, u"realtime"_s, 0, 0, 0}}});
    clock.advance(10'000);
    workers.at(1)->monitoring->recorder()->tick();
    QCOMPARE(cleared2.size(), 1);
    stored = workers.at(0)->store->alerts(true);
    QCOMPARE(stored.size(), 1);
    QVERIFY(stored.at(0).clearedAt.isValid());
    QVERIFY(stored.at(0).figures.value(u"cleared"_s).toObject().contains(u"value"_s));
    workers.at(0)->monitoring->recorder()->reportQueue(JobQueueReport{3, true, {{1, u"realtime"_s, 0, 0, 0}}});
    clock.advance(10'000);
    workers.at(0)->monitoring->recorder()->tick();
    QCOMPARE(cleared1.size(), 0); // cleared already by worker 2
    QCOMPARE(workers.at(0)->store->alerts(true).size(), 1);
    for (const auto &worker : std::as_const(workers))
        worker->monitoring->shutdown();
}

// The age of the oldest pending task per priority comes from the task table (one seek per
// priority), reaches the recorder for every priority a job waits at, feeds the priority-1
// rule and shows on /metrics. Real SQLite, fake clock.
void TestMetricsAlerts::oldestPendingAgePerPriorityFromTheDatabase()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QString openError;
    const auto database = bd::store::Database::open(
        dir.filePath(u"queue.db"_s), bd::store::Database::Access::ReadWrite, &openError);
    QVERIFY2(database, qPrintable(openError));
    bd::store::Store &store = database->queue();
    bd::FakeClock clock(kT0);
    bd::JobSpec spec;
    spec.sourcePath = u"in.csv"_s;
    spec.templateText = u"{{text}}"_s;
    spec.provider = u"simulator"_s;
    spec.model = u"sim-1"_s;
    spec.priority = 2;
    spec.mode = u"grouped"_s;
    const qint64 job = store.createJob(spec, {u"text"_s}, kT0);
    QVERIFY(job > 0);
    QList<QStringList> rows;
    for (int i = 0; i < 20; ++i)
        rows.append({u"row %1"_s.arg(i)});
    QVERIFY(store.appendTasks(job, 1, rows.mid(0, 10), 2, kT0));
    QVERIFY(store.appendTasks(job, 11, rows.mid(10), 2, kT0 + 60'000));
    // Three of the later tasks become urgent one by one.
    bd::store::TaskActions &actions = database->taskActions();
    bd::TaskFilter ofJob;
    ofJob.jobId = job;
    const QList<qint64> urgent = database->tasks().ids(ofJob, 13).mid(10); // rows 11 to 13
    QCOMPARE(actions.reprioritiseTasks(urgent, 1), 3);

    // The engine starts when the urgent tasks have waited six minutes.
    clock.set(kT0 + 60'000 + 6 * 60'000);
    MonitoringConfig config;
    config.recorder.autoTick = false;
    Monitoring monitoring(config, &clock, *database, u"host:1:probe"_s);
    QSignalSpy raised(&monitoring, &Monitoring::alertRaised);
    QVERIFY(monitoring.start({}));

    QueueProbe &probe = database->queueProbe();
    const QMap<int, qint64> oldest = probe.oldestPendingSince(job);
    QVERIFY2(probe.errorString().isEmpty(), qPrintable(probe.errorString()));
    QCOMPARE(oldest, (QMap<int, qint64>{{1, kT0 + 60'000}, {2, kT0}}));
    const QList<QueueLevel> levels = QueueProbe::levels(2, u"grouped"_s, 20, 0, oldest);
    QCOMPARE(levels.size(), 2);
    monitoring.recorder()->reportQueue(JobQueueReport{job, true, levels});
    clock.advance(10'000);
    monitoring.recorder()->tick();

    QCOMPARE(raised.size(), 1);
    const auto event = raised.at(0).at(0).value<AlertEvent>();
    QCOMPARE(event.kind, u"priority1_wait"_s);
    QCOMPARE(event.figures.value(u"value"_s).toDouble(), 370.0);
    const QList<MetricSample> samples = monitoring.store()->samples(
        {QString::fromLatin1(names::oldestPendingAgeMs)}, 10'000, 0, clock.nowMs());
    QMap<QString, double> ages;
    for (const MetricSample &sample : samples) {
        if (sample.metric == QLatin1StringView(names::oldestPendingAgeMs))
            ages.insert(sample.labels, sample.value);
    }
    QCOMPARE(ages.value(u"priority=1"_s), 370'000.0);
    QCOMPARE(ages.value(u"priority=2"_s), 430'000.0);

    Exposition exposition;
    monitoring.recorder()->addTo(exposition);
    const QByteArray text = exposition.text();
    QVERIFY2(text.contains("batchdesk_oldest_pending_age_seconds{priority=\"1\"} 370\n"), text.constData());
    QVERIFY2(text.contains("batchdesk_oldest_pending_age_seconds{priority=\"2\"} 430\n"), text.constData());
    monitoring.shutdown();
}

QTEST_GUILESS_MAIN(TestMetricsAlerts)
#include "test_metrics_alerts.moc"
