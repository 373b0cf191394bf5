#include "fakegemini.h"

#include "fakestructured.h"

#include <algorithm>
#include <QDateTime>
#include <QJsonDocument>
#include <QPointer>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QUrlQuery>

namespace bd::testing {

using namespace Qt::StringLiterals;

struct FakeGemini::Connection
{
    QByteArray buffer;
};

namespace {

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QString promptOf(const QJsonObject &request)
{
    QString text;
    for (const QJsonValue &content : request.value(u"contents"_s).toArray())
        for (const QJsonValue &part : content.toObject().value(u"parts"_s).toArray())
            text += part.toObject().value(u"text"_s).toString();
    return text;
}

// [[g:KIND]] or [[g:KIND*N]] in the prompt; the marker's value after '=' through *value.
bool marker(const QString &prompt, const QString &kind, int attempt, QString *value = nullptr)
{
    static const QRegularExpression pattern(
        u"\\[\\[g:([a-z0-9]+)(?:=([0-9]+))?(?:\\*([0-9]+))?\\]\\]"_s);
    auto it = pattern.globalMatch(prompt);
    while (it.hasNext()) {
        const QRegularExpressionMatch match = it.next();
        if (match.captured(1) != kind)
            continue;
        if (!match.captured(3).isEmpty() && attempt > match.captured(3).toInt())
            return false;
        if (value)
            *value = match.captured(2);
        return true;
    }
    return false;
}

} // namespace

QByteArray FakeGemini::ReceivedRequest::header(const QByteArray &name) const
{
    for (const auto &pair : headers) {
        if (pair.first.compare(name, Qt::CaseInsensitive) == 0)
            return pair.second;
    }
    return {};
}

FakeGemini::FakeGemini(QObject *parent)
    : QObject(parent)
    , m_server(new QTcpServer(this))
{
    connect(m_server, &QTcpServer::newConnection, this, &FakeGemini::handleConnection);
}

FakeGemini::~FakeGemini()
{
    for (auto it = m_connections.begin(); it != m_connections.end(); ++it) {
        disconnect(it.key(), nullptr, this, nullptr);
        delete it.value();
    }
}

bool FakeGemini::listen(quint16 port)
{
    return m_server->listen(QHostAddress::LocalHost, port);
}

quint16 FakeGemini::port() const
{
    return m_server->serverPort();
}

QString FakeGemini::baseUrl() const
{
    return u"http://127.0.0.1:%1"_s.arg(port());
}

QString FakeGemini::answerFor(const QString &systemPrompt, const QString &prompt)
{
    return u"gemini(%1): %2"_s.arg(systemPrompt.size()).arg(prompt.left(200));
}

qint64 FakeGemini::tokensFor(const QString &text)
{
    return qMax<qint64>(1, (text.size() + 3) / 4);
}

int FakeGemini::requestCount(const QByteArray &pathPrefix) const
{
    return int(std::count_if(m_received.cbegin(), m_received.cend(), [&](const ReceivedRequest &r) {
        return r.path.startsWith(pathPrefix);
    }));
}

void FakeGemini::resetCounters()
{
    m_received.clear();
    m_attempts.clear();
    m_arrivals.clear();
    m_maxInFlight = m_inFlight;
    m_inFlightIntegral = 0;
    m_inFlightClock.start();
    m_lastChangeNs = 0;
}

void FakeGemini::accountInFlight()
{
    if (!m_inFlightClock.isValid())
        m_inFlightClock.start();
    const qint64 now = m_inFlightClock.nsecsElapsed();
    m_inFlightIntegral += double(m_inFlight) * double(now - m_lastChangeNs);
    m_lastChangeNs = now;
}

QString FakeGemini::addForeignBatch(const QString &displayName, qint64 createdAtMs)
{
    Batch batch;
    batch.id = u"foreign%1"_s.arg(m_nextId++);
    batch.model = u"gemini-2.5-flash"_s;
    batch.displayName = displayName;
    batch.createdAtMs = createdAtMs;
    batch.step = 2;
    batch.endState = u"BATCH_STATE_SUCCEEDED"_s;
    m_batches.prepend(batch);
    return batch.id;
}

void FakeGemini::handleConnection()
{
    while (QTcpSocket *socket = m_server->nextPendingConnection()) {
        m_connections.insert(socket, new Connection);
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { handleData(socket); });
        connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
            delete m_connections.take(socket);
            socket->deleteLater();
        });
    }
}

