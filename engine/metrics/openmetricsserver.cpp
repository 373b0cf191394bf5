#include "openmetricsserver.h"

#include "metrics/exposition.h"

#include <QHostAddress>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>

namespace bd::metrics {

using namespace Qt::StringLiterals;

namespace {

bool isLoopbackHost(QByteArray host)
{
    host = host.trimmed().toLower();
    if (host.startsWith('[')) { // [::1]:port
        const qsizetype end = host.indexOf(']');
        host = end > 0 ? host.mid(1, end - 1) : host;
    } else if (const qsizetype colon = host.lastIndexOf(':'); colon >= 0 && host.count(':') == 1) {
        host = host.left(colon);
    }
    return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.isEmpty();
}

} // namespace

OpenMetricsServer::OpenMetricsServer(QObject *parent)
    : OpenMetricsServer(Options{}, parent)
{
}

OpenMetricsServer::OpenMetricsServer(const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
{
}

OpenMetricsServer::~OpenMetricsServer()
{
    close();
}

void OpenMetricsServer::addSource(Source source)
{
    m_sources.append(std::move(source));
}

bool OpenMetricsServer::listen(quint16 port, QString *error)
{
    close();
    m_server = new QTcpServer(this);
    if (!m_server->listen(QHostAddress(QHostAddress::LocalHost), port)) {
        if (error)
            *error = u"cannot listen on 127.0.0.1:%1 for /metrics: %2"_s.arg(port).arg(m_server->errorString());
        delete m_server;
        m_server = nullptr;
        return false;
    }
    connect(m_server, &QTcpServer::newConnection, this, &OpenMetricsServer::accept);
    return true;
}

void OpenMetricsServer::close()
{
    const QList<QTcpSocket *> sockets = m_connections.keys();
    m_connections.clear();
    for (QTcpSocket *socket : sockets) {
        socket->disconnect(this);
        socket->abort();
        socket->deleteLater();
    }
    if (m_server) {
        m_server->close();
        m_server->deleteLater();
        m_server = nullptr;
    }
}

bool OpenMetricsServer::isListening() const
{
    return m_server && m_server->isListening();
}

quint16 OpenMetricsServer::port() const
{
    return isListening() ? m_server->serverPort() : 0;
}

QString OpenMetricsServer::url() const
{
    return u"http://127.0.0.1:%1/metrics"_s.arg(port());
}

QByteArray OpenMetricsServer::render() const
{
    Exposition exposition;
    exposition.family(u"batchdesk_build_info"_s, Exposition::Type::Gauge,
                      u"Always 1; the version is in the label."_s);
    exposition.sample({{u"version"_s, QString::fromLatin1(BATCHDESK_VERSION)}}, 1);
    for (const Source &source : m_sources)
        source(exposition);
    return exposition.text();
}

void OpenMetricsServer::accept()
{
    while (QTcpSocket *socket = m_server->nextPendingConnection()) {
        if (m_connections.size() >= m_options.maxConnections) {
            socket->write("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n");
            socket->disconnectFromHost();
            connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            continue;
        }
        m_connections.insert(socket, Connection{});
        auto *idle = new QTimer(socket);
        idle->setObjectName(u"idle"_s);
        idle->setSingleShot(true);
        idle->start(m_options.idleTimeoutMs);
        connect(idle, &QTimer::timeout, socket, [socket] { socket->abort(); });
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { readFrom(socket); });
        connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
            m_connections.remove(socket);
            socket->deleteLater();
        });
        connect(socket, &QTcpSocket::errorOccurred, this, [this, socket](QAbstractSocket::SocketError) {
            if (socket->state() == QAbstractSocket::UnconnectedState && m_connections.remove(socket))
                socket->deleteLater();
        });
    }
}

void OpenMetricsServer::fail(QTcpSocket *socket, int status, const QByteArray &reason)
{
    reply(socket, status, reason, reason + '\n', false, false, "text/plain; charset=utf-8");
}

