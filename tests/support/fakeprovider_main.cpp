// batchdesk-fakeprovider: the tests' loopback provider server as a program, for benchmarks
// and manual runs. Listens on 127.0.0.1 only.
//
//   batchdesk-fakeprovider [--port N] [--latency-ms MS] [--fault NAME] [--key KEY]
//                          [--no-rate-limit-headers]
//                          [--rate-limit N [--window-ms MS] [--sliding [--reset-until-full]]]
//
// Prints "listening on PORT" once ready. GET /fake/stats gives the counters, POST
// /fake/reset clears them.

#include "fakeprovider.h"

#include <cstdio>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QHash>

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(u"batchdesk-fakeprovider"_s);
    QCommandLineParser parser;
    parser.setApplicationDescription(
        u"Loopback OpenAI/Anthropic-style server for tests and benchmarks."_s);
    parser.addHelpOption();
    parser.addOptions({
        {u"port"_s, u"TCP port on 127.0.0.1 (0: any free one)."_s, u"N"_s, u"0"_s},
        {u"latency-ms"_s, u"Delay of every answer."_s, u"MS"_s, u"0"_s},
        {u"fault"_s, u"none, 429, quota, 400, 401, 500, 503, 529, malformed, close or hang."_s,
         u"NAME"_s, u"none"_s},
        {u"key"_s, u"Require this API key."_s, u"KEY"_s},
        {u"no-rate-limit-headers"_s, u"Send no rate-limit headers (like local servers)."_s},
        {u"rate-limit"_s, u"Enforce at most N chat requests per window (429 beyond)."_s, u"N"_s,
         u"0"_s},
        {u"window-ms"_s, u"Window of --rate-limit (default 60000)."_s, u"MS"_s, u"60000"_s},
        {u"sliding"_s, u"--rate-limit counts over a sliding window (default: fixed windows)."_s},
        {u"reset-until-full"_s,
         u"Reset headers name when the window is whole again, as OpenAI and Anthropic do "
         "(default: when the next slot frees)."_s},
    });
    parser.process(app);

    static const QHash<QString, FakeProvider::Fault> faults{
        {u"none"_s, FakeProvider::Fault::None},
        {u"429"_s, FakeProvider::Fault::RateLimited},
        {u"quota"_s, FakeProvider::Fault::Quota},
        {u"400"_s, FakeProvider::Fault::BadRequest},
        {u"401"_s, FakeProvider::Fault::Unauthorized},
        {u"500"_s, FakeProvider::Fault::ServerError},
        {u"503"_s, FakeProvider::Fault::Unavailable},
        {u"529"_s, FakeProvider::Fault::Overloaded},
        {u"malformed"_s, FakeProvider::Fault::Malformed},
        {u"close"_s, FakeProvider::Fault::Close},
        {u"hang"_s, FakeProvider::Fault::Hang},
    };
    const QString faultName = parser.value(u"fault"_s);
    if (!faults.contains(faultName)) {
        std::fprintf(stderr, "unknown fault '%s'\n", qPrintable(faultName));
        return 2;
    }

    FakeProvider server;
    FakeProvider::Options &options = server.options();
    options.latencyMs = parser.value(u"latency-ms"_s).toInt();
    options.fault = faults.value(faultName);
    options.requiredKey = parser.value(u"key"_s);
    options.sendRateLimitHeaders = !parser.isSet(u"no-rate-limit-headers"_s);
    options.enforceRequests = parser.value(u"rate-limit"_s).toInt();
    options.enforceWindowMs = qMax(1, parser.value(u"window-ms"_s).toInt());
    options.slidingWindow = parser.isSet(u"sliding"_s);
    options.resetUntilFull = parser.isSet(u"reset-until-full"_s);
    if (!server.listen(quint16(parser.value(u"port"_s).toUInt()))) {
        std::fprintf(stderr, "cannot listen on 127.0.0.1:%s\n",
                     qPrintable(parser.value(u"port"_s)));
        return 1;
    }
    std::printf("listening on %u\n", unsigned(server.port()));
    std::fflush(stdout);
    return app.exec();
}
