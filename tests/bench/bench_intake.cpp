// Intake API figures, through the real `batchctl serve` over HTTP on 127.0.0.1 with the
// zero-latency simulator:
//  (a) sustained intake: requests of 1,000 tasks back to back for a while, as fast as they
//      are accepted, while the same process drains them; accepted tasks/s, drained tasks/s,
//      and the server's RSS over time (flat means no growth with the work done);
//  (b) priority 1 through a 100,000-task priority-3 backlog: submit-to-answer latency
//      (POST one priority-1 task, then GET ?wait) p50/p95/max of the probes answered while
//      the backlog lasted;
//  (c) the same through a rate-limited loopback provider (batchdesk-fakeprovider, 100 ms an
//      answer, 1,200 requests a minute enforced, the queue's --rpm at that limit): the
//      priority-3 backlog keeps the limit busy, so each probe waits for the next free slot;
//  (d) the guide's load test: 3x an expected 1M tasks a day (34.7 tasks/s) for 10 minutes,
//      priorities mixed (10 % 1, 30 % 2, 60 % 3), against the 100 ms loopback provider; every
//      answer comes back by webhook; latency per priority (submit -> webhook), queue depth
//      and serve's RSS over time, and whether anything was lost or delivered twice.
//
//   bench_intake [--parts abc|d|abcd] [--seconds N] [--backlog N] [--probes N]
//                [--load-seconds N] [--load-rate TASKS_PER_S] [--batchctl PATH]

#include "webhookreceiver.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTimer>

using namespace Qt::StringLiterals;

