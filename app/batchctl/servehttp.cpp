#include "servehttp.h"

#include <QHttpServerRequest>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpSocket>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

QByteArray methodName(QHttpServerRequest::Method method)
{
    switch (method) {
    case QHttpServerRequest::Method::Get:
        return "GET";
    case QHttpServerRequest::Method::Put:
        return "PUT";
    case QHttpServerRequest::Method::Delete:
        return "DELETE";
    case QHttpServerRequest::Method::Post:
        return "POST";
    case QHttpServerRequest::Method::Head:
        return "HEAD";
    case QHttpServerRequest::Method::Options:
        return "OPTIONS";
    case QHttpServerRequest::Method::Patch:
        return "PATCH";
    default:
        return "OTHER";
    }
}

void writeResponse(QTcpSocket *socket, int status, const QByteArray &json, bool keepAlive,
                   const QList<QPair<QByteArray, QByteArray>> &headers)
{
    QByteArray head = "HTTP/1.1 " + QByteArray::number(status) + ' ' + reasonPhrase(status) +
                      "\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: " +
                      QByteArray::number(json.size()) +
                      "\r\n"
                      "Cache-Control: no-store\r\n";
    for (const auto &[name, value] : headers)
        head += name + ": " + value + "\r\n";
    head += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    socket->write(head);
    socket->write(json);
}

} // namespace

QByteArray errorBody(const QString &type, const QString &message)
{
    return QJsonDocument(
               QJsonObject{{u"error"_s, QJsonObject{{u"type"_s, type}, {u"message"_s, message}}}})
        .toJson(QJsonDocument::Compact);
}

HttpResponder::HttpResponder(QTcpSocket *socket, bool keepAlive, std::shared_ptr<bool> answered)
    : m_socket(socket)
    , m_keepAlive(keepAlive)
    , m_answered(std::move(answered))
{
}

bool HttpResponder::isOpen() const
{
    return m_socket && m_socket->state() == QAbstractSocket::ConnectedState && m_answered &&
           !*m_answered;
}

void HttpResponder::send(int status, const QByteArray &json,
                         const QList<QPair<QByteArray, QByteArray>> &headers)
{
    if (!isOpen())
        return;
    *m_answered = true;
    writeResponse(m_socket, status, json, m_keepAlive, headers);
    if (!m_keepAlive)
        m_socket->disconnectFromHost();
}

// Hands each connection to the guard before Qt HttpServer reads from it, so the guard's
// look at a request's header comes first.
class HttpServer::GuardedServer final : public QTcpServer
{
public:
    explicit GuardedServer(HttpServer *owner)
        : QTcpServer(owner)
        , m_owner(owner)
    {
    }

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new QTcpSocket(this);
        if (!socket->setSocketDescriptor(descriptor)) {
            delete socket;
            return;
        }
        if (m_owner->connectionCount() >= m_owner->m_limits.maxConnections) {
            // Answered and closed here: Qt HttpServer never sees it.
            connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            writeResponse(socket, 503, errorBody(u"unavailable"_s, u"too many connections"_s),
                          false, {});
            socket->disconnectFromHost();
            return;
        }
        m_owner->accept(socket);
        addPendingConnection(socket);
    }

private:
    HttpServer *m_owner;
};

HttpServer::HttpServer(Limits limits, Handler handler, QObject *parent)
    : QAbstractHttpServer(parent)
    , m_limits(limits)
    , m_handler(std::move(handler))
{
    m_clock.start();
    m_sweep.setInterval(500);
    connect(&m_sweep, &QTimer::timeout, this, &HttpServer::sweep);
}

HttpServer::~HttpServer() = default;

bool HttpServer::listen(const QHostAddress &address, quint16 port, QString *error)
{
    m_server = new GuardedServer(this);
    if (!m_server->listen(address, port)) {
        *error = m_server->errorString();
        delete m_server;
        m_server = nullptr;
        return false;
    }
    bind(m_server);
    m_sweep.start();
    return true;
}

quint16 HttpServer::port() const
{
    return m_server ? m_server->serverPort() : 0;
}

void HttpServer::stopListening()
{
    if (m_server)
        m_server->close();
}

void HttpServer::accept(QTcpSocket *socket)
{
    // Qt HttpServer keeps a request's bytes until it is complete: bounded by the body limit.
    socket->setReadBufferSize(m_limits.maxBodyBytes + m_limits.maxHeaderBytes);
    m_connections.insert(socket, Connection{-1, m_clock.elapsed(), {}, false});
    connect(socket, &QTcpSocket::readyRead, this, [this, socket] { inspect(socket); });
    connect(socket, &QObject::destroyed, this, [this, socket] { m_connections.remove(socket); });
}