void FakeGemini::handleData(QTcpSocket *socket)
{
    Connection *connection = m_connections.value(socket);
    if (!connection)
        return;
    connection->buffer += socket->readAll();
    for (;;) {
        const qsizetype headerEnd = connection->buffer.indexOf("\r\n\r\n");
        if (headerEnd < 0)
            return;
        const QList<QByteArray> lines = connection->buffer.left(headerEnd).split('\n');
        ReceivedRequest request;
        const QList<QByteArray> first = lines.value(0).trimmed().split(' ');
        request.method = first.value(0);
        const QByteArray target = first.value(1);
        const qsizetype q = target.indexOf('?');
        request.path = q < 0 ? target : target.left(q);
        request.query = q < 0 ? QByteArray() : target.mid(q + 1);
        qsizetype length = 0;
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QByteArray line = lines.at(i).trimmed();
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0)
                continue;
            const QByteArray name = line.left(colon).trimmed();
            const QByteArray value = line.mid(colon + 1).trimmed();
            request.headers.append({name, value});
            if (name.compare("content-length", Qt::CaseInsensitive) == 0)
                length = value.toLongLong();
        }
        if (connection->buffer.size() < headerEnd + 4 + length)
            return;
        request.body = connection->buffer.mid(headerEnd + 4, length);
        connection->buffer.remove(0, headerEnd + 4 + length);
        dispatch(socket, request);
    }
}

void FakeGemini::dispatch(QTcpSocket *socket, const ReceivedRequest &request)
{
    if (!request.path.startsWith("/fake/")) {
        m_received.append(request);
        if (m_received.size() > 5000)
            m_received.removeFirst();
    }
    accountInFlight();
    ++m_inFlight;
    m_maxInFlight = qMax(m_maxInFlight, m_inFlight);
    const Reply reply = route(request);
    QPointer<QTcpSocket> guarded(socket);
    const auto answer = [this, guarded, reply] {
        accountInFlight();
        --m_inFlight;
        if (guarded)
            send(guarded, reply);
    };
    const int latencyMs = request.method == "DELETE" && m_options.deleteLatencyMs > 0
                              ? m_options.deleteLatencyMs
                              : m_options.latencyMs;
    if (latencyMs > 0)
        QTimer::singleShot(latencyMs, this, answer);
    else
        answer();
}

void FakeGemini::send(QTcpSocket *socket, const Reply &reply)
{
    QByteArray head = "HTTP/1.1 " + QByteArray::number(reply.status) + " X\r\n";
    head += "Content-Type: application/json\r\nContent-Length: " +
            QByteArray::number(reply.body.size()) + "\r\n\r\n";
    socket->write(head + reply.body);
}

FakeGemini::Reply FakeGemini::error(int status, const QString &word, const QString &message,
                                    const QJsonArray &details)
{
    QJsonObject error{{u"code"_s, status}, {u"message"_s, message}, {u"status"_s, word}};
    if (!details.isEmpty())
        error.insert(u"details"_s, details);
    return {status, compact(QJsonObject{{u"error"_s, error}})};
}

QString FakeGemini::systemOf(const QJsonObject &request) const
{
    const QString cache = request.value(u"cachedContent"_s).toString();
    if (!cache.isEmpty())
        return m_caches.value(cache);
    QString text;
    for (const QJsonValue &part :
         request.value(u"systemInstruction"_s).toObject().value(u"parts"_s).toArray())
        text += part.toObject().value(u"text"_s).toString();
    return text;
}

