#include "fakeprovider.h"

#include "fakestructured.h"

#include <cmath>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSslServer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QTimeZone>

namespace bd::testing {

using namespace Qt::StringLiterals;

namespace {

constexpr qsizetype kMaxHeaderBytes = 64 * 1024;
constexpr qsizetype kMaxBodyBytes = 512 * 1024 * 1024;
constexpr int kKeepReceived = 2000;

quint32 fnv1a32(const QString &text)
{
    quint32 hash = 2166136261u;
    for (QChar c : text) {
        hash ^= c.unicode();
        hash *= 16777619u;
    }
    return hash;
}

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 529:
        return "Site Overloaded";
    default:
        return "Status";
    }
}

// Go's time.Duration format as OpenAI sends it: "450ms", "12.5s", "1m0s".
QByteArray goDuration(qint64 ms)
{
    ms = qMax<qint64>(0, ms);
    if (ms < 1000)
        return QByteArray::number(ms) + "ms";
    if (ms < 60'000)
        return QByteArray::number(double(ms) / 1000.0, 'g', 6) + "s";
    const qint64 minutes = ms / 60'000;
    return QByteArray::number(minutes) + "m" +
           QByteArray::number(double(ms - minutes * 60'000) / 1000.0, 'g', 6) + "s";
}

QByteArray rfc3339(qint64 msSinceEpoch)
{
    return QDateTime::fromMSecsSinceEpoch(msSinceEpoch)
        .toUTC()
        .toString(Qt::ISODateWithMs)
        .toLatin1();
}

QString textOf(const QJsonValue &content)
{
    if (content.isString())
        return content.toString();
    QString text;
    for (const QJsonValue &part : content.toArray())
        text += part.toObject().value(u"text"_s).toString();
    return text;
}

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

FakeProvider::Fault faultNamed(const QString &name, bool *known)
{
    using Fault = FakeProvider::Fault;
    static const QHash<QString, Fault> faults{
        {u"429"_s, Fault::RateLimited}, {u"quota"_s, Fault::Quota},
        {u"400"_s, Fault::BadRequest},  {u"401"_s, Fault::Unauthorized},
        {u"500"_s, Fault::ServerError}, {u"503"_s, Fault::Unavailable},
        {u"529"_s, Fault::Overloaded},  {u"malformed"_s, Fault::Malformed},
        {u"close"_s, Fault::Close},     {u"hang"_s, Fault::Hang},
    };
    *known = faults.contains(name);
    return faults.value(name, Fault::None);
}

} // namespace

struct FakeProvider::Connection
{
    QByteArray buffer;
    bool busy = false; // a request of this connection is being answered
};

QByteArray FakeProvider::ReceivedRequest::header(const QByteArray &name) const
{
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    }
    return {};
}

FakeProvider::FakeProvider(QObject *parent)
    : QObject(parent)
    , m_server(new QTcpServer(this))
    , m_outageTimer(new QTimer(this))
{
    m_server->setMaxPendingConnections(1024);
    // pendingConnectionAvailable, not newConnection: a QSslServer's socket is pending only
    // once its handshake is done.
    connect(m_server, &QTcpServer::pendingConnectionAvailable, this,
            &FakeProvider::handleNewConnection);
    m_outageTimer->setSingleShot(true);
    connect(m_outageTimer, &QTimer::timeout, this, &FakeProvider::endOutage);
    resetCounters();
}

FakeProvider::~FakeProvider()
{
    qDeleteAll(m_batches);
    for (auto it = m_connections.cbegin(); it != m_connections.cend(); ++it) {
        disconnect(it.key(), nullptr, this, nullptr);
        delete it.value();
    }
}

bool FakeProvider::listen(quint16 port)
{
    if (!m_server->listen(QHostAddress::LocalHost, port))
        return false;
    m_port = m_server->serverPort();
    return true;
}

bool FakeProvider::listenTls(const QSslConfiguration &configuration, quint16 port)
{
    delete m_server;
    auto *server = new QSslServer(this);
    server->setSslConfiguration(configuration);
    m_server = server;
    m_server->setMaxPendingConnections(1024);
    connect(m_server, &QTcpServer::pendingConnectionAvailable, this,
            &FakeProvider::handleNewConnection);
    m_tls = true;
    return listen(port);
}

QString FakeProvider::openAiBaseUrl() const
{
    return anthropicBaseUrl() + u"/v1"_s;
}

QString FakeProvider::anthropicBaseUrl() const
{
    return (m_tls ? u"https://127.0.0.1:%1"_s : u"http://127.0.0.1:%1"_s).arg(m_port);
}

void FakeProvider::startOutage(int durationMs)
{
    m_outage = true;
    m_server->close();
    const QList<QTcpSocket *> sockets = m_connections.keys();
    for (QTcpSocket *socket : sockets)
        socket->abort();
    if (durationMs > 0)
        m_outageTimer->start(durationMs);
}

void FakeProvider::endOutage()
{
    m_outageTimer->stop();
    if (!m_outage)
        return;
    m_outage = false;
    if (!m_server->listen(QHostAddress::LocalHost, m_port))
        qWarning("fake provider: cannot listen again on port %u: %s", unsigned(m_port),
                 qPrintable(m_server->errorString()));
}

void FakeProvider::resetCounters()
{
    m_requestCount = 0;
    m_chatArrivals = 0;
    m_firstChatAtMs = m_lastChatAtMs = 0;
    m_requestsByPath.clear();
    m_maxInFlight = m_inFlight;
    m_connectionsAccepted = 0;
    m_attempts.clear();
    m_received.clear();
    m_since.start();
    m_inFlightIntegral = 0;
    m_lastChangeMs = 0;
    m_enforcedRefusals = 0;
    m_concurrencyRefusals = 0;
    m_chatRequests = 0;
    m_rateLimitedSent = 0;
    m_chatSuccessSent = 0;
    m_successes.clear();
    m_batchLineRuns.clear();
}

double FakeProvider::meanInFlight() const
{
    const qint64 now = m_since.elapsed();
    const double integral = m_inFlightIntegral + double(m_inFlight) * double(now - m_lastChangeMs);
    return now > 0 ? integral / double(now) : double(m_inFlight);
}

void FakeProvider::setInFlight(int value)
{
    const qint64 now = m_since.elapsed();
    m_inFlightIntegral += double(m_inFlight) * double(now - m_lastChangeMs);
    m_lastChangeMs = now;
    m_inFlight = value;
    m_maxInFlight = qMax(m_maxInFlight, value);
}

namespace {

// The input schema of a forced tool (Anthropic's way of asking for structured answers).
QJsonObject anthropicToolSchema(const QJsonObject &body)
{
    const QString forced = body.value(u"tool_choice"_s).toObject().value(u"name"_s).toString();
    for (const QJsonValue &tool : body.value(u"tools"_s).toArray()) {
        if (tool.toObject().value(u"name"_s).toString() == forced)
            return tool.toObject().value(u"input_schema"_s).toObject();
    }
    return {};
}

// Two text blocks (the client joins them), or for a forced tool a tool_use block with the
// answer as its input (a model that ignored the tool: the text as it is).
QJsonArray anthropicContent(const QJsonObject &schema, const QString &answer, qsizetype half)
{
    const QJsonDocument structured = QJsonDocument::fromJson(answer.toUtf8());
    if (!schema.isEmpty() && structured.isObject())
        return QJsonArray{QJsonObject{{u"type"_s, u"tool_use"_s},
                                      {u"id"_s, u"toolu_fake"_s},
                                      {u"name"_s, u"answer"_s},
                                      {u"input"_s, structured.object()}}};
    return QJsonArray{QJsonObject{{u"type"_s, u"text"_s}, {u"text"_s, answer.left(half)}},
                      QJsonObject{{u"type"_s, u"text"_s}, {u"text"_s, answer.mid(half)}}};
}

} // namespace

QString FakeProvider::answerFor(const QString &systemPrompt, const QString &prompt)
{
    const quint32 hash = fnv1a32(systemPrompt + QChar(0x1f) + prompt);
    return u"answer[%1]: %2"_s.arg(hash, 8, 16, QLatin1Char('0')).arg(prompt.left(200));
}

qint64 FakeProvider::tokensFor(const QString &text)
{
    return (text.size() + 3) / 4;
}

void FakeProvider::handleNewConnection()
{
    while (m_server->hasPendingConnections()) {
        QTcpSocket *socket = m_server->nextPendingConnection();
        if (m_outage) {
            socket->abort();
            socket->deleteLater();
            continue;
        }
        ++m_connectionsAccepted;
        m_connections.insert(socket, new Connection);
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { handleReadyRead(socket); });
        connect(socket, &QTcpSocket::disconnected, this,
                [this, socket] { handleDisconnected(socket); });
    }
}

