#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QUrl>

class QNetworkAccessManager;
class QNetworkReply;
class QNetworkRequest;

namespace bd::providers {

// A set of QNetworkAccessManagers that together keep as many requests in flight as the
// caller sends. One manager opens at most 6 HTTP/1.1 connections per host and queues the
// rest, so against a plain-HTTP server 64 concurrent requests need 11 managers. The pool
// hands each request to the least busy manager and adds a manager (lazily, up to
// maxManagers) only when every existing one already has 6 requests going; HTTP/2 over TLS
// multiplexes on top of that. Lives on one thread; not thread-safe.
//
// Every manager verifies TLS certificates (nothing here ever ignores SSL errors), uses the
// system proxy configuration except for loopback hosts, and does not follow redirects
// (a provider that redirects is misconfigured).
class NetworkPool final : public QObject
{
    Q_OBJECT

public:
    static constexpr int kConnectionsPerManager = 6;

    explicit NetworkPool(const QUrl &baseUrl, int maxManagers = 64, QObject *parent = nullptr);
    ~NetworkPool() override;

    // verb: "GET", "POST", "DELETE" ...; the reply belongs to the pool's manager (deleted
    // with the pool); the caller deletes it with deleteLater() when done.
    QNetworkReply *send(const QByteArray &verb, const QNetworkRequest &request,
                        const QByteArray &body = {});

    int managerCount() const { return int(m_managers.size()); }
    int inFlight() const;

    // True for 127.0.0.1, ::1, localhost: never sent through a proxy.
    static bool isLoopback(const QUrl &url);
    // Call once per process (idempotent): honour the system's proxy settings.
    static void useSystemProxyConfiguration();

private:
    struct Slot
    {
        QNetworkAccessManager *manager = nullptr;
        int inFlight = 0;
    };
    Slot *pick();

    QUrl m_baseUrl;
    bool m_bypassProxy = false;
    int m_maxManagers;
    QList<Slot *> m_managers;
};

} // namespace bd::providers