FakeGemini::Reply FakeGemini::route(const ReceivedRequest &request)
{
    // Counters for benchmarks, outside the API (no key needed).
    if (request.path == "/fake/stats") {
        accountInFlight();
        const double mean = m_inFlightClock.isValid() && m_inFlightClock.nsecsElapsed() > 0
                                ? m_inFlightIntegral / double(m_inFlightClock.nsecsElapsed())
                                : 0.0;
        return {200, compact(QJsonObject{{u"max_in_flight"_s, m_maxInFlight},
                                         {u"mean_in_flight"_s, mean},
                                         {u"requests"_s, int(m_received.size())}})};
    }
    if (request.path == "/fake/reset") {
        resetCounters();
        return {200, "{}"};
    }
    const QByteArray key = request.header("x-goog-api-key");
    if (!m_options.requiredKey.isEmpty() && key != m_options.requiredKey.toUtf8()) {
        const QString quoted =
            m_options.echoKeyInErrors ? u" (got %1)"_s.arg(QString::fromUtf8(key)) : QString();
        return error(403, u"PERMISSION_DENIED"_s, u"API key not valid"_s + quoted);
    }
    if (request.query.contains("key="))
        return error(400, u"INVALID_ARGUMENT"_s, u"key in the URL"_s);
    const QString path = QString::fromUtf8(request.path);
    const QJsonObject body = QJsonDocument::fromJson(request.body).object();
    static const QRegularExpression modelVerb(u"^/v1beta/models/([^:/]+):([A-Za-z]+)$"_s);
    const QRegularExpressionMatch mv = modelVerb.match(path);
    if (request.method == "POST" && mv.hasMatch()) {
        if (mv.captured(2) == u"generateContent"_s)
            return generate(body, false);
        if (mv.captured(2) == u"batchGenerateContent"_s)
            return createBatch(mv.captured(1), body);
    }
    if (request.method == "GET" && path == u"/v1beta/models"_s) {
        QJsonArray models;
        for (const QString &name : {u"gemini-2.5-flash"_s, u"gemini-2.5-pro"_s})
            models.append(QJsonObject{{u"name"_s, QString(u"models/"_s + name)}});
        return {200, compact(QJsonObject{{u"models"_s, models}})};
    }
    if (request.method == "GET" && path == u"/v1beta/batches"_s)
        return listBatches(request.query);
    static const QRegularExpression batchPath(u"^/v1beta/batches/([^:/]+)(:cancel)?$"_s);
    const QRegularExpressionMatch bp = batchPath.match(path);
    if (bp.hasMatch()) {
        const QString id = bp.captured(1);
        if (request.method == "GET" && bp.captured(2).isEmpty())
            return pollBatch(id);
        if (request.method == "POST" && !bp.captured(2).isEmpty()) {
            for (Batch &batch : m_batches) {
                if (batch.id == id && batch.step < 2) {
                    batch.step = 2;
                    batch.endState = u"BATCH_STATE_CANCELLED"_s;
                    return {200, "{}"};
                }
            }
            return error(400, u"FAILED_PRECONDITION"_s, u"batch not running"_s);
        }
    }
    if (request.method == "POST" && path == u"/upload/v1beta/files"_s) {
        // multipart/related: the metadata part, then the file part.
        const QByteArray type = request.header("content-type");
        const qsizetype at = type.indexOf("boundary=");
        if (at < 0)
            return error(400, u"INVALID_ARGUMENT"_s, u"no boundary"_s);
        const QByteArray boundary = "--" + type.mid(at + 9);
        QList<QByteArray> chunks;
        qsizetype from = 0;
        for (;;) {
            const qsizetype start = request.body.indexOf(boundary, from);
            if (start < 0)
                break;
            const qsizetype next = request.body.indexOf(boundary, start + boundary.size());
            if (next < 0)
                break;
            QByteArray chunk =
                request.body.mid(start + boundary.size(), next - start - boundary.size());
            const qsizetype blank = chunk.indexOf("\r\n\r\n");
            chunk = blank < 0 ? QByteArray() : chunk.mid(blank + 4);
            if (chunk.endsWith("\r\n"))
                chunk.chop(2);
            chunks.append(chunk);
            from = next;
        }
        if (chunks.size() != 2)
            return error(400, u"INVALID_ARGUMENT"_s, u"expected metadata and file parts"_s);
        const QString name = u"files/f%1"_s.arg(m_nextId++);
        m_files.insert(name, chunks.at(1));
        ++m_filesUploaded;
        return {200, compact(QJsonObject{{u"file"_s, QJsonObject{{u"name"_s, name}}}})};
    }
    static const QRegularExpression download(u"^/download/v1beta/(files/[^:]+):download$"_s);
    const QRegularExpressionMatch dl = download.match(path);
    if (request.method == "GET" && dl.hasMatch() && m_files.contains(dl.captured(1)))
        return {200, m_files.value(dl.captured(1))};
    if (request.method == "POST" && path == u"/v1beta/cachedContents"_s) {
        QString text;
        for (const QJsonValue &part :
             body.value(u"systemInstruction"_s).toObject().value(u"parts"_s).toArray())
            text += part.toObject().value(u"text"_s).toString();
        const QString name = u"cachedContents/c%1"_s.arg(m_nextId++);
        m_caches.insert(name, text);
        m_cacheTtls.append(body.value(u"ttl"_s).toString());
        ++m_cachesCreated;
        return {200, compact(QJsonObject{
                         {u"name"_s, name},
                         {u"model"_s, body.value(u"model"_s)},
                         {u"ttl"_s, body.value(u"ttl"_s)},
                         {u"usageMetadata"_s, QJsonObject{{u"totalTokenCount"_s, tokensFor(text)}}},
                     })};
    }
    if (request.method == "DELETE" && path.startsWith(u"/v1beta/cachedContents/"_s) &&
        m_caches.remove(path.mid(8)) > 0) {
        ++m_cachesDeleted;
        return {200, "{}"};
    }
    return error(404, u"NOT_FOUND"_s, u"no such method: "_s + path);
}