void FakeProvider::handleDisconnected(QTcpSocket *socket)
{
    Connection *connection = m_connections.take(socket);
    if (connection && connection->busy)
        setInFlight(m_inFlight - 1);
    delete connection;
    socket->deleteLater();
}

void FakeProvider::handleReadyRead(QTcpSocket *socket)
{
    Connection *connection = m_connections.value(socket);
    if (!connection)
        return;
    connection->buffer += socket->readAll();
    processBuffered(socket);
}

void FakeProvider::processBuffered(QTcpSocket *socket)
{
    Connection *connection = m_connections.value(socket);
    if (!connection || connection->busy)
        return;
    QByteArray &buffer = connection->buffer;
    const qsizetype headerEnd = buffer.indexOf("\r\n\r\n");
    if (headerEnd < 0) {
        if (buffer.size() > kMaxHeaderBytes)
            socket->abort();
        return;
    }
    const QList<QByteArray> lines = buffer.left(headerEnd).split('\n');
    const QList<QByteArray> requestLine = lines.value(0).trimmed().split(' ');
    if (requestLine.size() != 3) {
        socket->abort();
        return;
    }
    ReceivedRequest request;
    request.method = requestLine.at(0);
    request.path = requestLine.at(1);
    const qsizetype query = request.path.indexOf('?');
    if (query >= 0) {
        request.query = request.path.mid(query + 1);
        request.path.truncate(query);
    }
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon > 0)
            request.headers.append({line.left(colon).trimmed(), line.mid(colon + 1).trimmed()});
    }
    const qint64 contentLength = request.header("content-length").toLongLong();
    if (contentLength < 0 || contentLength > kMaxBodyBytes) {
        socket->abort();
        return;
    }
    if (buffer.size() < headerEnd + 4 + contentLength)
        return; // wait for the rest of the body
    request.body = buffer.mid(headerEnd + 4, contentLength);
    buffer.remove(0, headerEnd + 4 + contentLength);
    const bool keepAlive =
        requestLine.at(2) != "HTTP/1.0" && request.header("connection").toLower() != "close";

    if (request.path.startsWith("/fake/")) {
        // Control requests: answered at once, never counted.
        writeResponse(socket, route(request), keepAlive);
        return;
    }
    connection->busy = true;
    setInFlight(m_inFlight + 1);
    ++m_requestCount;
    m_requestsByPath[request.path] += 1;
    const Response response = route(request);
    m_received.append(std::move(request));
    if (m_received.size() > kKeepReceived)
        m_received.removeFirst();
    if (response.hang)
        return; // busy until the client gives up
    if (response.latencyMs > 0) {
        QPointer<QTcpSocket> guard(socket);
        QTimer::singleShot(response.latencyMs, this, [this, guard, response, keepAlive] {
            if (guard && m_connections.contains(guard.data()))
                finishRequest(guard.data(), response, keepAlive);
        });
    } else {
        finishRequest(socket, response, keepAlive);
    }
}

