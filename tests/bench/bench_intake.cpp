// Intake API figures, through the real `batchctl serve` over HTTP on 127.0.0.1 with the
// zero-latency simulator:
//  (a) sustained intake: requests of 1,000 tasks back to back for a while, as fast as they
//      are accepted, while the same process drains them; accepted tasks/s, drained tasks/s,
//      and the server's RSS over time (flat means no growth with the work done);
//  (b) priority 1 through a 100,000-task priority-3 backlog: submit-to-answer latency
//      (POST one priority-1 task, then GET ?wait) p50/p95/max of the probes answered while
//      the backlog lasted.
//
//   bench_intake [--seconds N] [--backlog N] [--probes N] [--batchctl PATH]

#include <algorithm>
#include <cstdio>
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

class Serve
{
public:
    Serve(const QString &batchctl, const QString &database, const QStringList &extra = {})
    {
        m_process.setProcessChannelMode(QProcess::SeparateChannels);
        m_process.start(
            batchctl,
            QStringList{u"serve"_s, u"--db"_s, database, u"--listen"_s, u"127.0.0.1:0"_s} + extra);
        static const QRegularExpression listening(u"listening on (http://[^ ]+) "_s);
        QByteArray out;
        QElapsedTimer timer;
        timer.start();
        while (m_base.isEmpty() && timer.elapsed() < 30'000 &&
               m_process.state() != QProcess::NotRunning) {
            m_process.waitForReadyRead(100);
            out += m_process.readAllStandardOutput();
            if (const auto match = listening.match(QString::fromUtf8(out)); match.hasMatch())
                m_base = match.captured(1);
        }
    }
    ~Serve()
    {
        m_process.terminate();
        if (!m_process.waitForFinished(60'000))
            m_process.kill();
    }
    QString base() const { return m_base; }
    qint64 pid() const { return m_process.processId(); }

private:
    QProcess m_process;
    QString m_base;
};

double percentile(QList<double> values, double p)
{
    if (values.isEmpty())
        return 0;
    std::sort(values.begin(), values.end());
    return values.at(
        qMin<qsizetype>(values.size() - 1, qsizetype(p * double(values.size() - 1) + 0.5)));
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    parser.addOptions(
        {{u"seconds"_s, u"Duration of the sustained intake run."_s, u"N"_s, u"60"_s},
         {u"backlog"_s, u"Priority-3 tasks before the priority-1 probes."_s, u"N"_s, u"100000"_s},
         {u"probes"_s, u"Priority-1 tasks timed."_s, u"N"_s, u"100"_s},
         {u"verbose"_s, u"Print each priority-1 probe."_s},
         {u"batchctl"_s, u"The batchctl to run."_s, u"PATH"_s,
          QCoreApplication::applicationDirPath() + u"/batchctl"_s}});
    parser.process(app);
    const QString batchctl = parser.value(u"batchctl"_s);
    QTemporaryDir dir;
    qint64 serial = 0;

    // (a) sustained intake while draining.
    {
        Serve serve(batchctl, dir.filePath(u"intake.sqlite"_s));
        if (serve.base().isEmpty()) {
            std::fprintf(stderr, "batchctl serve did not start\n");
            return 1;
        }
        const QString base = serve.base();
        call(
            "POST", base + u"/v1/queues"_s,
            R"({"name": "intake", "template": "Answer briefly: {{question}}", "priority": 2, "max_pending": 1000000})");
        const int seconds = parser.value(u"seconds"_s).toInt();
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
                nextReport += 5'000;
            }
        }
        const double elapsed = timer.elapsed() / 1000.0;
        const Reply queue = call("GET", base + u"/v1/queues/intake"_s);
        const qint64 completed = queue.json.value(u"completed"_s).toInteger();
        std::printf("    accepted %.0f tasks/s (%lld in %.1f s, %lld requests refused); drained "
                    "%.0f tasks/s; "
                    "RSS at end %.1f MiB\n",
                    accepted / elapsed, accepted, elapsed, refused, completed / elapsed,
                    rssKiB(serve.pid()) / 1024.0);
    }

    // (b) priority 1 through a priority-3 backlog.
    {
        // The backlog goes in while nothing drains (--no-work); then a serve that works starts
        // on the whole of it and the probes begin.
        const QString database = dir.filePath(u"priority.sqlite"_s);
        const int backlog = parser.value(u"backlog"_s).toInt();
        {
            Serve filler(batchctl, database, {u"--no-work"_s});
            call(
                "POST", filler.base() + u"/v1/queues"_s,
                R"({"name": "mixed", "template": "Answer briefly: {{question}}", "priority": 3, "max_pending": 1000000})");
            for (int sent = 0; sent < backlog; sent += 1000)
                call("POST", filler.base() + u"/v1/queues/mixed/tasks"_s,
                     tasksBody(qMin(1000, backlog - sent), 3, serial));
        }
        Serve serve(batchctl, database);
        const QString base = serve.base();
        const int probes = parser.value(u"probes"_s).toInt();
        // Only probes answered while the backlog was still there count towards the goal; on a
        // quiet machine the zero-latency simulator drains 100,000 tasks in seconds, so probes
        // after that would measure an empty queue. Those are reported apart.
        QList<double> duringBacklog;
        QList<double> afterBacklog;
        qint64 minBacklog = std::numeric_limits<qint64>::max();
        qint64 maxBacklog = 0;
        for (int i = 0; duringBacklog.size() < probes && afterBacklog.size() < probes; ++i) {
            QElapsedTimer timer;
            timer.start();
            const Reply submitted =
                call("POST", base + u"/v1/queues/mixed/tasks"_s, tasksBody(1, 1, serial));
            const double submitMs = double(timer.nsecsElapsed()) / 1e6;
            const qint64 id = submitted.json.value(u"task_ids"_s).toArray().at(0).toInteger();
            const Reply answer = call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(id));
            const double answerMs = double(timer.nsecsElapsed()) / 1e6;
            if (answer.json.value(u"status"_s).toString() != u"completed"_s)
                std::fprintf(stderr, "probe %d: %s\n", i,
                             qPrintable(answer.json.value(u"status"_s).toString()));
            const Reply queue = call("GET", base + u"/v1/queues/mixed"_s);
            const qint64 depth = queue.json.value(u"pending"_s).toInteger() +
                                 queue.json.value(u"leased"_s).toInteger();
            if (parser.isSet(u"verbose"_s))
                std::printf("    probe %3d: submit %.1f ms, answer %.1f ms, backlog %lld\n", i,
                            submitMs, answerMs, depth);
            (depth > 0 ? duringBacklog : afterBacklog).append(answerMs);
            if (depth > 0) {
                minBacklog = qMin(minBacklog, depth);
                maxBacklog = qMax(maxBacklog, depth);
            }
        }
        std::printf("(b) priority 1 through a %d-task priority-3 backlog (zero-latency simulator)\n",
                    backlog);
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
    return 0;
}