FakeGemini::Reply FakeGemini::generate(const QJsonObject &request, bool batchLine)
{
    const QString prompt = promptOf(request);
    const QString system = systemOf(request);
    const int attempt = ++m_attempts[prompt];
    m_arrivals[prompt].append(QDateTime::currentMSecsSinceEpoch());
    QString value;
    if (!batchLine && marker(prompt, u"429"_s, attempt))
        return error(
            429, u"RESOURCE_EXHAUSTED"_s, u"Resource has been exhausted (e.g. check quota)."_s,
            QJsonArray{QJsonObject{{u"@type"_s, u"type.googleapis.com/google.rpc.QuotaFailure"_s}},
                       QJsonObject{{u"@type"_s, u"type.googleapis.com/google.rpc.RetryInfo"_s},
                                   {u"retryDelay"_s, m_options.retryDelay}}});
    if (marker(prompt, u"400"_s, attempt))
        return error(400, u"INVALID_ARGUMENT"_s, u"Invalid value at 'contents': bad part"_s);
    if (marker(prompt, u"403"_s, attempt))
        return error(403, u"PERMISSION_DENIED"_s, u"The caller does not have permission"_s);
    if (marker(prompt, u"500"_s, attempt))
        return error(500, u"INTERNAL"_s, u"An internal error has occurred."_s);
    if (marker(prompt, u"503"_s, attempt))
        return error(503, u"UNAVAILABLE"_s, u"The model is overloaded."_s);
    if (marker(prompt, u"504"_s, attempt))
        return error(504, u"DEADLINE_EXCEEDED"_s, u"Deadline exceeded."_s);
    const qint64 promptTokens = tokensFor(system) + tokensFor(prompt);
    qint64 cached = request.contains(u"cachedContent"_s) ? tokensFor(system) : 0;
    if (marker(prompt, u"cached"_s, attempt, &value))
        cached = qMin(promptTokens, value.toLongLong());
    const qint64 thoughts = marker(prompt, u"thoughts"_s, attempt, &value) ? value.toLongLong() : 0;
    QJsonObject usage{{u"promptTokenCount"_s, promptTokens}};
    if (cached > 0)
        usage.insert(u"cachedContentTokenCount"_s, cached);
    if (thoughts > 0)
        usage.insert(u"thoughtsTokenCount"_s, thoughts);
    if (marker(prompt, u"blocked"_s, attempt))
        return {200, compact(QJsonObject{
                         {u"promptFeedback"_s, QJsonObject{{u"blockReason"_s, u"SAFETY"_s}}},
                         {u"usageMetadata"_s, usage}})};
    // Structured answers: JSON of the responseSchema (fakestructured.h).
    const QJsonObject generation = request.value(u"generationConfig"_s).toObject();
    const bool structured =
        generation.value(u"responseMimeType"_s).toString() == u"application/json"_s;
    QString text = structured
                       ? structuredAnswerText(generation.value(u"responseSchema"_s).toObject(),
                                              prompt, attempt)
                       : answerFor(system, prompt);
    QString finish = u"STOP"_s;
    if (marker(prompt, u"safety"_s, attempt)) {
        finish = u"SAFETY"_s;
        text.clear();
    } else if (marker(prompt, u"recitation"_s, attempt)) {
        finish = u"RECITATION"_s;
        text.clear();
    } else if (marker(prompt, u"thinkall"_s, attempt)) {
        finish = u"MAX_TOKENS"_s;
        text.clear();
    } else if (marker(prompt, u"maxtokens"_s, attempt)) {
        finish = u"MAX_TOKENS"_s;
        text = text.left(8);
    }
    usage.insert(u"candidatesTokenCount"_s, tokensFor(text));
    usage.insert(u"totalTokenCount"_s, promptTokens + tokensFor(text) + thoughts);
    QJsonObject content{{u"role"_s, u"model"_s}};
    if (!text.isEmpty())
        content.insert(u"parts"_s, QJsonArray{QJsonObject{{u"text"_s, text}}});
    const QJsonObject answer{
        {u"candidates"_s,
         QJsonArray{QJsonObject{{u"content"_s, content}, {u"finishReason"_s, finish}}}},
        {u"usageMetadata"_s, usage},
        {u"modelVersion"_s, m_options.modelVersion},
    };
    return {200, compact(answer)};
}