void FakeProvider::finishRequest(QTcpSocket *socket, const Response &response, bool keepAlive)
{
    Connection *connection = m_connections.value(socket);
    if (!connection || !connection->busy)
        return;
    connection->busy = false;
    setInFlight(m_inFlight - 1);
    if (response.close) {
        socket->abort();
        return;
    }
    if (response.chat && response.answered) {
        ++m_chatSuccessSent;
        ++m_successes[response.prompt];
    } else if (response.chat && response.status == 429) {
        ++m_rateLimitedSent;
    }
    writeResponse(socket, response, keepAlive);
}

void FakeProvider::writeResponse(QTcpSocket *socket, const Response &response, bool keepAlive)
{
    QByteArray head = "HTTP/1.1 " + QByteArray::number(response.status) + ' ' +
                      reasonPhrase(response.status) + "\r\n";
    bool hasContentType = false;
    for (const auto &[name, value] : response.headers) {
        head += name + ": " + value + "\r\n";
        hasContentType = hasContentType || name.compare("content-type", Qt::CaseInsensitive) == 0;
    }
    if (!hasContentType)
        head += "Content-Type: application/json\r\n";
    head += "Content-Length: " + QByteArray::number(response.body.size()) + "\r\n";
    head += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    socket->write(head + response.body);
    if (!keepAlive) {
        socket->disconnectFromHost();
        return;
    }
    const Connection *connection = m_connections.value(socket);
    if (connection && !connection->buffer.isEmpty())
        processBuffered(socket);
}

