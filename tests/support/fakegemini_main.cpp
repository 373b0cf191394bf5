// batchdesk-fakegemini: the tests' loopback Gemini server as a program, for benchmarks and
// manual runs. Listens on 127.0.0.1 only.
//
//   batchdesk-fakegemini [--port N] [--latency-ms MS] [--key KEY]
//
// Prints "listening on PORT" once ready. GET /fake/stats gives the counters, POST
// /fake/reset clears them.

#include "fakegemini.h"

#include <cstdio>
#include <QCommandLineParser>
#include <QCoreApplication>

using namespace Qt::StringLiterals;
using bd::testing::FakeGemini;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(u"batchdesk-fakegemini"_s);
    QCommandLineParser parser;
    parser.setApplicationDescription(u"Loopback Gemini-style server for tests and benchmarks."_s);
    parser.addHelpOption();
    parser.addOptions({
        {u"port"_s, u"TCP port on 127.0.0.1 (0: any free one)."_s, u"N"_s, u"0"_s},
        {u"latency-ms"_s, u"Delay of every answer."_s, u"MS"_s, u"0"_s},
        {u"key"_s, u"Require this API key."_s, u"KEY"_s},
    });
    parser.process(app);
    FakeGemini server;
    server.options().latencyMs = parser.value(u"latency-ms"_s).toInt();
    server.options().requiredKey = parser.value(u"key"_s);
    if (!server.listen(quint16(parser.value(u"port"_s).toUInt()))) {
        std::fprintf(stderr, "cannot listen on 127.0.0.1:%s\n",
                     qPrintable(parser.value(u"port"_s)));
        return 1;
    }
    std::printf("listening on %u\n", unsigned(server.port()));
    std::fflush(stdout);
    return app.exec();
}