FakeGemini::Reply FakeGemini::createBatch(const QString &model, const QJsonObject &body)
{
    const QJsonObject spec = body.value(u"batch"_s).toObject();
    const QJsonObject input = spec.value(u"inputConfig"_s).toObject();
    Batch batch;
    batch.id = u"b%1"_s.arg(m_nextId++);
    batch.model = model;
    batch.displayName = spec.value(u"displayName"_s).toString();
    batch.createdAtMs = QDateTime::currentMSecsSinceEpoch();
    if (input.contains(u"fileName"_s)) {
        const QString file = input.value(u"fileName"_s).toString();
        if (!m_files.contains(file))
            return error(400, u"INVALID_ARGUMENT"_s, u"no such file "_s + file);
        batch.fromFile = true;
        for (const QByteArray &raw : m_files.value(file).split('\n')) {
            if (raw.trimmed().isEmpty())
                continue;
            const QJsonObject line = QJsonDocument::fromJson(raw).object();
            batch.lines.append(
                {line.value(u"key"_s).toString(), line.value(u"request"_s).toObject(), {}});
        }
    } else {
        for (const QJsonValue &value :
             input.value(u"requests"_s).toObject().value(u"requests"_s).toArray()) {
            const QJsonObject entry = value.toObject();
            const QJsonObject metadata = entry.value(u"metadata"_s).toObject();
            batch.lines.append({metadata.value(u"key"_s).toString(),
                                entry.value(u"request"_s).toObject(), metadata});
        }
    }
    if (batch.lines.isEmpty())
        return error(400, u"INVALID_ARGUMENT"_s, u"an empty batch"_s);
    for (const Line &line : std::as_const(batch.lines))
        ++m_linesByKey[line.key];
    ++m_batchesCreated;
    m_batches.prepend(batch);
    return {200, compact(operationOf(batch))};
}