FakeProvider::Response FakeProvider::route(const ReceivedRequest &request)
{
    Response response;
    const QByteArray &path = request.path;
    if (request.method == "GET" && path == "/fake/stats") {
        response.body = json({
            {u"requests"_s, m_requestCount},
            {u"in_flight"_s, m_inFlight},
            {u"max_in_flight"_s, m_maxInFlight},
            {u"mean_in_flight"_s, meanInFlight()},
            {u"connections"_s, m_connectionsAccepted},
            {u"chat_successes"_s, m_chatSuccessSent},
            {u"rate_limited"_s, m_rateLimitedSent},
            {u"enforced_refusals"_s, m_enforcedRefusals},
            {u"batches_created"_s, m_batchesCreated},
            {u"chat_arrivals"_s, m_chatArrivals},
            {u"first_chat_at_ms"_s, m_firstChatAtMs},
            {u"last_chat_at_ms"_s, m_lastChatAtMs},
        });
        return response;
    }
    if (request.method == "POST" && path == "/fake/reset") {
        resetCounters();
        response.body = "{}";
        return response;
    }
    if (request.method == "POST" && path == "/v1/chat/completions")
        return chat(request, false);
    if (request.method == "POST" && path == "/v1/messages")
        return chat(request, true);
    const QList<QByteArray> parts = path.split('/'); // "", "v1", ...
    const bool batchEndpoint = path.startsWith("/v1/files") || path.startsWith("/v1/batches") ||
                               path.startsWith("/v1/messages/batches");
    if (batchEndpoint && m_options.batchFault != Fault::None)
        return failure(m_options.batchFault, path.startsWith("/v1/messages"), request);
    if (path.startsWith("/v1/files"))
        return routeFiles(request, parts);
    if (path.startsWith("/v1/batches"))
        return routeOpenAiBatches(request, parts);
    if (path.startsWith("/v1/messages/batches"))
        return routeAnthropicBatches(request, parts);
    if (request.method == "GET" && (path == "/v1/models" || path.startsWith("/v1/models?"))) {
        // Anthropic clients are told apart by their version header; each family gets its
        // own list shape and its own 401 (Options::requiredKey, or Fault::Unauthorized).
        const bool anthropic = !request.header("anthropic-version").isEmpty();
        if (!authorized(request, anthropic) || m_options.fault == Fault::Unauthorized)
            return failure(Fault::Unauthorized, anthropic, request);
        if (anthropic) {
            response.body = json({
                {u"data"_s,
                 QJsonArray{
                     QJsonObject{{u"type"_s, u"model"_s}, {u"id"_s, u"claude-fake-1"_s},
                                 {u"display_name"_s, u"Claude Fake 1"_s}},
                     QJsonObject{{u"type"_s, u"model"_s}, {u"id"_s, u"claude-fake-2"_s},
                                 {u"display_name"_s, u"Claude Fake 2"_s}},
                 }},
                {u"has_more"_s, false},
                {u"first_id"_s, u"claude-fake-1"_s},
                {u"last_id"_s, u"claude-fake-2"_s},
            });
            return response;
        }
        response.body = json({
            {u"object"_s, u"list"_s},
            {u"data"_s,
             QJsonArray{
                 QJsonObject{{u"id"_s, u"fake-model-1"_s}, {u"object"_s, u"model"_s}},
                 QJsonObject{{u"id"_s, u"fake-model-2"_s}, {u"object"_s, u"model"_s}},
             }},
        });
        return response;
    }
    // What a web server says for a path it does not have: not the API's JSON.
    response.status = 404;
    response.headers.append({QByteArray("Content-Type"), QByteArray("text/plain")});
    response.body = "404 page not found";
    return response;
}