void OpenMetricsServer::readFrom(QTcpSocket *socket)
{
    {
        const auto found = m_connections.find(socket);
        if (found == m_connections.end())
            return;
        if (found->closing) {
            socket->readAll(); // answered and closing: ignore the rest
            return;
        }
        found->buffer += socket->readAll();
    }
    if (auto *idle = socket->findChild<QTimer *>(u"idle"_s, Qt::FindDirectChildrenOnly))
        idle->start(m_options.idleTimeoutMs);

    // Answering may close the socket and drop its entry: look it up again every round and
    // never touch it after reply() / fail().
    for (;;) {
        const auto found = m_connections.find(socket);
        if (found == m_connections.end() || found->closing)
            return;
        if (socket->bytesToWrite() > 8 * 1024 * 1024) {
            socket->abort(); // pipelining without reading the answers
            return;
        }
        Connection &connection = *found;
        const qsizetype headerEnd = connection.buffer.indexOf("\r\n\r\n");
        if (headerEnd < 0) {
            if (connection.buffer.size() > m_options.maxRequestBytes)
                fail(socket, 431, "Request Header Fields Too Large");
            return;
        }
        if (headerEnd > m_options.maxRequestBytes) {
            fail(socket, 431, "Request Header Fields Too Large");
            return;
        }
        const QList<QByteArray> lines = connection.buffer.left(headerEnd).split('\n');
        const QList<QByteArray> requestLine = lines.constFirst().trimmed().split(' ');
        if (requestLine.size() != 3 || !requestLine.at(2).startsWith("HTTP/1.")) {
            fail(socket, 400, "Bad Request");
            return;
        }
        const QByteArray method = requestLine.at(0);
        const QByteArray target = requestLine.at(1);
        const bool http11 = requestLine.at(2) == "HTTP/1.1";
        QByteArray connectionHeader;
        QByteArray host;
        qint64 contentLength = 0;
        bool hasHost = false;
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QByteArray &line = lines.at(i);
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0)
                continue;
            const QByteArray name = line.left(colon).trimmed().toLower();
            const QByteArray value = line.mid(colon + 1).trimmed();
            if (name == "connection") {
                connectionHeader = value.toLower();
            } else if (name == "host") {
                host = value;
                hasHost = true;
            } else if (name == "content-length") {
                bool ok = false;
                contentLength = value.toLongLong(&ok);
                if (!ok || contentLength < 0) {
                    fail(socket, 400, "Bad Request");
                    return;
                }
            } else if (name == "transfer-encoding") {
                fail(socket, 501, "Not Implemented"); // no request bodies here
                return;
            }
        }
        if (contentLength > m_options.maxRequestBytes) {
            fail(socket, 413, "Content Too Large");
            return;
        }
        const qint64 requestSize = headerEnd + 4 + contentLength;
        if (connection.buffer.size() < requestSize)
            return; // the body is still coming
        connection.buffer.remove(0, requestSize);

        const bool keepAlive = http11 ? !connectionHeader.contains("close")
                                      : connectionHeader.contains("keep-alive");
        const bool head = method == "HEAD";
        QByteArray path = target;
        if (const qsizetype query = path.indexOf('?'); query >= 0)
            path.truncate(query);

        if (m_options.checkHost && hasHost && !isLoopbackHost(host)) {
            fail(socket, 421, "Misdirected Request");
            return;
        }
        if (method != "GET" && !head) {
            reply(socket, 405, "Method Not Allowed", "method not allowed\n", keepAlive, false,
                  "text/plain; charset=utf-8", "Allow: GET, HEAD\r\n");
        } else if (path != "/metrics") {
            reply(socket, 404, "Not Found", "not found; the figures are at /metrics\n", keepAlive,
                  head, "text/plain; charset=utf-8");
        } else {
            ++m_scrapes;
            reply(socket, 200, "OK", render(), keepAlive, head, Exposition::kContentType);
        }
    }
}

void OpenMetricsServer::reply(QTcpSocket *socket, int status, const QByteArray &reason,
                              const QByteArray &body, bool keepAlive, bool headOnly,
                              const QByteArray &contentType, const QByteArray &extraHeaders)
{
    QByteArray response = "HTTP/1.1 " + QByteArray::number(status) + ' ' + reason + "\r\n";
    response += "Content-Type: " + contentType + "\r\n";
    response += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    response += "Cache-Control: no-store\r\n";
    response += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    response += extraHeaders;
    response += "\r\n";
    if (!headOnly)
        response += body;
    socket->write(response);
    if (!keepAlive) {
        if (const auto it = m_connections.find(socket); it != m_connections.end()) {
            it->closing = true;
            it->buffer.clear();
        }
        socket->disconnectFromHost(); // after the answer has been written
    }
}

} // namespace bd::metrics
