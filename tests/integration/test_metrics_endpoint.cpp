// The /metrics endpoint over real loopback TCP: scraped with QNetworkAccessManager and
// parsed as the Prometheus text format (names, types, label values, numbers, histogram
// invariants); 404 / 405 / 421 answers; keep-alive, pipelining and close; idle timeout;
// loopback only; a taken port is reported.

#include "core/clock.h"
#include "metrics/alertcenter.h"
#include "metrics/exposition.h"
#include "metrics/metricsrecorder.h"
#include "metrics/openmetricsserver.h"

#include <QHostAddress>
#include <QNetworkAccessManager>
#include <QNetworkInterface>
#include <QNetworkReply>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>

#include <memory>

using namespace Qt::StringLiterals;
using namespace bd::metrics;

namespace {

constexpr qint64 kT0 = 1'700'000'400'000;

struct Sample
{
    QString name;
    QMap<QString, QString> labels;
    double value = 0;
};

struct Parsed
{
    QMap<QString, QString> types; // family -> type
    QMap<QString, QString> help;
    QList<Sample> samples;
    QStringList errors;

    QList<Sample> find(const QString &name, const QMap<QString, QString> &subset = {}) const
    {
        QList<Sample> found;
        for (const Sample &s : samples) {
            if (s.name != name)
                continue;
            bool match = true;
            for (auto it = subset.cbegin(); it != subset.cend(); ++it)
                match = match && s.labels.value(it.key()) == it.value();
            if (match)
                found.append(s);
        }
        return found;
    }
};

// A strict reader of the text format, version 0.0.4.
Parsed parse(const QByteArray &text)
{
    Parsed out;
    static const QRegularExpression nameRe(u"^[a-zA-Z_:][a-zA-Z0-9_:]*$"_s);
    static const QRegularExpression sampleRe(u"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})? (\\S+)$"_s);
    static const QRegularExpression labelRe(u"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"(,|$)"_s);
    if (!text.endsWith('\n'))
        out.errors.append(u"no final newline"_s);
    QString current;
    for (const QString &line : QString::fromUtf8(text).split(u'\n', Qt::SkipEmptyParts)) {
        if (line.startsWith(u"# HELP "_s)) {
            const QString rest = line.mid(7);
            const QString name = rest.section(u' ', 0, 0);
            if (!nameRe.match(name).hasMatch())
                out.errors.append(u"bad family name "_s + name);
            out.help.insert(name, rest.section(u' ', 1));
            continue;
        }
        if (line.startsWith(u"# TYPE "_s)) {
            const QStringList parts = line.mid(7).split(u' ');
            if (parts.size() != 2
                || !QStringList{u"counter"_s, u"gauge"_s, u"histogram"_s, u"summary"_s, u"untyped"_s}.contains(parts.at(1)))
                out.errors.append(u"bad TYPE line "_s + line);
            else if (out.types.contains(parts.at(0)))
                out.errors.append(u"family declared twice: "_s + parts.at(0));
            else
                out.types.insert(parts.at(0), parts.at(1));
            current = parts.value(0);
            if (!out.help.contains(current))
                out.errors.append(u"TYPE without HELP: "_s + current);
            continue;
        }
        if (line.startsWith(u'#'))
            continue;
        const auto m = sampleRe.match(line);
        if (!m.hasMatch()) {
            out.errors.append(u"bad sample line "_s + line);
            continue;
        }
        Sample s;
        s.name = m.captured(1);
        const QString labels = m.captured(3);
        qsizetype pos = 0;
        while (pos < labels.size()) {
            const auto lm = labelRe.match(labels, pos, QRegularExpression::NormalMatch,
                                          QRegularExpression::AnchorAtOffsetMatchOption);
            if (!lm.hasMatch()) {
                out.errors.append(u"bad labels in "_s + line);
                break;
            }
            QString value = lm.captured(2);
            value.replace(u"\\n"_s, u"\n"_s).replace(u"\\\""_s, u"\""_s).replace(u"\\\\"_s, u"\\"_s);
            s.labels.insert(lm.captured(1), value);
            pos = lm.capturedEnd(0);
        }
        const QString number = m.captured(4);
        bool ok = true;
        if (number == u"+Inf"_s)
            s.value = qInf();
        else if (number == u"-Inf"_s)
            s.value = -qInf();
        else if (number == u"NaN"_s)
            s.value = qQNaN();
        else
            s.value = number.toDouble(&ok);
        if (!ok)
            out.errors.append(u"bad number in "_s + line);
        // Every sample belongs to the family declared last.
        const QString type = out.types.value(current);
        bool belongs = s.name == current;
        if (type == u"histogram"_s)
            belongs = s.name == current + u"_bucket"_s || s.name == current + u"_sum"_s
                      || s.name == current + u"_count"_s;
        if (!belongs)
            out.errors.append(u"sample %1 outside its family %2"_s.arg(s.name, current));
        if (type == u"counter"_s && !s.name.endsWith(u"_total"_s))
            out.errors.append(u"counter without _total: "_s + s.name);
        out.samples.append(s);
    }
    return out;
}

struct Response
{
    int status = 0;
    QByteArray contentType;
    QByteArray body;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
};

Response fetch(QNetworkAccessManager &network, const QUrl &url, const QByteArray &verb = "GET")
{
    QNetworkRequest request(url);
    request.setTransferTimeout(5000);
    QNetworkReply *reply = network.sendCustomRequest(request, verb);
    QSignalSpy finished(reply, &QNetworkReply::finished);
    if (!reply->isFinished())
        finished.wait(5000);
    Response r;
    r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    r.contentType = reply->header(QNetworkRequest::ContentTypeHeader).toByteArray();
    r.body = reply->readAll();
    r.error = reply->error();
    reply->deleteLater();
    return r;
}

// Reads whole HTTP responses (status line, headers, Content-Length body) off a raw socket.
QList<std::pair<int, QByteArray>> readResponses(QTcpSocket &socket, int count, QByteArray *rest = nullptr)
{
    QList<std::pair<int, QByteArray>> responses;
    QByteArray buffer;
    QElapsedTimer timer;
    timer.start();
    while (responses.size() < count && timer.elapsed() < 5000) {
        const qsizetype end = buffer.indexOf("\r\n\r\n");
        if (end >= 0) {
            const QByteArray head = buffer.left(end);
            static const QRegularExpression lengthRe(u"(?i)content-length: *(\\d+)"_s);
            const auto m = lengthRe.match(QString::fromLatin1(head));
            const qsizetype length = m.hasMatch() ? m.captured(1).toLongLong() : 0;
            if (buffer.size() >= end + 4 + length) {
                responses.append({head.mid(9, 3).toInt(), head});
                buffer.remove(0, end + 4 + length);
                continue;
            }
        }
        // The server runs on this thread: wait with the event loop running, never block.
        if (socket.bytesAvailable() == 0) {
            QSignalSpy readable(&socket, &QTcpSocket::readyRead);
            if (!readable.wait(200) && socket.bytesAvailable() == 0
                && socket.state() != QAbstractSocket::ConnectedState)
                break;
        }
        buffer += socket.readAll();
    }
    if (rest)
        *rest = buffer;
    return responses;
}

} // namespace

class TestMetricsEndpoint : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void scrapeParsesAsPrometheusText();
    void otherPathsAndMethods();
    void keepAlivePipeliningAndClose();
    void http10ClosesUnlessKeepAlive();
    void idleConnectionsAreClosed();
    void foreignHostIsRefused();
    void listensOnLoopbackOnly();
    void takenPortIsReported();

private:
    std::unique_ptr<bd::FakeClock> m_clock;
    std::unique_ptr<MetricsRecorder> m_recorder;
    std::unique_ptr<AlertCenter> m_alerts;
    std::unique_ptr<OpenMetricsServer> m_server;
    void startServer(const OpenMetricsServer::Options &options = {});
    QUrl url(const QString &path) const
    {
        return QUrl(u"http://127.0.0.1:%1%2"_s.arg(m_server->port()).arg(path));
    }
};

