#pragma once

#include <QByteArray>
#include <QHash>
#include <QObject>

#include <functional>

class QTcpServer;
class QTcpSocket;

namespace bd::metrics {

class Exposition;

// An opt-in /metrics endpoint in the Prometheus text format, on 127.0.0.1 only.
//
// Why not prometheus-cpp (Debian's prometheus-cpp-dev 1.0.1): its "pull" half serves HTTP
// with civetweb on civetweb's own threads, which would read engine state from outside the
// engine thread; using only its "core" half for the text still means mirroring every figure
// into its registry of atomics (a second copy of the state the recorder already keeps),
// and the -dev package drags in civetweb, libcivetweb-dev, libcurl4-openssl-dev and zlib as
// build dependencies plus three runtime libraries to package. The format itself is a few
// lines (Exposition); the HTTP side below is a small QTcpServer handler on the thread that
// owns the figures, asynchronous like the rest of the engine.
//
// HTTP: GET and HEAD of /metrics (a query string is ignored) answer 200; other paths 404;
// other methods 405. HTTP/1.1 connections stay open unless the client says
// "Connection: close"; HTTP/1.0 ones close unless it says "keep-alive". Pipelined requests
// are answered in order. Idle connections close after idleTimeoutMs; oversized requests get
// 431 or 413 and a close; a Host header naming anything but the loopback is refused with 421
// (so a web page cannot read the figures through DNS rebinding). Nothing here blocks.
class OpenMetricsServer final : public QObject
{
    Q_OBJECT

public:
    using Source = std::function<void(Exposition &)>;
    struct Options
    {
        int maxConnections = 32;
        int idleTimeoutMs = 30'000;
        int maxRequestBytes = 16 * 1024;
        bool checkHost = true;
    };
    static constexpr quint16 kDefaultPort = 9469;

    explicit OpenMetricsServer(QObject *parent = nullptr);
    OpenMetricsServer(const Options &options, QObject *parent = nullptr);
    ~OpenMetricsServer() override;

    // Each scrape asks every source, in order, to add its families.
    void addSource(Source source);

    // Listens on 127.0.0.1:port (0: a free port; see port()). False with the reason when
    // the port is taken.
    bool listen(quint16 port, QString *error = nullptr);
    void close();
    bool isListening() const;
    quint16 port() const;
    QString url() const; // http://127.0.0.1:<port>/metrics

    QByteArray render() const;
    quint64 scrapes() const { return m_scrapes; }

private:
    struct Connection
    {
        QByteArray buffer;
        bool closing = false;
    };
    void accept();
    void readFrom(QTcpSocket *socket);
    void reply(QTcpSocket *socket, int status, const QByteArray &reason, const QByteArray &body,
               bool keepAlive, bool headOnly, const QByteArray &contentType,
               const QByteArray &extraHeaders = {});
    void fail(QTcpSocket *socket, int status, const QByteArray &reason);

    Options m_options;
    QTcpServer *m_server = nullptr;
    QList<Source> m_sources;
    QHash<QTcpSocket *, Connection> m_connections;
    quint64 m_scrapes = 0;
};

} // namespace bd::metrics