namespace {

struct Reply
{
    int status = 0;
    QJsonObject json;
};

QNetworkAccessManager *network()
{
    static QNetworkAccessManager manager;
    return &manager;
}

Reply call(const QByteArray &method, const QString &url, const QByteArray &body = {})
{
    QNetworkRequest request{QUrl(url)};
    request.setHeader(QNetworkRequest::ContentTypeHeader, u"application/json"_s);
    QNetworkReply *reply = network()->sendCustomRequest(request, method, body);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    if (!reply->isFinished())
        loop.exec();
    Reply result{reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(),
                 QJsonDocument::fromJson(reply->readAll()).object()};
    reply->deleteLater();
    return result;
}

QByteArray tasksBody(int count, int priority, qint64 &serial)
{
    QJsonArray tasks;
    for (int i = 0; i < count; ++i)
        tasks.append(QJsonObject{
            {u"vars"_s, QJsonObject{{u"question"_s, u"question number %1"_s.arg(serial++)}}},
            {u"priority"_s, priority}});
    return QJsonDocument(QJsonObject{{u"tasks"_s, tasks}}).toJson(QJsonDocument::Compact);
}

qint64 rssKiB(qint64 pid)
{
    QFile status(u"/proc/%1/status"_s.arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

// A child process that prints "listening on ..." once ready (batchctl serve, the fake provider).
class ListeningChild
{
public:
    ListeningChild(const QString &program, const QStringList &arguments, const QString &pattern)
    {
        m_process.setProcessChannelMode(QProcess::SeparateChannels);
        m_process.start(program, arguments);
        const QRegularExpression listening(pattern);
        QByteArray out;
        QElapsedTimer timer;
        timer.start();
        while (m_address.isEmpty() && timer.elapsed() < 30'000 &&
               m_process.state() != QProcess::NotRunning) {
            m_process.waitForReadyRead(100);
            out += m_process.readAllStandardOutput();
            if (const auto match = listening.match(QString::fromUtf8(out)); match.hasMatch())
                m_address = match.captured(1);
        }
    }
    ~ListeningChild()
    {
        m_process.terminate();
        if (!m_process.waitForFinished(60'000))
            m_process.kill();
    }
    QString address() const { return m_address; }
    qint64 pid() const { return m_process.processId(); }

private:
    QProcess m_process;
    QString m_address;
};

class Serve : public ListeningChild
{
public:
    Serve(const QString &batchctl, const QString &database, const QStringList &extra = {})
        : ListeningChild(batchctl,
                         QStringList{u"serve"_s, u"--db"_s, database, u"--listen"_s,
                                     u"127.0.0.1:0"_s} +
                             extra,
                         u"listening on (http://[^ ]+) "_s)
    {
    }
    QString base() const { return address(); }
};

// batchdesk-fakeprovider: OpenAI-compatible answers after `latencyMs`, at most `perMinute`
// requests in any minute (429 beyond, with rate-limit headers).
class FakeProviderProcess : public ListeningChild
{
public:
    FakeProviderProcess(int latencyMs, int perMinute)
        : ListeningChild(QCoreApplication::applicationDirPath() + u"/batchdesk-fakeprovider"_s,
                         {u"--latency-ms"_s, QString::number(latencyMs), u"--rate-limit"_s,
                          QString::number(perMinute), u"--window-ms"_s, u"60000"_s,
                          u"--sliding"_s},
                         u"listening on (\\d+)"_s)
    {
    }
    QString baseUrl() const { return u"http://127.0.0.1:%1/v1"_s.arg(address()); }
};

// A queue on the fake provider, paced at its limit.
QByteArray rateLimitedQueue(const QString &name, int priority, const FakeProviderProcess &provider,
                            int perMinute, const QString &webhook = {})
{
    QJsonObject queue{{u"name"_s, name},
                      {u"template"_s, u"Answer briefly: {{question}}"_s},
                      {u"provider"_s, u"openai-compatible"_s},
                      {u"base_url"_s, provider.baseUrl()},
                      {u"model"_s, u"fake-model"_s},
                      {u"priority"_s, priority},
                      {u"max_pending"_s, 1'000'000},
                      {u"settings"_s, QJsonObject{{u"rpm"_s, perMinute}}}};
    if (!webhook.isEmpty())
        queue.insert(u"webhook"_s, webhook);
    return QJsonDocument(queue).toJson(QJsonDocument::Compact);
}

// Waits `ms` with the event loop running (the webhook receiver answers meanwhile).
void spin(int ms)
{
    QEventLoop loop;
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    loop.exec();
}

double percentile(QList<double> values, double p)
{
    if (values.isEmpty())
        return 0;
    std::sort(values.begin(), values.end());
    return values.at(
        qMin<qsizetype>(values.size() - 1, qsizetype(p * double(values.size() - 1) + 0.5)));
}

// Priority-1 probes through a backlog already in `queue`: POST one task, then GET ?wait until
// it is answered. Only probes answered while the backlog was still there count; on a quiet
// machine the zero-latency simulator drains 100,000 tasks in seconds, so probes after that
// would measure an empty queue. Those are reported apart.
void probePriorityOne(const QString &base, const QString &queue, int probes, bool verbose,
                      qint64 &serial)
{
    QList<double> duringBacklog;
    QList<double> afterBacklog;
    qint64 minBacklog = std::numeric_limits<qint64>::max();
    qint64 maxBacklog = 0;
    for (int i = 0; duringBacklog.size() < probes && afterBacklog.size() < probes; ++i) {
        QElapsedTimer timer;
        timer.start();
        const Reply submitted =
            call("POST", base + u"/v1/queues/%1/tasks"_s.arg(queue), tasksBody(1, 1, serial));
        const double submitMs = double(timer.nsecsElapsed()) / 1e6;
        const qint64 id = submitted.json.value(u"task_ids"_s).toArray().at(0).toInteger();
        const Reply answer = call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(id));
        const double answerMs = double(timer.nsecsElapsed()) / 1e6;
        if (answer.json.value(u"status"_s).toString() != u"completed"_s)
            std::fprintf(stderr, "probe %d: %s\n", i,
                         qPrintable(answer.json.value(u"status"_s).toString()));
        const Reply depthReply = call("GET", base + u"/v1/queues/%1"_s.arg(queue));
        const qint64 depth = depthReply.json.value(u"pending"_s).toInteger() +
                             depthReply.json.value(u"leased"_s).toInteger();
        if (verbose)
            std::printf("    probe %3d: submit %.1f ms, answer %.1f ms, backlog %lld\n", i,
                        submitMs, answerMs, depth);
        (depth > 0 ? duringBacklog : afterBacklog).append(answerMs);
        if (depth > 0) {
            minBacklog = qMin(minBacklog, depth);
            maxBacklog = qMax(maxBacklog, depth);
        }
    }
    if (!duringBacklog.isEmpty())
        std::printf("    %lld probes while the backlog lasted (%lld..%lld left): submit-to-answer "
                    "p50 %.1f ms, p95 %.1f ms, max %.1f ms\n",
                    qint64(duringBacklog.size()), minBacklog, maxBacklog,
                    percentile(duringBacklog, 0.5), percentile(duringBacklog, 0.95),
                    percentile(duringBacklog, 1.0));
    if (duringBacklog.size() < probes)
        std::printf("    the backlog drained before %d probes (a larger --backlog gives more); "
                    "%lld probes on the empty queue after it: p50 %.1f ms, p95 %.1f ms\n",
                    probes, qint64(afterBacklog.size()), percentile(afterBacklog, 0.5),
                    percentile(afterBacklog, 0.95));
}

// Fills `queue` (created by `createBody`) with a priority-3 backlog while nothing drains
// (serve --no-work), so the probes start against the whole of it.
void fillBacklog(const QString &batchctl, const QString &database, const QByteArray &createBody,
                 const QString &queue, int backlog, qint64 &serial)
{
    Serve filler(batchctl, database, {u"--no-work"_s});
    call("POST", filler.base() + u"/v1/queues"_s, createBody);
    for (int sent = 0; sent < backlog; sent += 1000)
        call("POST", filler.base() + u"/v1/queues/%1/tasks"_s.arg(queue),
             tasksBody(qMin(1000, backlog - sent), 3, serial));
}

void sustainedIntake(const QString &batchctl, const QString &database, int seconds,
                     qint64 &serial)
{
    Serve serve(batchctl, database);
    if (serve.base().isEmpty()) {
        std::fprintf(stderr, "batchctl serve did not start\n");
        std::exit(1);
    }
    const QString base = serve.base();
    call(
        "POST", base + u"/v1/queues"_s,
        R"({"name": "intake", "template": "Answer briefly: {{question}}", "priority": 2, "max_pending": 1000000})");
    std::printf("(a) sustained intake, requests of 1,000 tasks, zero-latency simulator "
                "draining, %d s\n",
                seconds);
    std::printf("    %6s %12s %12s %12s %10s\n", "t(s)", "accepted", "completed", "backlog",
                "RSS MiB");
    QElapsedTimer timer;
    timer.start();
    qint64 accepted = 0;
    qint64 nextReport = 0;
    qint64 refused = 0;
    while (timer.elapsed() < seconds * 1000LL) {
        const Reply reply =
            call("POST", base + u"/v1/queues/intake/tasks"_s, tasksBody(1000, 2, serial));
        if (reply.status == 202)
            accepted += reply.json.value(u"accepted"_s).toInt();
        else
            ++refused;
        if (timer.elapsed() >= nextReport) {
            const Reply queue = call("GET", base + u"/v1/queues/intake"_s);
            std::printf("    %6.1f %12lld %12lld %12lld %10.1f\n", timer.elapsed() / 1000.0,
                        accepted, queue.json.value(u"completed"_s).toInteger(),
                        queue.json.value(u"pending"_s).toInteger() +
                            queue.json.value(u"leased"_s).toInteger(),
                        rssKiB(serve.pid()) / 1024.0);
            nextReport += seconds > 120 ? 30'000 : 5'000;
        }
    }
    const double elapsed = timer.elapsed() / 1000.0;
    const Reply queue = call("GET", base + u"/v1/queues/intake"_s);
    const qint64 completed = queue.json.value(u"completed"_s).toInteger();
    std::printf("    accepted %.0f tasks/s (%lld in %.1f s, %lld requests refused); drained "
                "%.0f tasks/s; RSS at end %.1f MiB\n",
                accepted / elapsed, accepted, elapsed, refused, completed / elapsed,
                rssKiB(serve.pid()) / 1024.0);
}

// (d): tasks at `ratePerSecond` for `seconds`, priorities mixed, answers by webhook.
void loadTest(const QString &batchctl, const QString &database, int seconds,
              double ratePerSecond, qint64 &serial)
{
    constexpr int perMinute = 6000;
    FakeProviderProcess provider(100, perMinute);
    Serve serve(batchctl, database);
    if (serve.base().isEmpty() || provider.address().isEmpty()) {
        std::fprintf(stderr, "batchctl serve or the fake provider did not start\n");
        std::exit(1);
    }
    const QString base = serve.base();
    bd::testing::WebhookReceiver receiver;
    receiver.keepBodies = false;
    QElapsedTimer clock;
    clock.start();
    struct Sent
    {
        int priority = 0;
        double submittedMs = 0;
    };
    QHash<qint64, Sent> sent;
    QList<double> latencies[4];
    receiver.onFirstAccepted = [&](qint64 id, const QJsonObject &task) {
        const auto it = sent.constFind(id);
        if (it == sent.cend() || task.value(u"status"_s).toString() != u"completed"_s)
            return;
        latencies[it->priority].append(double(clock.nsecsElapsed()) / 1e6 - it->submittedMs);
    };
    call("POST", base + u"/v1/queues"_s,
         rateLimitedQueue(u"load"_s, 2, provider, perMinute, receiver.url()));
    std::printf("(d) load test: %.1f tasks/s (3x 1M a day) for %d s, priorities 10 %% 1 / 30 %% 2 "
                "/ 60 %% 3, loopback provider 100 ms, answers by webhook\n",
                ratePerSecond, seconds);
    std::printf("    %6s %10s %10s %10s %10s\n", "t(s)", "submitted", "delivered", "depth",
                "RSS MiB");
    // A fixed sequence of priorities (a linear congruential walk), the same every run.
    quint32 walk = 12345;
    const auto nextPriority = [&walk] {
        walk = walk * 1664525u + 1013904223u;
        const quint32 pick = (walk >> 8) % 10;
        return pick == 0 ? 1 : pick <= 3 ? 2 : 3;
    };
    constexpr int tickMs = 200;
    double owed = 0;
    qint64 submitted = 0;
    qint64 refused = 0;
    qint64 maxDepth = 0;
    qint64 nextReport = 0;
    const auto report = [&] {
        const Reply queue = call("GET", base + u"/v1/queues/load"_s);
        const qint64 depth = queue.json.value(u"pending"_s).toInteger() +
                             queue.json.value(u"leased"_s).toInteger();
        maxDepth = qMax(maxDepth, depth);
        std::printf("    %6.0f %10lld %10lld %10lld %10.1f\n", clock.elapsed() / 1000.0, submitted,
                    receiver.acceptedCount, depth, rssKiB(serve.pid()) / 1024.0);
        std::fflush(stdout);
    };
    for (qint64 tick = 0; tick * tickMs < seconds * 1000LL; ++tick) {
        owed += ratePerSecond * tickMs / 1000.0;
        const int count = int(owed);
        owed -= count;
        if (count > 0) {
            QJsonArray tasks;
            QList<int> priorities;
            for (int i = 0; i < count; ++i) {
                priorities.append(nextPriority());
                tasks.append(QJsonObject{
                    {u"vars"_s,
                     QJsonObject{{u"question"_s, u"load question %1"_s.arg(serial++)}}},
                    {u"priority"_s, priorities.last()}});
            }
            const double submittedMs = double(clock.nsecsElapsed()) / 1e6;
            const Reply reply =
                call("POST", base + u"/v1/queues/load/tasks"_s,
                     QJsonDocument(QJsonObject{{u"tasks"_s, tasks}}).toJson(QJsonDocument::Compact));
            if (reply.status != 202) {
                ++refused;
            } else {
                const QJsonArray ids = reply.json.value(u"task_ids"_s).toArray();
                for (int i = 0; i < ids.size(); ++i)
                    sent.insert(ids.at(i).toInteger(), {priorities.value(i), submittedMs});
                submitted += ids.size();
            }
        }
        if (clock.elapsed() >= nextReport) {
            report();
            nextReport += 30'000;
        }
        const qint64 nextTickMs = (tick + 1) * tickMs;
        if (clock.elapsed() < nextTickMs)
            spin(int(nextTickMs - clock.elapsed()));
    }
    // Everything accepted must come back; give the tail (priority 2 and 3 groups) time.
    QElapsedTimer tail;
    tail.start();
    while (receiver.acceptedCount < submitted && tail.elapsed() < 300'000)
        spin(200);
    report();
    std::printf("    %lld submitted (%lld requests refused), %lld delivered, %lld lost, %lld "
                "delivered more than once; max depth %lld; tail %.1f s after the last submission\n",
                submitted, refused, receiver.acceptedCount, submitted - receiver.acceptedCount,
                receiver.duplicateCount, maxDepth, tail.elapsed() / 1000.0);
    for (int priority = 1; priority <= 3; ++priority)
        std::printf("    priority %d: %lld tasks, submit -> webhook p50 %.0f ms, p95 %.0f ms, "
                    "max %.0f ms\n",
                    priority, qint64(latencies[priority].size()),
                    percentile(latencies[priority], 0.5), percentile(latencies[priority], 0.95),
                    percentile(latencies[priority], 1.0));
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    parser.addOptions(
        {{u"parts"_s, u"Which parts to run (a, b, c, d; d is the 10-minute load test)."_s,
          u"LETTERS"_s, u"abc"_s},
         {u"seconds"_s, u"Duration of the sustained intake run."_s, u"N"_s, u"60"_s},
         {u"backlog"_s, u"Priority-3 tasks before the priority-1 probes."_s, u"N"_s, u"100000"_s},
         {u"probes"_s, u"Priority-1 tasks timed."_s, u"N"_s, u"100"_s},
         {u"load-seconds"_s, u"Duration of the load test."_s, u"N"_s, u"600"_s},
         {u"load-rate"_s, u"Tasks per second in the load test (3x 1M a day)."_s, u"R"_s,
          u"34.72"_s},
         {u"verbose"_s, u"Print each priority-1 probe."_s},
         {u"batchctl"_s, u"The batchctl to run."_s, u"PATH"_s,
          QCoreApplication::applicationDirPath() + u"/batchctl"_s}});
    parser.process(app);
    const QString batchctl = parser.value(u"batchctl"_s);
    const QString parts = parser.value(u"parts"_s);
    const int backlog = parser.value(u"backlog"_s).toInt();
    const int probes = parser.value(u"probes"_s).toInt();
    const bool verbose = parser.isSet(u"verbose"_s);
    QTemporaryDir dir;
    qint64 serial = 0;

    if (parts.contains(u'a'))
        sustainedIntake(batchctl, dir.filePath(u"intake.sqlite"_s),
                        parser.value(u"seconds"_s).toInt(), serial);

    if (parts.contains(u'b')) {
        const QString database = dir.filePath(u"priority.sqlite"_s);
        fillBacklog(
            batchctl, database,
            R"({"name": "mixed", "template": "Answer briefly: {{question}}", "priority": 3, "max_pending": 1000000})",
            u"mixed"_s, backlog, serial);
        Serve serve(batchctl, database);
        std::printf("(b) priority 1 through a %d-task priority-3 backlog (zero-latency simulator)\n",
                    backlog);
        probePriorityOne(serve.base(), u"mixed"_s, probes, verbose, serial);
    }

    if (parts.contains(u'c')) {
        constexpr int perMinute = 1200;
        FakeProviderProcess provider(100, perMinute);
        const QString database = dir.filePath(u"limited.sqlite"_s);
        fillBacklog(batchctl, database, rateLimitedQueue(u"limited"_s, 3, provider, perMinute),
                    u"limited"_s, backlog, serial);
        Serve serve(batchctl, database);
        std::printf("(c) priority 1 through a %d-task priority-3 backlog, loopback provider: 100 ms "
                    "an answer, %d requests a minute enforced and used\n",
                    backlog, perMinute);
        probePriorityOne(serve.base(), u"limited"_s, probes, verbose, serial);
        const Reply stats = call("GET", provider.baseUrl().chopped(3) + u"/fake/stats"_s);
        std::printf("    provider: %s\n",
                    QJsonDocument(stats.json).toJson(QJsonDocument::Compact).constData());
    }

    if (parts.contains(u'd'))
        loadTest(batchctl, dir.filePath(u"load.sqlite"_s), parser.value(u"load-seconds"_s).toInt(),
                 parser.value(u"load-rate"_s).toDouble(), serial);
    return 0;
}