QJsonObject FakeGemini::operationOf(const Batch &batch) const
{
    static const char *const states[] = {"BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"};
    const QString state = batch.step < 2 ? QString::fromLatin1(states[batch.step]) : batch.endState;
    QJsonObject metadata{
        {u"@type"_s,
         u"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"_s},
        {u"name"_s, QString(u"batches/"_s + batch.id)},
        {u"model"_s, QString(u"models/"_s + batch.model)},
        {u"displayName"_s, batch.displayName},
        {u"state"_s, state},
        {u"createTime"_s,
         QDateTime::fromMSecsSinceEpoch(batch.createdAtMs, Qt::UTC).toString(Qt::ISODateWithMs)},
        {u"batchStats"_s, QJsonObject{{u"requestCount"_s, QString::number(batch.lines.size())}}},
    };
    QJsonObject operation{{u"name"_s, QString(u"batches/"_s + batch.id)},
                          {u"metadata"_s, metadata}};
    if (batch.step >= 2) {
        operation.insert(u"done"_s, true);
        if (state == u"BATCH_STATE_FAILED"_s)
            operation.insert(u"error"_s,
                             QJsonObject{{u"code"_s, 3}, {u"message"_s, u"invalid input file"_s}});
        else if (!batch.response.isEmpty())
            operation.insert(u"response"_s, batch.response);
    }
    return operation;
}

void FakeGemini::finishBatch(Batch &batch)
{
    if (m_options.failBatches) {
        batch.endState = u"BATCH_STATE_FAILED"_s;
        return;
    }
    bool expired = false;
    QJsonArray inlined;
    QList<QByteArray> fileLines;
    for (const Line &line : std::as_const(batch.lines)) {
        const QString prompt = promptOf(line.request);
        if (marker(prompt, u"expire"_s, m_attempts.value(prompt) + 1)) {
            ++m_attempts[prompt];
            expired = true;
            continue; // no result for this line
        }
        const Reply reply = generate(line.request, true);
        const QJsonObject answer = QJsonDocument::fromJson(reply.body).object();
        QJsonObject item;
        if (reply.status == 200)
            item.insert(u"response"_s, answer);
        else
            item.insert(u"error"_s,
                        QJsonObject{{u"code"_s, reply.status == 400 ? 3 : 13},
                                    {u"message"_s,
                                     answer.value(u"error"_s).toObject().value(u"message"_s)}});
        if (batch.fromFile) {
            item.insert(u"key"_s, line.key);
            fileLines.append(compact(item));
        } else {
            if (!m_options.dropInlineMetadata && !line.metadata.isEmpty())
                item.insert(u"metadata"_s, line.metadata);
            inlined.append(item);
        }
    }
    batch.endState = expired ? u"BATCH_STATE_EXPIRED"_s : u"BATCH_STATE_SUCCEEDED"_s;
    if (batch.fromFile) {
        // Any order: the client joins by key.
        std::shuffle(fileLines.begin(), fileLines.end(), *QRandomGenerator::global());
        const QString name = u"files/out%1"_s.arg(m_nextId++);
        m_files.insert(name, fileLines.join('\n') + '\n');
        batch.response = QJsonObject{{u"responsesFile"_s, name}};
    } else {
        if (m_options.dropInlineResult && !inlined.isEmpty())
            inlined.removeLast();
        // Expired inline lines leave gaps the client cannot place: only a full list is kept.
        if (!expired)
            batch.response =
                QJsonObject{{u"inlinedResponses"_s, QJsonObject{{u"inlinedResponses"_s, inlined}}}};
    }
}

FakeGemini::Reply FakeGemini::pollBatch(const QString &id)
{
    for (Batch &batch : m_batches) {
        if (batch.id != id)
            continue;
        if (!m_options.holdBatches && batch.step < 2) {
            ++batch.step;
            if (batch.step == 2)
                finishBatch(batch);
        }
        return {200, compact(operationOf(batch))};
    }
    return error(404, u"NOT_FOUND"_s, u"no batch "_s + id);
}

FakeGemini::Reply FakeGemini::listBatches(const QByteArray &query)
{
    const QUrlQuery items(QString::fromUtf8(query));
    const int size =
        qMax(1, qMin(m_options.listPageSize, items.queryItemValue(u"pageSize"_s).toInt()));
    const int start = items.queryItemValue(u"pageToken"_s).toInt();
    QJsonArray operations;
    for (int i = start; i < m_batches.size() && i < start + size; ++i)
        operations.append(operationOf(m_batches.at(i)));
    QJsonObject answer{{u"operations"_s, operations}};
    if (start + size < m_batches.size())
        answer.insert(u"nextPageToken"_s, QString::number(start + size));
    return {200, compact(answer)};
}

} // namespace bd::testing
