#pragma once

// A webhook receiver on 127.0.0.1 for the intake API's tests and benchmark: refuses each
// task's first `failuresEach` deliveries with 500, then accepts; keeps what it got and, when
// asked, tells each first acceptance as it happens.

#include <functional>
#include <QByteArray>
#include <QHash>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QObject>
#include <QRegularExpression>
#include <QSet>
#include <QTcpServer>
#include <QTcpSocket>

namespace bd::testing {

class WebhookReceiver : public QObject
{
public:
    explicit WebhookReceiver(int failuresEach = 0)
        : m_failuresEach(failuresEach)
    {
        m_server.listen(QHostAddress::LocalHost, 0);
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
                    m_buffers.remove(socket);
                    socket->deleteLater();
                });
                connect(socket, &QTcpSocket::readyRead, this, [this, socket] { read(socket); });
            }
        });
    }
    QString url() const
    {
        return QStringLiteral("http://127.0.0.1:%1/done").arg(m_server.serverPort());
    }
    // Called once per task, at its first accepted delivery.
    std::function<void(qint64 taskId, const QJsonObject &task)> onFirstAccepted;
    // Whether to keep every accepted body (tests read them; a long benchmark need not).
    bool keepBodies = true;
    QHash<qint64, int> attempts;
    QHash<qint64, QJsonObject> accepted;
    qint64 acceptedCount = 0;   // distinct tasks accepted
    qint64 duplicateCount = 0;  // deliveries of a task accepted before (at least once)

private:
    void read(QTcpSocket *socket)
    {
        QByteArray &buffer = m_buffers[socket];
        buffer += socket->readAll();
        for (;;) {
            const qsizetype end = buffer.indexOf("\r\n\r\n");
            if (end < 0)
                return;
            static const QRegularExpression lengthHeader(
                QStringLiteral("content-length:\\s*(\\d+)"),
                QRegularExpression::CaseInsensitiveOption);
            const auto match = lengthHeader.match(QString::fromLatin1(buffer.left(end)));
            const qsizetype length = match.hasMatch() ? match.captured(1).toLongLong() : 0;
            if (buffer.size() < end + 4 + length)
                return;
            const QJsonObject task = QJsonDocument::fromJson(buffer.mid(end + 4, length)).object();
            buffer.remove(0, end + 4 + length);
            const qint64 id = task.value(QLatin1String("task_id")).toInteger();
            const int attempt = ++attempts[id];
            const bool accept = attempt > m_failuresEach;
            if (accept) {
                if (m_seen.contains(id)) {
                    ++duplicateCount;
                } else {
                    m_seen.insert(id);
                    ++acceptedCount;
                    if (onFirstAccepted)
                        onFirstAccepted(id, task);
                }
                if (keepBodies)
                    accepted.insert(id, task);
            }
            socket->write(accept ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                                 : "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        }
    }

    int m_failuresEach;
    QHash<QTcpSocket *, QByteArray> m_buffers;
    QSet<qint64> m_seen;
    // Last, so it goes first: its sockets' "disconnected" still finds m_buffers.
    QTcpServer m_server;
};

} // namespace bd::testing