void TestMetricsEndpoint::init()
{
    m_clock = std::make_unique<bd::FakeClock>(kT0);
    MetricsRecorder::Options options;
    options.autoTick = false;
    m_recorder = std::make_unique<MetricsRecorder>(m_clock.get(), nullptr, options);
    m_alerts = std::make_unique<AlertCenter>(m_clock.get(), AlertThresholds{});

    // Job 3: 40 answered p2 tasks (waits 0.1..4 s), 6 failures; job 4: a p1 task.
    for (int i = 1; i <= 40; ++i) {
        bd::Usage usage;
        usage.inputTokens = 100;
        usage.outputTokens = 10;
        usage.cachedTokens = 50;
        m_recorder->recordCompletion(TaskCompletion{3, 2, u"sync"_s, i * 100, 300, 0.0025, usage, false});
    }
    for (int i = 0; i < 6; ++i)
        m_recorder->recordFailure(TaskFailure{3, 2, u"sync"_s, i < 2 ? bd::ErrorClass::RateLimited : bd::ErrorClass::Timeout,
                                              i < 2 ? 429 : 0, false});
    m_recorder->recordCompletion(TaskCompletion{4, 1, u"realtime"_s, 50, 700, 0.01, {}, false});
    m_recorder->recordBatch(u"sync"_s, 24, 32);
    m_recorder->reportQueue(JobQueueReport{3, true, {{2, u"sync"_s, 1200, 16, kT0 - 90'000}}});
    m_recorder->reportQueue(JobQueueReport{4, false, {{1, u"realtime"_s, 2, 0, kT0 - 30'000}}});
    m_alerts->raise(3, u"error_rate_high"_s, u"error rate 13%"_s);
}

void TestMetricsEndpoint::cleanup()
{
    m_server.reset();
    m_alerts.reset();
    m_recorder.reset();
}

void TestMetricsEndpoint::startServer(const OpenMetricsServer::Options &options)
{
    m_server = std::make_unique<OpenMetricsServer>(options);
    MetricsRecorder *recorder = m_recorder.get();
    AlertCenter *alerts = m_alerts.get();
    m_server->addSource([recorder](Exposition &out) { recorder->addTo(out); });
    m_server->addSource([alerts](Exposition &out) { alerts->addTo(out); });
    QString error;
    QVERIFY2(m_server->listen(0, &error), qPrintable(error)); // ephemeral port
    QVERIFY(m_server->port() > 0);
    QCOMPARE(m_server->url(), u"http://127.0.0.1:%1/metrics"_s.arg(m_server->port()));
}

void TestMetricsEndpoint::scrapeParsesAsPrometheusText()
{
    startServer();
    QNetworkAccessManager network;
    const Response r = fetch(network, url(u"/metrics"_s));
    QCOMPARE(r.error, QNetworkReply::NoError);
    QCOMPARE(r.status, 200);
    QVERIFY2(r.contentType.startsWith("text/plain; version=0.0.4"), r.contentType.constData());
    const Parsed p = parse(r.body);
    QVERIFY2(p.errors.isEmpty(), qPrintable(p.errors.join(u'\n')));

    // Types.
    QCOMPARE(p.types.value(u"batchdesk_tasks_completed_total"_s), u"counter"_s);
    QCOMPARE(p.types.value(u"batchdesk_tasks_failed_total"_s), u"counter"_s);
    QCOMPARE(p.types.value(u"batchdesk_cost_usd_total"_s), u"counter"_s);
    QCOMPARE(p.types.value(u"batchdesk_rate_limited_responses_total"_s), u"counter"_s);
    QCOMPARE(p.types.value(u"batchdesk_queue_pending_tasks"_s), u"gauge"_s);
    QCOMPARE(p.types.value(u"batchdesk_oldest_pending_age_seconds"_s), u"gauge"_s);
    QCOMPARE(p.types.value(u"batchdesk_task_wait_seconds"_s), u"histogram"_s);
    QCOMPARE(p.types.value(u"batchdesk_task_run_seconds"_s), u"histogram"_s);
    QCOMPARE(p.types.value(u"batchdesk_alerts_open"_s), u"gauge"_s);
    QCOMPARE(p.types.value(u"batchdesk_build_info"_s), u"gauge"_s);

    // Counters with their labels.
    auto one = [&p](const QString &name, const QMap<QString, QString> &labels) {
        const QList<Sample> found = p.find(name, labels);
        return found.size() == 1 ? found.constFirst().value : qQNaN();
    };
    QCOMPARE(one(u"batchdesk_tasks_completed_total"_s, {{u"job"_s, u"3"_s}, {u"priority"_s, u"2"_s}, {u"lane"_s, u"sync"_s}}), 40.0);
    QCOMPARE(one(u"batchdesk_tasks_completed_total"_s, {{u"job"_s, u"4"_s}, {u"priority"_s, u"1"_s}, {u"lane"_s, u"realtime"_s}}), 1.0);
    QCOMPARE(one(u"batchdesk_tasks_failed_total"_s, {{u"job"_s, u"3"_s}, {u"error_class"_s, u"timeout"_s}}), 4.0);
    QCOMPARE(one(u"batchdesk_tasks_failed_total"_s, {{u"job"_s, u"3"_s}, {u"error_class"_s, u"rate_limited"_s}}), 2.0);
    QCOMPARE(one(u"batchdesk_rate_limited_responses_total"_s, {{u"lane"_s, u"sync"_s}}), 2.0);
    QVERIFY(qFuzzyCompare(one(u"batchdesk_cost_usd_total"_s, {{u"job"_s, u"3"_s}}), 0.1));
    QCOMPARE(one(u"batchdesk_cached_input_tokens_total"_s, {{u"job"_s, u"3"_s}}), 2000.0);
    QCOMPARE(one(u"batchdesk_batch_tasks_total"_s, {{u"lane"_s, u"sync"_s}}), 24.0);
    QCOMPARE(one(u"batchdesk_batch_capacity_total"_s, {{u"lane"_s, u"sync"_s}}), 32.0);
    // Gauges.
    QCOMPARE(one(u"batchdesk_queue_pending_tasks"_s, {{u"job"_s, u"3"_s}, {u"priority"_s, u"2"_s}}), 1200.0);
    QCOMPARE(one(u"batchdesk_queue_leased_tasks"_s, {{u"job"_s, u"3"_s}}), 16.0);
    QCOMPARE(one(u"batchdesk_job_running"_s, {{u"job"_s, u"4"_s}}), 0.0);
    QCOMPARE(one(u"batchdesk_oldest_pending_age_seconds"_s, {{u"priority"_s, u"2"_s}}), 90.0);
    QCOMPARE(one(u"batchdesk_oldest_pending_age_seconds"_s, {{u"priority"_s, u"1"_s}}), 30.0);
    QCOMPARE(one(u"batchdesk_alerts_open"_s, {{u"kind"_s, u"error_rate_high"_s}, {u"job"_s, u"3"_s}}), 1.0);
    QCOMPARE(one(u"batchdesk_build_info"_s, {}), 1.0);
    // Time moves: the age gauge follows the clock without any event.
    m_clock->advance(60'000);

    // Histogram invariants: cumulative buckets, +Inf == _count, _sum matches.
    const QList<Sample> buckets = p.find(u"batchdesk_task_wait_seconds_bucket"_s, {{u"priority"_s, u"2"_s}});
    QVERIFY(buckets.size() > 5);
    double previous = 0, previousLe = -1;
    for (const Sample &b : buckets) {
        QVERIFY(b.labels.contains(u"le"_s));
        const double le = b.labels.value(u"le"_s) == u"+Inf"_s ? qInf() : b.labels.value(u"le"_s).toDouble();
        QVERIFY(le > previousLe);
        QVERIFY(b.value >= previous);
        previous = b.value;
        previousLe = le;
    }
    QCOMPARE(buckets.constLast().labels.value(u"le"_s), u"+Inf"_s);
    QCOMPARE(buckets.constLast().value, 40.0);
    QCOMPARE(one(u"batchdesk_task_wait_seconds_count"_s, {{u"priority"_s, u"2"_s}}), 40.0);
    QVERIFY(qFuzzyCompare(one(u"batchdesk_task_wait_seconds_sum"_s, {{u"priority"_s, u"2"_s}}), 82.0));
    QCOMPARE(one(u"batchdesk_task_wait_seconds_bucket"_s, {{u"priority"_s, u"2"_s}, {u"le"_s, u"1"_s}}), 10.0);
    QCOMPARE(one(u"batchdesk_task_wait_seconds_bucket"_s, {{u"priority"_s, u"2"_s}, {u"le"_s, u"2.5"_s}}), 25.0);

    // A second scrape sees the newer figures; HEAD has headers only.
    const Parsed again = parse(fetch(network, url(u"/metrics?x=1"_s)).body);
    QCOMPARE(again.find(u"batchdesk_oldest_pending_age_seconds"_s, {{u"priority"_s, u"2"_s}}).value(0).value, 150.0);
    const Response head = fetch(network, url(u"/metrics"_s), "HEAD");
    QCOMPARE(head.status, 200);
    QVERIFY(head.body.isEmpty());
    QCOMPARE(m_server->scrapes(), 3u);
}

void TestMetricsEndpoint::otherPathsAndMethods()
{
    startServer();
    QNetworkAccessManager network;
    const Response missing = fetch(network, url(u"/"_s));
    QCOMPARE(missing.status, 404);
    QCOMPARE(fetch(network, url(u"/metrics/extra"_s)).status, 404);
    QCOMPARE(fetch(network, url(u"/favicon.ico"_s)).status, 404);
    QCOMPARE(fetch(network, url(u"/metrics"_s), "POST").status, 405);
    QCOMPARE(fetch(network, url(u"/metrics"_s), "DELETE").status, 405);
    QCOMPARE(m_server->scrapes(), 0u);
}

void TestMetricsEndpoint::keepAlivePipeliningAndClose()
{
    startServer();
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, m_server->port());
    QVERIFY(socket.waitForConnected(5000));
    // Two pipelined requests in one write, then a third later on the same connection.
    socket.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                 "GET /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const auto first = readResponses(socket, 2);
    QCOMPARE(first.size(), 2);
    QCOMPARE(first.at(0).first, 200);
    QVERIFY(first.at(0).second.contains("Connection: keep-alive"));
    QCOMPARE(first.at(1).first, 404);
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
    // A request arriving in pieces.
    socket.write("GET /metr");
    socket.flush();
    QTest::qWait(50);
    socket.write("ics HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n");
    const auto second = readResponses(socket, 1);
    QCOMPARE(second.size(), 1);
    QCOMPARE(second.at(0).first, 200);
    // Connection: close is honoured after the answer.
    QSignalSpy disconnected(&socket, &QTcpSocket::disconnected);
    socket.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    const auto third = readResponses(socket, 1);
    QCOMPARE(third.size(), 1);
    QCOMPARE(third.at(0).first, 200);
    QVERIFY(third.at(0).second.contains("Connection: close"));
    QVERIFY(disconnected.size() == 1 || disconnected.wait(5000));
    QCOMPARE(m_server->scrapes(), 3u);
}

void TestMetricsEndpoint::http10ClosesUnlessKeepAlive()
{
    startServer();
    {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, m_server->port());
        QVERIFY(socket.waitForConnected(5000));
        QSignalSpy disconnected(&socket, &QTcpSocket::disconnected);
        socket.write("GET /metrics HTTP/1.0\r\n\r\n");
        QCOMPARE(readResponses(socket, 1).value(0).first, 200);
        QVERIFY(disconnected.size() == 1 || disconnected.wait(5000));
    }
    {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, m_server->port());
        QVERIFY(socket.waitForConnected(5000));
        socket.write("GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        QCOMPARE(readResponses(socket, 1).value(0).first, 200);
        QTest::qWait(100);
        QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
        // Garbage: 400 and closed.
        QSignalSpy disconnected(&socket, &QTcpSocket::disconnected);
        socket.write("NONSENSE\r\n\r\n");
        QCOMPARE(readResponses(socket, 1).value(0).first, 400);
        QVERIFY(disconnected.size() == 1 || disconnected.wait(5000));
    }
    {
        // An oversized request: refused and closed, not buffered forever.
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, m_server->port());
        QVERIFY(socket.waitForConnected(5000));
        socket.write("GET /metrics HTTP/1.1\r\nX-Junk: " + QByteArray(20 * 1024, 'x'));
        QCOMPARE(readResponses(socket, 1).value(0).first, 431);
    }
}

void TestMetricsEndpoint::idleConnectionsAreClosed()
{
    OpenMetricsServer::Options options;
    options.idleTimeoutMs = 200;
    startServer(options);
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, m_server->port());
    QVERIFY(socket.waitForConnected(5000));
    QSignalSpy disconnected(&socket, &QTcpSocket::disconnected);
    QVERIFY(disconnected.wait(5000));
}

void TestMetricsEndpoint::foreignHostIsRefused()
{
    startServer();
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, m_server->port());
    QVERIFY(socket.waitForConnected(5000));
    socket.write("GET /metrics HTTP/1.1\r\nHost: attacker.example:9469\r\n\r\n");
    QCOMPARE(readResponses(socket, 1).value(0).first, 421);
    QCOMPARE(m_server->scrapes(), 0u);
}

void TestMetricsEndpoint::listensOnLoopbackOnly()
{
    startServer();
    QHostAddress external;
    for (const QHostAddress &address : QNetworkInterface::allAddresses()) {
        if (!address.isLoopback() && address.protocol() == QAbstractSocket::IPv4Protocol) {
            external = address;
            break;
        }
    }
    if (external.isNull())
        QSKIP("no non-loopback IPv4 address on this machine");
    QTcpSocket socket;
    socket.connectToHost(external, m_server->port());
    QVERIFY(!socket.waitForConnected(2000));
}

void TestMetricsEndpoint::takenPortIsReported()
{
    startServer();
    OpenMetricsServer second;
    QString error;
    QVERIFY(!second.listen(m_server->port(), &error));
    QVERIFY2(error.contains(QString::number(m_server->port())), qPrintable(error));
    QVERIFY(!second.isListening());
    QCOMPARE(second.port(), quint16(0));
}

QTEST_GUILESS_MAIN(TestMetricsEndpoint)
#include "test_metrics_endpoint.moc"