void FakeProvider::addRateLimitHeaders(Response *response, bool anthropic, bool exhausted)
{
    if (!m_options.sendRateLimitHeaders)
        return;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const qint64 resetInMs = qMax<qint64>(1, m_windowStartMs + 60'000 - now);
    qint64 requestLimit = m_options.requestsPerMinute;
    qint64 requestsLeft =
        exhausted ? 0 : qMax<qint64>(0, m_options.requestsPerMinute - m_windowRequests);
    qint64 requestsResetMs = exhausted ? m_options.retryAfterMs : resetInMs;
    if (m_options.enforceRequests > 0) {
        // The window the server really enforces, in the API's per-minute terms.
        const qint64 windowMs = qMax(1, m_options.enforceWindowMs);
        requestLimit = qMax<qint64>(1, qint64(m_options.enforceRequests) * 60'000 / windowMs);
        enforcedWindowFigures(now, &requestsLeft, &requestsResetMs);
        if (exhausted)
            requestsLeft = 0;
    }
    qint64 tokenLimit = m_options.tokensPerMinute;
    qint64 tokensLeft = qMax<qint64>(0, m_options.tokensPerMinute - m_windowTokens);
    qint64 tokensResetMs = resetInMs;
    if (m_options.enforceTokens > 0) {
        const qint64 windowMs = qMax(1, m_options.enforceWindowMs);
        tokenLimit = qMax<qint64>(1, m_options.enforceTokens * 60'000 / windowMs);
        tokenWindowFigures(now, &tokensLeft, &tokensResetMs);
    }
    const QByteArray retryReset = goDuration(requestsResetMs);
    auto &headers = response->headers;
    if (!anthropic) {
        headers.append({"x-ratelimit-limit-requests", QByteArray::number(requestLimit)});
        headers.append({"x-ratelimit-remaining-requests", QByteArray::number(requestsLeft)});
        headers.append({"x-ratelimit-reset-requests", retryReset});
        headers.append({"x-ratelimit-limit-tokens", QByteArray::number(tokenLimit)});
        headers.append({"x-ratelimit-remaining-tokens", QByteArray::number(tokensLeft)});
        headers.append({"x-ratelimit-reset-tokens", goDuration(tokensResetMs)});
        return;
    }
    const QByteArray requestsReset = rfc3339(now + requestsResetMs);
    const QByteArray tokensReset = rfc3339(now + tokensResetMs);
    headers.append({"anthropic-ratelimit-requests-limit", QByteArray::number(requestLimit)});
    headers.append({"anthropic-ratelimit-requests-remaining", QByteArray::number(requestsLeft)});
    headers.append({"anthropic-ratelimit-requests-reset", requestsReset});
    for (const char *kind : {"tokens", "input-tokens", "output-tokens"}) {
        const QByteArray prefix = QByteArray("anthropic-ratelimit-") + kind;
        headers.append({prefix + "-limit", QByteArray::number(tokenLimit)});
        headers.append({prefix + "-remaining", QByteArray::number(tokensLeft)});
        headers.append({prefix + "-reset", tokensReset});
    }
}

void FakeProvider::enforcedWindowFigures(qint64 nowMs, qint64 *remaining, qint64 *resetMs)
{
    const qint64 windowMs = qMax(1, m_options.enforceWindowMs);
    const int limit = m_options.enforceRequests;
    if (!m_options.slidingWindow) {
        if (m_enforcedWindowStartMs < 0 || nowMs - m_enforcedWindowStartMs >= windowMs) {
            *remaining = limit;
            *resetMs = windowMs;
            return;
        }
        *remaining = qMax(0, limit - m_enforcedInWindow);
        *resetMs = qMax<qint64>(1, m_enforcedWindowStartMs + windowMs - nowMs);
        return;
    }
    while (!m_enforcedAccepted.isEmpty() && m_enforcedAccepted.first() <= nowMs - windowMs)
        m_enforcedAccepted.removeFirst();
    *remaining = qMax<qint64>(0, limit - m_enforcedAccepted.size());
    const qint64 leaving = m_options.resetUntilFull
                               ? m_enforcedAccepted.value(m_enforcedAccepted.size() - 1)
                               : m_enforcedAccepted.value(0);
    *resetMs =
        m_enforcedAccepted.isEmpty() ? windowMs : qMax<qint64>(1, leaving + windowMs - nowMs);
}

void FakeProvider::tokenWindowFigures(qint64 nowMs, qint64 *remaining, qint64 *resetMs)
{
    const qint64 windowMs = qMax(1, m_options.enforceWindowMs);
    while (!m_tokenWindow.isEmpty() && m_tokenWindow.first().first <= nowMs - windowMs)
        m_tokenWindow.removeFirst();
    qint64 used = 0;
    for (const auto &[at, tokens] : std::as_const(m_tokenWindow))
        used += tokens;
    *remaining = qMax<qint64>(0, m_options.enforceTokens - used);
    if (m_tokenWindow.isEmpty()) {
        *resetMs = 0;
        return;
    }
    const qint64 leaving =
        m_options.resetUntilFull ? m_tokenWindow.last().first : m_tokenWindow.first().first;
    *resetMs = qMax<qint64>(1, leaving + windowMs - nowMs);
}

bool FakeProvider::admitTokens(qint64 tokens, qint64 nowMs, qint64 *retryAfterMs)
{
    const qint64 windowMs = qMax(1, m_options.enforceWindowMs);
    qint64 remaining = 0;
    qint64 resetMs = 0;
    tokenWindowFigures(nowMs, &remaining, &resetMs);
    if (tokens <= remaining) {
        m_tokenWindow.append({nowMs, tokens});
        return true;
    }
    // Until enough of the oldest have left the window.
    qint64 freed = remaining;
    for (const auto &[at, used] : std::as_const(m_tokenWindow)) {
        freed += used;
        if (freed >= tokens) {
            *retryAfterMs = qMax<qint64>(1, at + windowMs - nowMs);
            return false;
        }
    }
    *retryAfterMs = windowMs; // larger than the whole window: refused for good
    return false;
}

bool FakeProvider::admitEnforced(qint64 nowMs, qint64 *retryAfterMs)
{
    const qint64 windowMs = qMax(1, m_options.enforceWindowMs);
    if (!m_options.slidingWindow) {
        if (m_enforcedWindowStartMs < 0 || nowMs - m_enforcedWindowStartMs >= windowMs) {
            m_enforcedWindowStartMs = nowMs;
            m_enforcedInWindow = 0;
        }
        if (m_enforcedInWindow >= m_options.enforceRequests) {
            *retryAfterMs = qMax<qint64>(1, m_enforcedWindowStartMs + windowMs - nowMs);
            return false;
        }
        ++m_enforcedInWindow;
        return true;
    }
    while (!m_enforcedAccepted.isEmpty() && m_enforcedAccepted.first() <= nowMs - windowMs)
        m_enforcedAccepted.removeFirst();
    if (m_enforcedAccepted.size() >= m_options.enforceRequests) {
        *retryAfterMs = qMax<qint64>(1, m_enforcedAccepted.first() + windowMs - nowMs);
        return false;
    }
    m_enforcedAccepted.append(nowMs);
    return true;
}

FakeProvider::Response FakeProvider::failure(Fault fault, bool anthropic,
                                             const ReceivedRequest &request)
{
    Response response;
    const auto error = [&](int status, const QString &type, const QString &code,
                           const QString &message) {
        response.status = status;
        if (anthropic) {
            response.body =
                json({{u"type"_s, u"error"_s},
                      {u"error"_s, QJsonObject{{u"type"_s, type}, {u"message"_s, message}}},
                      {u"request_id"_s, u"req_fake_%1"_s.arg(m_requestCount)}});
        } else {
            response.body = json(
                {{u"error"_s,
                  QJsonObject{{u"message"_s, message},
                              {u"type"_s, type},
                              {u"param"_s, QJsonValue()},
                              {u"code"_s, code.isEmpty() ? QJsonValue() : QJsonValue(code)}}}});
        }
    };
    switch (fault) {
    case Fault::None:
        break;
    case Fault::RateLimited: {
        error(429, anthropic ? u"rate_limit_error"_s : u"requests"_s, u"rate_limit_exceeded"_s,
              u"Rate limit reached for requests (fake)"_s);
        const int seconds = int(std::ceil(m_options.retryAfterMs / 1000.0));
        if (m_options.sendRetryAfter)
            response.headers.append({"retry-after", QByteArray::number(seconds)});
        if (!anthropic && m_options.sendRetryAfter)
            response.headers.append({"retry-after-ms", QByteArray::number(m_options.retryAfterMs)});
        addRateLimitHeaders(&response, anthropic, true);
        break;
    }
    case Fault::Quota:
        if (anthropic)
            error(400, u"invalid_request_error"_s, {},
                  u"Your credit balance is too low to access the Anthropic API."_s);
        else
            error(
                429, u"insufficient_quota"_s, u"insufficient_quota"_s,
                u"You exceeded your current quota, please check your plan and billing details."_s);
        break;
    case Fault::BadRequest:
        error(400, u"invalid_request_error"_s, u"invalid_value"_s, u"Invalid request (fake)"_s);
        break;
    case Fault::Unauthorized: {
        QString message = u"Invalid API key"_s;
        if (m_options.echoCredentialsInErrors) {
            const QByteArray credentials =
                anthropic ? request.header("x-api-key") : request.header("authorization");
            message += u": you sent '"_s + QString::fromUtf8(credentials) + u"'"_s;
        }
        error(401, anthropic ? u"authentication_error"_s : u"invalid_request_error"_s,
              u"invalid_api_key"_s, message);
        break;
    }
    case Fault::ServerError:
        error(500, anthropic ? u"api_error"_s : u"server_error"_s, {},
              u"The server had an error (fake)"_s);
        break;
    case Fault::Unavailable:
        error(503, anthropic ? u"overloaded_error"_s : u"server_error"_s, u"server_is_overloaded"_s,
              u"The server is overloaded (fake)"_s);
        break;
    case Fault::Overloaded:
        error(529, u"overloaded_error"_s, {}, u"Overloaded (fake)"_s);
        break;
    case Fault::Malformed:
        response.status = 200;
        response.body = R"({"id":"chatcmpl-broken","choices":[{"message":{"content":"half an ans)";
        break;
    case Fault::Close:
        response.close = true;
        break;
    case Fault::Hang:
        response.hang = true;
        break;
    }
    return response;
}

FakeProvider::Response FakeProvider::chat(const ReceivedRequest &request, bool anthropic)
{
    Response response;
    if (!m_answeringBatchLine) {
        // The pace at the server, refused requests included (a benchmark's "share of the
        // limit" is measured here, not by the client's clock).
        m_lastChatAtMs = QDateTime::currentMSecsSinceEpoch();
        if (m_chatArrivals++ == 0)
            m_firstChatAtMs = m_lastChatAtMs;
    }
    if (m_options.rateLimitStorm && !m_answeringBatchLine) {
        ++m_enforcedRefusals;
        response = failure(Fault::RateLimited, anthropic, request);
        response.chat = true;
        return response;
    }
    // m_inFlight counts this request already.
    if (m_options.maxConcurrent > 0 && !m_answeringBatchLine && m_inFlight > m_options.maxConcurrent) {
        ++m_concurrencyRefusals;
        response = failure(Fault::RateLimited, anthropic, request);
        // About concurrency, not the rate: the window's headers would say nothing of it.
        response.headers.removeIf([](const auto &header) { return header.first.contains("ratelimit"); });
        response.chat = true;
        return response;
    }
    if (m_options.enforceRequests > 0 && !m_answeringBatchLine) {
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        qint64 waitMs = 0;
        if (!admitEnforced(now, &waitMs)) {
            ++m_enforcedRefusals;
            const int savedRetryAfter = m_options.retryAfterMs;
            m_options.retryAfterMs = int(waitMs);
            response = failure(Fault::RateLimited, anthropic, request);
            m_options.retryAfterMs = savedRetryAfter;
            response.chat = !m_answeringBatchLine; // counted as a 429 of the chat endpoint
            return response;
        }
    }
    QJsonParseError parseError;
    const QJsonObject body = QJsonDocument::fromJson(request.body, &parseError).object();
    if (parseError.error != QJsonParseError::NoError)
        return failure(Fault::BadRequest, anthropic, request);

    // Credentials and the request's shape, as the real APIs check them.
    if (!m_options.requiredKey.isEmpty()) {
        const QByteArray expected = m_options.requiredKey.toUtf8();
        const bool ok = anthropic ? request.header("x-api-key") == expected
                                  : request.header("authorization") == "Bearer " + expected;
        if (!ok)
            return failure(Fault::Unauthorized, anthropic, request);
    }
    const QJsonArray messages = body.value(u"messages"_s).toArray();
    if (body.value(u"model"_s).toString().isEmpty() || messages.isEmpty())
        return failure(Fault::BadRequest, anthropic, request);
    if (anthropic &&
        (request.header("anthropic-version").isEmpty() || !body.value(u"max_tokens"_s).isDouble()))
        return failure(Fault::BadRequest, anthropic, request);

    QString system;
    QString prompt;
    if (anthropic)
        system = textOf(body.value(u"system"_s));
    for (const QJsonValue &value : messages) {
        const QJsonObject message = value.toObject();
        const QString role = message.value(u"role"_s).toString();
        if (role == u"system"_s) {
            if (anthropic) // Anthropic has no system role inside messages
                return failure(Fault::BadRequest, anthropic, request);
            system = textOf(message.value(u"content"_s));
        } else if (role == u"user"_s) {
            prompt = textOf(message.value(u"content"_s));
        }
    }
    if (m_options.enforceTokens > 0 && !m_answeringBatchLine) {
        const qint64 maxTokens = body.contains(u"max_completion_tokens"_s)
                                     ? body.value(u"max_completion_tokens"_s).toInteger()
                                     : body.value(u"max_tokens"_s).toInteger();
        const qint64 charged = tokensFor(system) + tokensFor(prompt) + maxTokens;
        qint64 waitMs = 0;
        if (!admitTokens(charged, QDateTime::currentMSecsSinceEpoch(), &waitMs)) {
            ++m_enforcedRefusals;
            const int savedRetryAfter = m_options.retryAfterMs;
            m_options.retryAfterMs = int(waitMs);
            Response refused = failure(Fault::RateLimited, anthropic, request);
            m_options.retryAfterMs = savedRetryAfter;
            refused.chat = true;
            return refused;
        }
    }
    const int attempt = ++m_attempts[prompt];
    if (!m_answeringBatchLine) {
        ++m_chatRequests;
        Q_EMIT chatReceived(prompt);
    }

    // Markers in the prompt.
    static const QRegularExpression marker(uR"(\[\[fake:([a-z0-9]+)(?:\*(\d+)|=(\d+))?\]\])"_s);
    Fault fault = m_options.fault;
    int latencyMs = m_options.latencyMs;
    qint64 cached = 0;
    qint64 cacheWrite = 0;
    for (auto it = marker.globalMatch(prompt); it.hasNext();) {
        const QRegularExpressionMatch match = it.next();
        const QString name = match.captured(1);
        const qint64 number = match.captured(3).toLongLong();
        if (name == u"latency"_s) {
            latencyMs = int(number);
        } else if (name == u"cached"_s) {
            cached = number;
        } else if (name == u"cachewrite"_s) {
            cacheWrite = number;
        } else {
            bool known = false;
            const Fault named = faultNamed(name, &known);
            const bool limited = match.hasCaptured(2);
            if (known && (!limited || attempt <= match.captured(2).toInt()))
                fault = named;
        }
    }

    // The one-minute window the rate-limit headers describe.
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (now - m_windowStartMs >= 60'000) {
        m_windowStartMs = now;
        m_windowRequests = 0;
        m_windowTokens = 0;
    }
    m_windowRequests += 1;
    const qint64 promptTokens = tokensFor(system) + tokensFor(prompt);
    m_windowTokens += promptTokens;

    if (m_options.quotaAfterRequests >= 0 && !m_answeringBatchLine &&
        m_chatRequests > m_options.quotaAfterRequests)
        fault = Fault::Quota;

    if (fault != Fault::None) {
        response = failure(fault, anthropic, request);
        response.latencyMs = latencyMs;
        response.prompt = prompt;
        response.chat = !m_answeringBatchLine;
        return response;
    }

    const QString model = body.value(u"model"_s).toString();
    const int maxTokens = body.value(anthropic ? u"max_tokens"_s : u"max_completion_tokens"_s)
                              .toInt(body.value(u"max_tokens"_s).toInt(1 << 30));
    // Structured answers: JSON of the schema the request asks for (fakestructured.h).
    const QJsonObject schema = anthropic ? anthropicToolSchema(body) : openAiRequestedSchema(body);
    QString answer = schema.isEmpty() ? answerFor(system, prompt)
                                      : structuredAnswerText(schema, prompt, attempt);
    bool truncated = false;
    if (tokensFor(answer) > maxTokens) {
        answer = answer.left(maxTokens * 4);
        truncated = true;
    }
    const qint64 outputTokens = tokensFor(answer);
    if (anthropic) {
        const QJsonArray content = anthropicContent(schema, answer, answer.size() / 2);
        const bool toolUse = content.at(0).toObject().value(u"type"_s) == u"tool_use"_s;
        const QString stopReason = truncated ? u"max_tokens"_s
                                   : toolUse ? u"tool_use"_s
                                             : u"end_turn"_s;
        response.body = json({
            {u"id"_s, u"msg_fake_%1"_s.arg(m_requestCount)},
            {u"type"_s, u"message"_s},
            {u"role"_s, u"assistant"_s},
            {u"model"_s, model},
            {u"content"_s, content},
            {u"stop_reason"_s, stopReason},
            {u"stop_sequence"_s, QJsonValue()},
            {u"usage"_s, QJsonObject{{u"input_tokens"_s, promptTokens},
                                     {u"output_tokens"_s, outputTokens},
                                     {u"cache_creation_input_tokens"_s, cacheWrite},
                                     {u"cache_read_input_tokens"_s, cached}}},
        });
    } else {
        cached = qMin(cached, promptTokens);
        response.body = json({
            {u"id"_s, u"chatcmpl-fake-%1"_s.arg(m_requestCount)},
            {u"object"_s, u"chat.completion"_s},
            {u"created"_s, now / 1000},
            {u"model"_s, model},
            {u"choices"_s, QJsonArray{QJsonObject{
                               {u"index"_s, 0},
                               {u"message"_s, QJsonObject{{u"role"_s, u"assistant"_s},
                                                          {u"content"_s, answer},
                                                          {u"refusal"_s, QJsonValue()}}},
                               {u"finish_reason"_s, truncated ? u"length"_s : u"stop"_s},
                           }}},
            {u"usage"_s,
             QJsonObject{{u"prompt_tokens"_s, promptTokens},
                         {u"completion_tokens"_s, outputTokens},
                         {u"total_tokens"_s, promptTokens + outputTokens},
                         {u"prompt_tokens_details"_s, QJsonObject{{u"cached_tokens"_s, cached}}}}},
        });
    }
    addRateLimitHeaders(&response, anthropic, false);
    response.latencyMs = latencyMs;
    response.prompt = prompt;
    response.chat = !m_answeringBatchLine;
    response.answered = true;
    return response;
}

} // namespace bd::testing
