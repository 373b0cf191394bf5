#include "networkpool.h"

#include <mutex>
#include <QHostAddress>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkProxyFactory>
#include <QNetworkReply>
#include <QNetworkRequest>

namespace bd::providers {

using namespace Qt::StringLiterals;

NetworkPool::NetworkPool(const QUrl &baseUrl, int maxManagers, QObject *parent)
    : QObject(parent)
    , m_baseUrl(baseUrl)
    , m_bypassProxy(isLoopback(baseUrl))
    , m_maxManagers(qMax(1, maxManagers))
{
    useSystemProxyConfiguration();
}

NetworkPool::~NetworkPool()
{
    // Managers first (they take their replies with them), then the counters those replies
    // were connected to.
    for (Slot *slot : std::as_const(m_managers))
        delete slot->manager;
    qDeleteAll(m_managers);
}

bool NetworkPool::isLoopback(const QUrl &url)
{
    const QString host = url.host();
    if (host.compare(u"localhost"_s, Qt::CaseInsensitive) == 0)
        return true;
    const QHostAddress address(host);
    return !address.isNull() && address.isLoopback();
}

void NetworkPool::useSystemProxyConfiguration()
{
    static std::once_flag once;
    std::call_once(once, [] { QNetworkProxyFactory::setUseSystemConfiguration(true); });
}

int NetworkPool::inFlight() const
{
    int total = 0;
    for (const Slot *slot : m_managers)
        total += slot->inFlight;
    return total;
}

NetworkPool::Slot *NetworkPool::pick()
{
    Slot *best = nullptr;
    for (Slot *slot : m_managers) {
        if (!best || slot->inFlight < best->inFlight)
            best = slot;
    }
    if (best &&
        (best->inFlight < kConnectionsPerManager || int(m_managers.size()) >= m_maxManagers))
        return best;
    auto *slot = new Slot;
    slot->manager = new QNetworkAccessManager(this);
    slot->manager->setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    slot->manager->setAutoDeleteReplies(false);
    if (m_bypassProxy)
        slot->manager->setProxy(QNetworkProxy(QNetworkProxy::NoProxy));
    m_managers.append(slot);
    return slot;
}

QNetworkReply *NetworkPool::send(const QByteArray &verb, const QNetworkRequest &request,
                                 const QByteArray &body)
{
    Slot *slot = pick();
    QNetworkReply *reply = nullptr;
    if (verb == "GET")
        reply = slot->manager->get(request);
    else if (verb == "POST")
        reply = slot->manager->post(request, body);
    else if (verb == "DELETE" && body.isEmpty())
        reply = slot->manager->deleteResource(request);
    else
        reply = slot->manager->sendCustomRequest(request, verb, body);
    slot->inFlight += 1;
    // The connection is free again once the reply has finished (aborts finish too).
    connect(reply, &QNetworkReply::finished, this, [slot] { slot->inFlight -= 1; });
    return reply;
}

} // namespace bd::providers
