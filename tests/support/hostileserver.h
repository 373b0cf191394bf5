#pragma once

// A loopback HTTP/1.1 server that answers every request the way it is told to, including
// the ways a broken or hostile OpenAI-compatible server would: a fixed body (absurd usage
// figures), a flood of a body, a body or a header block dripped a byte at a time.
// Header-only and without Q_OBJECT, so any test can include it.

#include <atomic>
#include <memory>
#include <QByteArray>
#include <QHash>
#include <QHostAddress>
#include <QList>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>

namespace bd::test {

class HostileServer
{
public:
    enum class Mode
    {
        Body,        // 200 with `body` (Content-Length, or chunked when chunked is set)
        Flood,       // 200 with floodBytes of JSON-ish filler, written as the socket drains
        DripBody,    // headers at once, then one byte of the body every dripMs, for ever
        DripHeaders, // one header line every dripMs, for ever; the header block never ends
    };

    Mode mode = Mode::Body;
    int status = 200;
    QByteArray body;
    bool chunked = false;           // Body/Flood: Transfer-Encoding: chunked, no length
    bool declareFloodLength = true; // Flood: send its Content-Length up front
    qint64 floodBytes = 64 * 1024 * 1024;
    int dripMs = 50;

    HostileServer()
    {
        QObject::connect(&m_server, &QTcpServer::newConnection, &m_server, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection())
                accept(socket);
        });
    }

    ~HostileServer()
    {
        for (const auto &connection : std::as_const(m_connections)) {
            if (connection->socket)
                connection->socket->abort();
        }
    }

    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    QString baseUrl(bool withV1 = true) const
    {
        return QStringLiteral("http://127.0.0.1:%1").arg(m_server.serverPort()) +
               (withV1 ? QStringLiteral("/v1") : QString());
    }

    // Body bytes written so far across all connections (the flood stops when the client goes).
    qint64 bodyBytesSent() const { return m_bodyBytesSent; }
    int requests() const { return m_requests; }
    // Connections still open (a client that gave up has closed its own).
    int openConnections() const
    {
        int open = 0;
        for (const auto &connection : m_connections) {
            if (connection->socket &&
                connection->socket->state() == QAbstractSocket::ConnectedState)
                ++open;
        }
        return open;
    }

private:
    struct Connection
    {
        QPointer<QTcpSocket> socket;
        QByteArray request;
        bool answered = false;
        qint64 floodLeft = 0;
        std::unique_ptr<QTimer> drip;
        qint64 dripCount = 0;
    };

    void accept(QTcpSocket *socket)
    {
        auto connection = std::make_shared<Connection>();
        connection->socket = socket;
        m_connections.append(connection);
        QObject::connect(socket, &QTcpSocket::readyRead, socket, [this, connection] {
            connection->request += connection->socket->readAll();
            if (!connection->answered && requestComplete(connection->request)) {
                connection->answered = true;
                ++m_requests;
                answer(*connection);
            }
        });
        QObject::connect(socket, &QTcpSocket::bytesWritten, socket, [this, connection] {
            if (connection->floodLeft > 0)
                flood(*connection);
        });
        QObject::connect(socket, &QTcpSocket::disconnected, socket, [connection] {
            if (connection->drip)
                connection->drip->stop();
            connection->floodLeft = 0;
            if (connection->socket)
                connection->socket->deleteLater();
        });
    }

    static bool requestComplete(const QByteArray &request)
    {
        const qsizetype end = request.indexOf("\r\n\r\n");
        if (end < 0)
            return false;
        qint64 length = 0;
        for (const QByteArray &line : request.left(end).split('\n')) {
            const QByteArray trimmed = line.trimmed();
            if (trimmed.toLower().startsWith("content-length:"))
                length = trimmed.mid(15).trimmed().toLongLong();
        }
        return request.size() >= end + 4 + length;
    }

    static QByteArray statusLine(int status)
    {
        return "HTTP/1.1 " + QByteArray::number(status) + (status == 200 ? " OK" : " Error") +
               "\r\nContent-Type: application/json\r\nConnection: close\r\n";
    }

    void answer(Connection &connection)
    {
        QTcpSocket *socket = connection.socket;
        switch (mode) {
        case Mode::Body:
            if (chunked) {
                socket->write(statusLine(status) + "Transfer-Encoding: chunked\r\n\r\n");
                socket->write(QByteArray::number(body.size(), 16) + "\r\n" + body +
                              "\r\n0\r\n\r\n");
            } else {
                socket->write(statusLine(status) + "Content-Length: " +
                              QByteArray::number(body.size()) + "\r\n\r\n" + body);
            }
            m_bodyBytesSent += body.size();
            socket->disconnectFromHost();
            return;
        case Mode::Flood:
            if (chunked)
                socket->write(statusLine(status) + "Transfer-Encoding: chunked\r\n\r\n");
            else if (declareFloodLength)
                socket->write(statusLine(status) +
                              "Content-Length: " + QByteArray::number(floodBytes) + "\r\n\r\n");
            else
                socket->write(statusLine(status) + "\r\n"); // ends when the connection closes
            connection.floodLeft = floodBytes;
            flood(connection);
            return;
        case Mode::DripBody:
            socket->write(statusLine(status) + "Content-Length: 1000000\r\n\r\n{");
            startDrip(connection, [this](Connection &c) {
                c.socket->write(" ");
                ++m_bodyBytesSent;
            });
            return;
        case Mode::DripHeaders:
            socket->write(statusLine(status));
            startDrip(connection, [](Connection &c) {
                c.socket->write("X-Padding-" + QByteArray::number(++c.dripCount) + ": " +
                                QByteArray(64, 'p') + "\r\n");
            });
            return;
        }
    }

    void flood(Connection &connection)
    {
        QTcpSocket *socket = connection.socket;
        if (!socket || socket->state() != QAbstractSocket::ConnectedState)
            return;
        // Keep about 1 MiB queued: what the client does not read is not produced.
        static const QByteArray block(256 * 1024, 'x');
        while (connection.floodLeft > 0 && socket->bytesToWrite() < 1024 * 1024) {
            const qint64 n = qMin<qint64>(block.size(), connection.floodLeft);
            if (chunked)
                socket->write(QByteArray::number(n, 16) + "\r\n" + block.left(n) + "\r\n");
            else
                socket->write(block.constData(), n);
            connection.floodLeft -= n;
            m_bodyBytesSent += n;
        }
        if (connection.floodLeft == 0) {
            if (chunked)
                socket->write("0\r\n\r\n");
            socket->disconnectFromHost();
        }
    }

    template <typename Step> void startDrip(Connection &connection, Step step)
    {
        connection.drip = std::make_unique<QTimer>();
        Connection *raw = &connection;
        QObject::connect(
            connection.drip.get(), &QTimer::timeout, connection.drip.get(), [raw, step] {
                if (raw->socket && raw->socket->state() == QAbstractSocket::ConnectedState)
                    step(*raw);
            });
        connection.drip->start(dripMs);
    }

    QTcpServer m_server;
    QList<std::shared_ptr<Connection>> m_connections;
    // Read by a test whose server runs on a thread of its own.
    std::atomic<qint64> m_bodyBytesSent = 0;
    int m_requests = 0;
};

} // namespace bd::test
