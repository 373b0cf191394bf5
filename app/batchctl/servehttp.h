#pragma once

#include <functional>
#include <QAbstractHttpServer>
#include <QByteArray>
#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QPointer>
#include <QTcpServer>
#include <QTimer>
#include <QUrlQuery>

class QTcpSocket;

namespace batchctl {

// One HTTP request as the API sees it: method, path, query, headers (names in lower case) and
// the whole body (bounded by the server's limit).
struct HttpRequest
{
    QByteArray method;
    QString path;
    QUrlQuery query;
    QHash<QByteArray, QByteArray> headers;
    QByteArray body;
};

// The answer to one request, now or later (a long poll): writes to the connection if it is
// still there, else nothing. Copies answer the same request; the first answer wins.
class HttpResponder
{
public:
    HttpResponder() = default;
    HttpResponder(QTcpSocket *socket, bool keepAlive, std::shared_ptr<bool> answered);

    bool isOpen() const;
    // JSON body; headers are extra ones (Retry-After ...).
    void send(int status, const QByteArray &json,
              const QList<QPair<QByteArray, QByteArray>> &headers = {});

private:
    QPointer<QTcpSocket> m_socket;
    bool m_keepAlive = true;
    std::shared_ptr<bool> m_answered;
};

// The wire format of an API error (API.md): {"error": {"type": ..., "message": ...}}.
QByteArray errorBody(const QString &type, const QString &message);

// Qt HttpServer with the limits a server open to programs needs: at most maxBodyBytes of body
// (413 as soon as the header says more, before the body is read), a header of at most
// maxHeaderBytes (431), no chunked bodies (411), a request that does not arrive within
// requestTimeoutMs and a connection idle for idleTimeoutMs are closed (408), at most
// maxConnections at once (503), and a client that does not read its answers is dropped once
// maxPendingOutputBytes wait for it. Each socket buffers at most one request, so a slow or
// hostile client costs bounded memory.
class HttpServer final : public QAbstractHttpServer
{
    Q_OBJECT

public:
    struct Limits
    {
        qint64 maxBodyBytes = 32LL * 1024 * 1024;
        qint64 maxHeaderBytes = 64 * 1024;
        int requestTimeoutMs = 30'000;
        int idleTimeoutMs = 120'000;
        int maxConnections = 256;
        qint64 maxPendingOutputBytes = 16LL * 1024 * 1024;
    };
    using Handler = std::function<void(const HttpRequest &request, HttpResponder responder)>;

    HttpServer(Limits limits, Handler handler, QObject *parent = nullptr);
    ~HttpServer() override;

    // false with *error when it cannot listen.
    bool listen(const QHostAddress &address, quint16 port, QString *error);
    quint16 port() const;
    // Stops accepting connections; open ones are answered as usual.
    void stopListening();
    int connectionCount() const { return int(m_connections.size()); }

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    class GuardedServer;
    struct Connection
    {
        qint64 requestStartedMs = -1; // -1: between requests
        qint64 lastActivityMs = 0;
        std::shared_ptr<bool> answered; // of the request being answered, if any
        bool rejected = false;
    };
    void accept(QTcpSocket *socket);
    void inspect(QTcpSocket *socket);
    // Answers with an error, stops parsing the connection, drains and closes it.
    void reject(QTcpSocket *socket, int status, const QString &type, const QString &message);
    void sweep();

    Limits m_limits;
    Handler m_handler;
    GuardedServer *m_server = nullptr;
    QHash<QTcpSocket *, Connection> m_connections;
    QTimer m_sweep;
    QElapsedTimer m_clock;
};

} // namespace batchctl
