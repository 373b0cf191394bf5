#include "alertnotifier.h"

#include <QHostInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTimer>

#include <memory>

namespace bd::metrics {

using namespace Qt::StringLiterals;

namespace {
constexpr qsizetype kStderrKeep = 2048;
}

AlertNotifier::Options AlertNotifier::Options::fromJson(const QJsonObject &json)
{
    Options o;
    const QString url = json.value(u"webhook_url"_s).toString().trimmed();
    if (!url.isEmpty()) {
        const QUrl parsed(url, QUrl::StrictMode);
        if (parsed.isValid() && (parsed.scheme() == u"http"_s || parsed.scheme() == u"https"_s))
            o.webhookUrl = parsed;
        else
            qWarning("alerts: ignoring webhook_url %s (http or https URLs only)", qPrintable(url));
    }
    const QJsonObject headers = json.value(u"webhook_headers"_s).toObject();
    for (auto it = headers.constBegin(); it != headers.constEnd(); ++it)
        o.webhookHeaders.append({it.key().toLatin1(), it.value().toString().toUtf8()});
    const double timeout = json.value(u"webhook_timeout_s"_s).toDouble(-1);
    if (timeout > 0)
        o.webhookTimeoutMs = int(timeout * 1000);
    if (json.value(u"webhook_retries"_s).isDouble())
        o.webhookRetries = qBound(0, json.value(u"webhook_retries"_s).toInt(), 5);
    const QJsonValue command = json.value(u"command"_s);
    QStringList parts;
    if (command.isArray()) {
        for (const QJsonValue &v : command.toArray())
            parts.append(v.toString());
    } else if (command.isString()) {
        // Splits quoted words like a command line; nothing else (no shell, no expansion).
        parts = QProcess::splitCommand(command.toString());
    }
    if (!parts.isEmpty() && !parts.constFirst().isEmpty()) {
        o.command = parts.takeFirst();
        o.commandArgs = parts;
    }
    const double commandTimeout = json.value(u"command_timeout_s"_s).toDouble(-1);
    if (commandTimeout > 0)
        o.commandTimeoutMs = int(commandTimeout * 1000);
    o.notifyCleared = json.value(u"notify_cleared"_s).toBool(false);
    return o;
}

AlertNotifier::AlertNotifier(const Options &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
{
    m_options.maxProcesses = qMax(1, m_options.maxProcesses);
}

AlertNotifier::~AlertNotifier() = default;

int AlertNotifier::pending() const
{
    return m_webhooksInFlight + m_processes + int(m_queue.size());
}

QByteArray AlertNotifier::payload(const AlertEvent &event) const
{
    QJsonObject json = event.toJson();
    json.insert(u"source"_s, m_options.source);
    json.insert(u"host"_s, QHostInfo::localHostName());
    if (!m_options.worker.isEmpty())
        json.insert(u"worker"_s, m_options.worker);
    return QJsonDocument(json).toJson(QJsonDocument::Compact);
}

void AlertNotifier::notify(const AlertEvent &event)
{
    if (!event.raised() && !m_options.notifyCleared)
        return;
    if (!isActive())
        return;
    const QByteArray body = payload(event);
    if (m_options.webhookUrl.isValid())
        post(body, event.kind, 0);
    if (!m_options.command.isEmpty()) {
        m_queue.append(Queued{body, event});
        runQueued();
    }
}

void AlertNotifier::post(const QByteArray &body, const QString &kind, int attempt)
{
    if (!m_network)
        m_network = new QNetworkAccessManager(this);
    QNetworkRequest request(m_options.webhookUrl);
    request.setHeader(QNetworkRequest::ContentTypeHeader, u"application/json"_s);
    request.setHeader(QNetworkRequest::UserAgentHeader, QString(u"BatchDesk/"_s + QLatin1StringView(BATCHDESK_VERSION)));
    for (const auto &[name, value] : std::as_const(m_options.webhookHeaders))
        request.setRawHeader(name, value);
    request.setTransferTimeout(m_options.webhookTimeoutMs);
    ++m_webhooksInFlight;
    QNetworkReply *reply = m_network->post(request, body);
    connect(reply, &QNetworkReply::finished, this, [this, reply, body, kind, attempt] {
        reply->deleteLater();
        --m_webhooksInFlight;
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const bool ok = reply->error() == QNetworkReply::NoError && status >= 200 && status < 300;
        QString detail = status > 0 ? u"HTTP %1"_s.arg(status) : reply->errorString();
        if (status == 0 && reply->error() == QNetworkReply::OperationCanceledError)
            detail = u"no answer within %1 ms"_s.arg(m_options.webhookTimeoutMs); // transfer timeout
        const bool retryable = status == 0 || status >= 500 || status == 429;
        if (!ok && retryable && attempt < m_options.webhookRetries) {
            ++m_webhooksInFlight; // the retry is pending
            QTimer::singleShot(m_options.retryDelayMs, this, [this, body, kind, attempt] {
                --m_webhooksInFlight;
                post(body, kind, attempt + 1);
            });
            return;
        }
        if (!ok)
            qWarning("alerts: webhook %s for %s failed: %s",
                     qPrintable(m_options.webhookUrl.toDisplayString(QUrl::RemoveUserInfo)),
                     qPrintable(kind), qPrintable(detail));
        Q_EMIT delivered(u"webhook"_s, kind, ok, detail);
    });
}

void AlertNotifier::runQueued()
{
    while (m_processes < m_options.maxProcesses && !m_queue.isEmpty()) {
        const Queued next = m_queue.takeFirst();
        startCommand(next.body, next.event);
    }
}

void AlertNotifier::startCommand(const QByteArray &body, const AlertEvent &event)
{
    ++m_processes;
    auto *process = new QProcess(this);
    // A clean environment: what a notifier needs to find programs, a locale and the
    // desktop session, never the provider keys (OPENAI_API_KEY ...) the engine was given.
    const QProcessEnvironment inherited = QProcessEnvironment::systemEnvironment();
    QProcessEnvironment env;
    for (const char *name :
         {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
          "TMPDIR", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"}) {
        const QString key = QString::fromLatin1(name);
        if (inherited.contains(key))
            env.insert(key, inherited.value(key));
    }
    env.insert(u"BATCHDESK_ALERT_EVENT"_s, event.raised() ? u"raised"_s : u"cleared"_s);
    env.insert(u"BATCHDESK_ALERT_KIND"_s, event.kind);
    env.insert(u"BATCHDESK_ALERT_JOB"_s, QString::number(event.jobId));
    env.insert(u"BATCHDESK_ALERT_MESSAGE"_s, event.message);
    env.insert(u"BATCHDESK_ALERT_AT"_s, event.toJson().value(u"at"_s).toString());
    process->setProcessEnvironment(env);
    process->setProgram(m_options.command);
    process->setArguments(m_options.commandArgs);
    process->setStandardOutputFile(QProcess::nullDevice());

    auto *killer = new QTimer(process);
    killer->setSingleShot(true);
    connect(killer, &QTimer::timeout, process, [process] { process->kill(); });
    auto stderrTail = std::make_shared<QByteArray>();
    auto done = std::make_shared<bool>(false);
    const QString kind = event.kind;
    auto finish = [this, process, done, kind](bool ok, const QString &detail) {
        if (*done)
            return;
        *done = true;
        --m_processes;
        process->deleteLater();
        if (!ok)
            qWarning("alerts: command %s for %s failed: %s", qPrintable(m_options.command),
                     qPrintable(kind), qPrintable(detail));
        Q_EMIT delivered(u"command"_s, kind, ok, detail);
        runQueued();
    };
    connect(process, &QProcess::readyReadStandardError, process, [process, stderrTail] {
        stderrTail->append(process->readAllStandardError());
        if (stderrTail->size() > kStderrKeep)
            *stderrTail = stderrTail->right(kStderrKeep);
    });
    connect(process, &QProcess::started, process, [process, body, killer, this] {
        killer->start(m_options.commandTimeoutMs);
        process->write(body);
        process->closeWriteChannel();
    });
    connect(process, &QProcess::finished, this,
            [process, finish, stderrTail](int exitCode, QProcess::ExitStatus status) {
                stderrTail->append(process->readAllStandardError());
                const bool ok = status == QProcess::NormalExit && exitCode == 0;
                QString detail = status == QProcess::NormalExit
                                     ? u"exit code %1"_s.arg(exitCode)
                                     : u"killed or crashed"_s;
                const QString err = QString::fromUtf8(stderrTail->trimmed()).right(300);
                if (!ok && !err.isEmpty())
                    detail += u": "_s + err;
                finish(ok, detail);
            });
    connect(process, &QProcess::errorOccurred, this, [process, finish](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart)
            finish(false, process->errorString());
    });
    process->start();
}

} // namespace bd::metrics
