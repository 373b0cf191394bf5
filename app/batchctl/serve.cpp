#include "commands.h"
#include "jobstarter.h"
#include "serveapi.h"
#include "servehttp.h"
#include "servewebhooks.h"
#include "session.h"
#include "signalwatcher.h"

#include <QEventLoop>
#include <QFile>
#include <QHostAddress>
#include <QSet>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

constexpr quint16 kDefaultPort = 8787;
constexpr int kQueueRefreshMs = 5'000;
constexpr int kSubmissionDrainMs = 10'000;
constexpr int kStopTimeoutMs = 60'000;

struct ListenAddress
{
    QHostAddress host;
    quint16 port = kDefaultPort;
};

// HOST:PORT, [IPv6]:PORT, or HOST alone (the default port).
ListenAddress parseListen(const QString &text)
{
    QString host = text;
    QString port;
    if (text.startsWith(u'[')) {
        const qsizetype close = text.indexOf(u']');
        if (close < 0)
            throw UsageError{u"--listen %1: an IPv6 address is written [ADDRESS]:PORT"_s.arg(text)};
        host = text.mid(1, close - 1);
        if (text.mid(close + 1).startsWith(u':'))
            port = text.mid(close + 2);
    } else if (const qsizetype colon = text.lastIndexOf(u':'); colon >= 0) {
        host = text.left(colon);
        port = text.mid(colon + 1);
    }
    ListenAddress address;
    if (host == u"localhost"_s)
        host = u"127.0.0.1"_s;
    if (!address.host.setAddress(host))
        throw UsageError{u"--listen %1: %2 is not an IP address"_s.arg(text, host)};
    if (!port.isEmpty()) {
        bool ok = false;
        const uint number = port.toUInt(&ok);
        if (!ok || number > 65535)
            throw UsageError{u"--listen %1: %2 is not a port"_s.arg(text, port)};
        address.port = quint16(number);
    }
    return address;
}

// The token from --token-file or BATCHDESK_API_TOKEN; empty when neither is set. Never printed.
QString readToken(const Invocation &in)
{
    if (in.parser.isSet(u"token-file"_s)) {
        const QString path = in.parser.value(u"token-file"_s);
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            throw UsageError{u"--token-file %1: %2"_s.arg(path, file.errorString())};
        const QString token = QString::fromUtf8(file.read(4096)).trimmed();
        if (token.isEmpty() || token.contains(u'\n'))
            throw UsageError{
                u"--token-file %1: line 1: one token on one line expected"_s.arg(path)};
        return token;
    }
    return qEnvironmentVariable("BATCHDESK_API_TOKEN").trimmed();
}

// Starts the queues' jobs on this engine: those there at start, those defined through the
// API, and those another process defines (looked for every few seconds); keeps the
// webhooks' list in step with the queues.
class QueueStarter final : public QObject
{
public:
    QueueStarter(Session &session, WebhookDeliverer &webhooks, bool work)
        : m_webhooks(webhooks)
        , m_work(work)
        , m_starter(session, kQueueRefreshMs, [&session] { session.engine().requestQueues(); })
    {
        connect(&session.engine(), &bd::Engine::queuesListed, this, &QueueStarter::start);
    }

    JobStarter &starter() { return m_starter; }

private:
    void start(const QList<bd::QueueInfo> &queues)
    {
        QHash<qint64, QUrl> webhooks;
        for (const bd::QueueInfo &queue : queues) {
            if (!queue.spec.webhook.isEmpty())
                webhooks.insert(queue.jobId, QUrl(queue.spec.webhook));
            if (!m_work || !m_starter.isCandidate(queue.jobId) ||
                !isStartable(queue.state, queue.stateReason))
                continue;
            if (m_starter.start({queue.jobId,
                                 u"queue %1 (job %2)"_s.arg(queue.name).arg(queue.jobId),
                                 queue.spec.provider, queue.spec.baseUrl, queue.spec.settings}))
                printErr(u"serving queue %1 (job %2)"_s.arg(queue.name).arg(queue.jobId));
        }
        m_webhooks.setWebhooks(webhooks);
    }

    WebhookDeliverer &m_webhooks;
    bool m_work;
    JobStarter m_starter;
};

} // namespace

// `serve`: the intake API (API.md) over HTTP, with the engine working on the queues unless
// --no-work. SIGTERM or SIGINT: stop accepting, answer what was asked, hand back what is in
// flight, exit 0.
int commandServe(const Invocation &in)
{
    const ListenAddress address =
        parseListen(in.parser.isSet(u"listen"_s) ? in.parser.value(u"listen"_s)
                                                 : u"127.0.0.1:%1"_s.arg(kDefaultPort));
    const QString token = readToken(in);
    if (token.isEmpty() && !address.host.isLoopback())
        throw UsageError{
            u"--listen %1: without a token (BATCHDESK_API_TOKEN or --token-file) serve listens "
            "only on a loopback address"_s.arg(address.host.toString())};
    const bool work = !in.parser.isSet(u"no-work"_s);

    Session session(in.database, in.json);
    if (!session.open())
        return ExitFatal;
    bd::Engine &engine = session.engine();
    IntakeApi api(engine, token);
    HttpServer http(HttpServer::Limits{},
                    [&api](const HttpRequest &request, HttpResponder responder) {
                        api.handle(request, std::move(responder));
                    });
    QString error;
    if (!http.listen(address.host, address.port, &error)) {
        printErr(u"cannot listen on %1:%2: %3"_s.arg(address.host.toString())
                     .arg(address.port)
                     .arg(error));
        return ExitFatal;
    }
    const QString hostText = address.host.protocol() == QAbstractSocket::IPv6Protocol
                                 ? u"[%1]"_s.arg(address.host.toString())
                                 : address.host.toString();
    // One line on stdout, for scripts (and tests) that asked for port 0.
    printOut(u"listening on http://%1:%2 (%3)"_s.arg(hostText)
                 .arg(http.port())
                 .arg(token.isEmpty() ? u"no token: loopback only"_s : u"token required"_s));

    WebhookDeliverer webhooks(engine);
    QueueStarter queues(session, webhooks, work);
    JobStarter &starter = queues.starter();
    QObject::connect(&api, &IntakeApi::queueReady, &queues,
                     [&starter](qint64) { starter.refresh(); });
    starter.refresh();

    QEventLoop loop;
    SignalWatcher signalWatcher;
    bool stopping = false;
    signalWatcher.onSignal(&loop, [&] {
        if (std::exchange(stopping, true))
            return;
        printErr(u"stopping: no new connections; answers in flight are kept, leases handed back"_s);
        http.stopListening();
        starter.stopping();
        api.closeAll();
        // Submissions already with the engine are stored and answered before it stops.
        QElapsedTimer waited;
        waited.start();
        auto *drain = new QTimer(&loop);
        drain->setInterval(20);
        QObject::connect(drain, &QTimer::timeout, &loop, [&, drain, waited] {
            if (api.waiting() > 0 && waited.elapsed() < kSubmissionDrainMs)
                return;
            drain->stop();
            webhooks.stop();
            QObject::connect(&engine, &bd::Engine::stoppedAll, &loop, &QEventLoop::quit);
            QTimer::singleShot(kStopTimeoutMs, &loop, &QEventLoop::quit);
            engine.stopAll(bd::StopCause::EngineShutdown);
        });
        drain->start();
    });
    loop.exec();
    return ExitFinished;
}

} // namespace batchctl
