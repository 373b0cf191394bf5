// bench_http: the HTTP provider against the loopback test server (batchdesk-fakeprovider, a
// separate process so that its CPU is not counted) at 0 ms and 200 ms latency with
// concurrency 64. Prints requests/s, the mean number of requests really in flight (as the
// client keeps them and as the server sees them) and the client's CPU time per 1,000
// requests.
//
//   bench_http [--requests N] [--concurrency N] [--latency-ms MS ...] [--managers N]
//              [--provider openai-compatible|gemini ...]
//
// gemini runs GeminiProvider (generateContent, x-goog-api-key) against batchdesk-fakegemini.
// --managers 1 shows what a single QNetworkAccessManager gets (6 connections per host).

#include "core/clock.h"
#include "providers/httpchatprovider.h"
#include "providers/provider.h"

#include <cstdio>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QProcess>
#include <sys/resource.h>

#ifndef FAKEPROVIDER_PATH
#error "FAKEPROVIDER_PATH must name the batchdesk-fakeprovider binary"
#endif
#ifndef FAKEGEMINI_PATH
#error "FAKEGEMINI_PATH must name the batchdesk-fakegemini binary"
#endif

using namespace Qt::StringLiterals;
using namespace bd::providers;
using bd::ProviderConfig;

namespace {

double cpuSeconds()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

QJsonObject control(quint16 port, const QByteArray &verb, const QString &path)
{
    QNetworkAccessManager manager;
    manager.setProxy(QNetworkProxy(QNetworkProxy::NoProxy));
    QNetworkRequest request(QUrl(u"http://127.0.0.1:%1%2"_s.arg(port).arg(path)));
    QNetworkReply *reply =
        verb == "POST" ? manager.post(request, QByteArray()) : manager.get(request);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    loop.exec();
    const QJsonObject result = QJsonDocument::fromJson(reply->readAll()).object();
    reply->deleteLater();
    return result;
}

struct Figures
{
    int latencyMs = 0;
    int requests = 0;
    int failures = 0;
    double seconds = 0;
    double clientMeanInFlight = 0;
    double serverMeanInFlight = 0;
    int serverMaxInFlight = 0;
    double cpuMsPer1000 = 0;
    int managers = 0;
};

Figures run(const QString &providerId, int latencyMs, int total, int concurrency, int maxManagers)
{
    const bool gemini = providerId == u"gemini"_s;
    Figures figures;
    figures.latencyMs = latencyMs;
    figures.requests = total;

    QProcess server;
    server.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    server.start(gemini ? QStringLiteral(FAKEGEMINI_PATH) : QStringLiteral(FAKEPROVIDER_PATH),
                 {u"--latency-ms"_s, QString::number(latencyMs)});
    if (!server.waitForStarted() || !server.waitForReadyRead(10'000)) {
        std::fprintf(stderr, "cannot start %s\n", FAKEPROVIDER_PATH);
        std::exit(1);
    }
    const QByteArray line = server.readLine().trimmed(); // "listening on PORT"
    const quint16 port = quint16(line.mid(line.lastIndexOf(' ') + 1).toUInt());

    ProviderConfig config;
    config.id = providerId;
    config.baseUrl =
        gemini ? u"http://127.0.0.1:%1"_s.arg(port) : u"http://127.0.0.1:%1/v1"_s.arg(port);
    if (gemini)
        config.apiKey = u"bench-not-a-real-key"_s;
    config.settings.insert(u"max_network_managers"_s, maxManagers);
    QString error;
    auto provider = createProvider(config, bd::SystemClock::instance(), &error);
    if (!provider) {
        std::fprintf(stderr, "%s\n", qPrintable(error));
        std::exit(1);
    }

    int sent = 0;
    int answered = 0;
    QElapsedTimer clock;
    double inFlightIntegral = 0; // client side: requests in flight x ms
    qint64 lastChange = 0;
    const auto account = [&] {
        const qint64 now = clock.nsecsElapsed() / 1000;
        inFlightIntegral += double(provider->inFlight()) * double(now - lastChange);
        lastChange = now;
    };
    QEventLoop loop;
    const auto sendOne = [&] {
        ChatRequest request;
        request.taskId = ++sent;
        request.model = gemini ? u"gemini-2.5-flash"_s : u"fake-model-1"_s;
        request.systemPrompt = u"Classify the sentiment in one word."_s;
        request.prompt =
            u"Review %1: the battery lasts two days and the screen is bright."_s.arg(sent);
        account();
        provider->send(request);
    };
    QObject::connect(provider.get(), &Provider::replied, provider.get(),
                     [&](const ChatReply &reply) {
                         account();
                         ++answered;
                         if (!reply.ok())
                             ++figures.failures;
                         if (sent < total)
                             sendOne();
                         else if (answered == total)
                             loop.quit();
                     });

    // Warm-up: open the connections once, then measure.
    control(port, "POST", u"/fake/reset"_s);
    const double cpuBefore = cpuSeconds();
    clock.start();
    while (sent < qMin(concurrency, total))
        sendOne();
    loop.exec();
    account();
    const qint64 elapsedUs = clock.nsecsElapsed() / 1000;
    const double cpu = cpuSeconds() - cpuBefore;
    const QJsonObject stats = control(port, "GET", u"/fake/stats"_s);

    figures.seconds = double(elapsedUs) / 1e6;
    figures.clientMeanInFlight = inFlightIntegral / double(elapsedUs);
    figures.serverMeanInFlight = stats.value(u"mean_in_flight"_s).toDouble();
    figures.serverMaxInFlight = stats.value(u"max_in_flight"_s).toInt();
    figures.cpuMsPer1000 = cpu * 1000.0 * 1000.0 / total;
    figures.managers = static_cast<HttpChatProvider *>(provider.get())->networkManagerCount();
    provider.reset();
    server.kill();
    server.waitForFinished();
    return figures;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(
        u"HTTP provider throughput against the loopback test server."_s);
    parser.addHelpOption();
    parser.addOptions({
        {u"requests"_s, u"Requests per latency (default: 6400 at 0 ms, 1280 otherwise)."_s, u"N"_s},
        {u"concurrency"_s, u"Requests kept in flight."_s, u"N"_s, u"64"_s},
        {u"latency-ms"_s, u"Server latency; repeat for several runs (default 0 and 200)."_s,
         u"MS"_s},
        {u"managers"_s, u"Cap on QNetworkAccessManagers (default 64)."_s, u"N"_s, u"64"_s},
        {u"provider"_s, u"openai-compatible or gemini; repeat for both (default both)."_s,
         u"NAME"_s},
    });
    parser.process(app);
    QList<int> latencies;
    for (const QString &value : parser.values(u"latency-ms"_s))
        latencies.append(value.toInt());
    if (latencies.isEmpty())
        latencies = {0, 200};
    const int concurrency = qMax(1, parser.value(u"concurrency"_s).toInt());
    const int managers = qMax(1, parser.value(u"managers"_s).toInt());

    QStringList providers = parser.values(u"provider"_s);
    if (providers.isEmpty())
        providers = {u"openai-compatible"_s, u"gemini"_s};
    std::printf("concurrency %d, plain HTTP/1.1 to 127.0.0.1\n", concurrency);
    std::printf("%18s %10s %9s %9s %12s %14s %14s %14s %14s %9s\n", "provider", "latency_ms",
                "requests", "failures", "requests/s", "in_flight_cli", "in_flight_srv",
                "max_inflight", "cpu_ms/1000", "managers");
    for (const QString &providerId : std::as_const(providers)) {
        for (int latency : latencies) {
            const int total = parser.isSet(u"requests"_s) ? parser.value(u"requests"_s).toInt()
                              : latency == 0              ? 6400
                                                          : 1280;
            const Figures f = run(providerId, latency, total, concurrency, managers);
            std::printf("%18s %10d %9d %9d %12.1f %14.1f %14.1f %14d %14.1f %9d\n",
                        qPrintable(providerId), f.latencyMs, f.requests, f.failures,
                        f.requests / f.seconds, f.clientMeanInFlight, f.serverMeanInFlight,
                        f.serverMaxInFlight, f.cpuMsPer1000, f.managers);
            std::fflush(stdout);
        }
    }
    std::printf("in_flight_cli: requests sent and not yet answered, time-weighted, as the client keeps them\n"
                "in_flight_srv: requests the server held at once, time-weighted (near 0 when it answers at once)\n"
                "cpu_ms/1000:   this process's user+system CPU per 1000 requests (the server is another process)\n");
    return 0;
}