void HttpServer::inspect(QTcpSocket *socket)
{
    const auto it = m_connections.find(socket);
    if (it == m_connections.end())
        return;
    Connection &connection = it.value();
    connection.lastActivityMs = m_clock.elapsed();
    if (connection.requestStartedMs < 0)
        connection.requestStartedMs = connection.lastActivityMs;
    // Qt HttpServer has begun reading this request: its header was looked at when it came.
    // (A header split across packets is looked at only by the read buffer's bound and the
    // request timeout.)
    if (socket->isTransactionStarted())
        return;
    const QByteArray head = socket->peek(m_limits.maxHeaderBytes + 4);
    const qsizetype end = head.indexOf("\r\n\r\n");
    if (end < 0) {
        if (head.size() > m_limits.maxHeaderBytes)
            reject(socket, 431, u"header_too_large"_s,
                   u"request header larger than %1 bytes"_s.arg(m_limits.maxHeaderBytes));
        return;
    }
    const QList<QByteArray> lines = head.left(end).split('\n');
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        const QByteArray name = line.left(colon).trimmed().toLower();
        const QByteArray value = line.mid(colon + 1).trimmed();
        if (name == "transfer-encoding" && value.toLower().contains("chunked")) {
            reject(socket, 411, u"length_required"_s,
                   u"send the body with a Content-Length, not chunked"_s);
            return;
        }
        if (name == "content-length") {
            bool ok = false;
            const qint64 length = value.toLongLong(&ok);
            if (!ok || length < 0) {
                reject(socket, 400, u"invalid_request"_s, u"Content-Length is not a number"_s);
                return;
            }
            if (length > m_limits.maxBodyBytes) {
                reject(socket, 413, u"too_large"_s,
                       u"body of %1 bytes; at most %2"_s.arg(length).arg(m_limits.maxBodyBytes));
                return;
            }
        }
    }
}

void HttpServer::reject(QTcpSocket *socket, int status, const QString &type, const QString &message)
{
    auto it = m_connections.find(socket);
    if (it == m_connections.end() || it->rejected)
        return;
    it->rejected = true;
    it->lastActivityMs = m_clock.elapsed();
    // Qt HttpServer reads no more of it; what the client still sends is drained unread so
    // that it gets to read the answer before the connection closes.
    disconnect(socket, &QTcpSocket::readyRead, this, nullptr);
    if (socket->isTransactionStarted())
        socket->commitTransaction();
    socket->skip(socket->bytesAvailable());
    connect(socket, &QTcpSocket::readyRead, this,
            [socket] { socket->skip(socket->bytesAvailable()); });
    connect(socket, &QTcpSocket::bytesWritten, this, [socket] {
        if (socket->bytesToWrite() == 0)
            socket->disconnectFromHost();
    });
    writeResponse(socket, status, errorBody(type, message), false, {});
}

void HttpServer::sweep()
{
    const qint64 now = m_clock.elapsed();
    const QList<QTcpSocket *> sockets = m_connections.keys();
    for (QTcpSocket *socket : sockets) {
        const Connection connection = m_connections.value(socket);
        if (socket->bytesToWrite() > m_limits.maxPendingOutputBytes) {
            socket->abort(); // answers pile up unread
            continue;
        }
        if (connection.rejected) {
            if (now - connection.lastActivityMs > 5'000)
                socket->abort();
            continue;
        }
        if (connection.requestStartedMs >= 0 &&
            now - connection.requestStartedMs > m_limits.requestTimeoutMs) {
            reject(
                socket, 408, u"timeout"_s,
                u"the request did not arrive within %1 s"_s.arg(m_limits.requestTimeoutMs / 1000));
            continue;
        }
        const bool answering = connection.answered && !*connection.answered;
        if (!answering && connection.requestStartedMs < 0 &&
            now - connection.lastActivityMs > m_limits.idleTimeoutMs)
            socket->disconnectFromHost();
    }
}

bool HttpServer::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    HttpRequest parsed;
    parsed.method = methodName(request.method());
    parsed.path = request.url().path();
    parsed.query = request.query();
    for (const auto &[name, value] : request.headers())
        parsed.headers.insert(name.toLower(), value);
    parsed.body = request.body();
    auto answered = std::make_shared<bool>(false);
    if (auto it = m_connections.find(socket); it != m_connections.end()) {
        it->requestStartedMs = -1;
        it->lastActivityMs = m_clock.elapsed();
        it->answered = answered;
    }
    const bool keepAlive = parsed.headers.value("connection").toLower() != "close";
    m_handler(parsed, HttpResponder(socket, keepAlive, answered));
    return true;
}

void HttpServer::missingHandler(const QHttpServerRequest &, QTcpSocket *socket)
{
    writeResponse(socket, 404, errorBody(u"not_found"_s, u"no such endpoint"_s), true, {});
}

} // namespace batchctl
