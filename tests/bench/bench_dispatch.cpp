// bench_dispatch: the dispatch engine's figures against the loopback test server (which
// runs in this process; the engine runs in batchctl child processes, or on the Engine's own
// thread for the preemption figures).
//
//   (a) rate-limit utilisation: the server enforces R requests per window (a fixed window;
//       a sliding one whose reset headers name the next free slot; a sliding one whose
//       resets name when it is full again, as OpenAI and Anthropic do; and a token-bound
//       server with either meaning) and answers 429 + retry-after + x-ratelimit headers
//       (per minute) beyond it; batchctl runs the rows once told --rpm / --tpm and once
//       learning from the headers alone. Prints the used share of the limit, the share of
//       429s and the rows not completed (goal: >= 97 %, <= 1 %, 0).
//   (b) preemption latency: priority-1 jobs submitted while a 10,000-task priority-3 sync
//       job runs, in one engine (one EngineWorker, as the console and one batchctl run it)
//       and across two batchctl processes on the same database; first with no rate limit
//       (the bulk job keeps 64 requests in flight), then with the server enforcing R and
//       both jobs told --rpm R. Prints the time from submitting each priority-1 job to its
//       first request reaching the server (accepted, when limited; goal <= 1 s).
//   (c) 10,000 tasks through batch assembly (the batch-API lane), 10,000 tasks through the
//       sync lane with no provider limit, and a load test offering 3x the nominal rate (the
//       server enforces R, the client is told 3R). Prints throughput, p50/p95 task latency
//       (created -> finished, and claimed -> finished) and batchctl's peak RSS.
//   (d) priority-1 dispatch while a 1,000,000-row CSV imports in the same engine: five
//       one-row priority-1 jobs submitted 500 ms apart; prints the time from submitting each
//       to its first request at the server (goal <= 250 ms) and the import's duration.
//
//   (e) adaptive concurrency: the server takes at most K requests at once (a gateway's or a
//       self-hosted server's parallel limit) and refuses the rest with 429, 100 ms each;
//       batchctl runs with its default concurrency (no --concurrency) and with a generous
//       --concurrency 64. Prints the requests in flight the server saw (time-weighted, from
//       the first request to the last) and that share of K, the share answered 429,
//       throughput and rows lost: the limit should settle near K.
//
//   bench_dispatch [--part a|b|c|d|e|all] [--rpm R] [--window-ms MS] [--requests N] [--concurrency
//   N]
//                  [--server fixed|sliding|tokens]
//                  [--tasks N] [--load-tasks N] [--import-rows N] [--keep] [--batchctl PATH]

#include "api/engine.h"
#include "core/tasktypes.h"
#include "fakeprovider.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTimer>
#include <utility>
#include <vector>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

// The batchctl the runs start (--batchctl: another build's, for before/after figures).
QString g_batchctl = QStringLiteral(BATCHCTL_PATH);

void print(const QString &text)
{
    std::printf("%s\n", qPrintable(text));
    std::fflush(stdout);
}

void waitMs(int ms)
{
    QEventLoop loop;
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    loop.exec();
}

// Waits with the event loop running (the server lives on this thread) until done() or
// timeout; returns done().
template <typename F> bool waitUntil(F done, int timeoutMs, int stepMs = 10)
{
    QElapsedTimer timer;
    timer.start();
    while (!done() && timer.elapsed() < timeoutMs)
        waitMs(stepMs);
    return done();
}

qint64 peakRssKb(qint64 pid)
{
    QFile status(u"/proc/%1/status"_s.arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

QString writeCsv(const QString &path, int rows, const QString &tag)
{
    QFile csv(path);
    if (!csv.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    QByteArray data = "id,text\n";
    for (int row = 1; row <= rows; ++row) {
        data += QByteArray::number(row) + ',' + tag.toUtf8() + " row " + QByteArray::number(row) +
                " about order " + QByteArray::number(7000 + row) + '\n';
        if (data.size() > (1 << 20)) // a million rows are written a megabyte at a time
            csv.write(std::exchange(data, {}));
    }
    csv.write(data);
    return path;
}

// A batchctl child process: waited for with the event loop running, its peak RSS sampled.
struct Child
{
    int exitCode = -1;
    QProcess::ExitStatus status = QProcess::CrashExit;
    QByteArray out;
    QByteArray err;
    qint64 peakRssKb = -1;
    double seconds = 0;
    QJsonObject json() const { return QJsonDocument::fromJson(out).object(); }
};

QProcessEnvironment childEnvironment(const QString &home)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, home + u"/config"_s);
    env.insert(u"XDG_DATA_HOME"_s, home + u"/data"_s);
    env.insert(u"HOME"_s, home);
    env.insert(u"OPENAI_API_KEY"_s, u"sk-bench-0000000000000000"_s);
    env.remove(u"OPENAI_BASE_URL"_s);
    return env;
}

Child runBatchctl(const QStringList &arguments, const QString &home, int timeoutMs = 600'000)
{
    Child child;
    QProcess process;
    process.setProcessEnvironment(childEnvironment(home));
    process.setWorkingDirectory(home);
    QElapsedTimer timer;
    timer.start();
    process.start(g_batchctl, arguments);
    if (!process.waitForStarted(10'000))
        qFatal("cannot start batchctl");
    const qint64 pid = process.processId();
    QEventLoop loop;
    QObject::connect(&process, &QProcess::finished, &loop, &QEventLoop::quit);
    QTimer sampler;
    QObject::connect(&sampler, &QTimer::timeout, &loop,
                     [&] { child.peakRssKb = std::max(child.peakRssKb, peakRssKb(pid)); });
    sampler.start(20);
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    if (process.state() == QProcess::Running)
        loop.exec();
    if (process.state() == QProcess::Running) {
        process.kill();
        process.waitForFinished(5'000);
    }
    child.seconds = double(timer.elapsed()) / 1000.0;
    child.exitCode = process.exitCode();
    child.status = process.exitStatus();
    child.out = process.readAllStandardOutput();
    child.err = process.readAllStandardError();
    return child;
}

double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const size_t index =
        size_t(std::clamp(p * double(values.size() - 1), 0.0, double(values.size() - 1)));
    return values[index];
}

struct Latencies
{
    int completed = 0;
    double p50Total = 0, p95Total = 0; // created -> finished, ms
    double p50Claim = 0, p95Claim = 0; // last claim -> finished, ms
    double spanSeconds = 0;            // first claim -> last finish
};

Latencies latencies(const QString &db)
{
    Latencies result;
    static int connection = 0;
    const QString name = u"bench-%1"_s.arg(++connection);
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        database.setDatabaseName(db);
        if (database.open()) {
            QSqlQuery query(database);
            query.setForwardOnly(true);
            query.exec(u"SELECT created_at, started_at, finished_at FROM tasks WHERE state = 2"_s);
            std::vector<double> total;
            std::vector<double> claimed;
            qint64 first = std::numeric_limits<qint64>::max();
            qint64 last = 0;
            while (query.next()) {
                const qint64 created = query.value(0).toLongLong();
                const qint64 started = query.value(1).toLongLong();
                const qint64 finished = query.value(2).toLongLong();
                total.push_back(double(finished - created));
                claimed.push_back(double(finished - started));
                first = std::min(first, started);
                last = std::max(last, finished);
            }
            result.completed = int(total.size());
            result.p50Total = percentile(total, 0.5);
            result.p95Total = percentile(total, 0.95);
            result.p50Claim = percentile(claimed, 0.5);
            result.p95Claim = percentile(claimed, 0.95);
            result.spanSeconds = result.completed ? double(last - first) / 1000.0 : 0;
        }
        database.close();
    }
    QSqlDatabase::removeDatabase(name);
    return result;
}

QStringList syncArguments(const QString &csv, const QString &db, const QString &baseUrl,
                          int priority, int concurrency)
{
    return {u"run"_s,           csv,
            u"--template"_s,    u"Classify: {{text}}"_s,
            u"--provider"_s,    u"openai-compatible"_s,
            u"--base-url"_s,    baseUrl,
            u"--model"_s,       u"fake-model-1"_s,
            u"--priority"_s,    QString::number(priority),
            u"--mode"_s,        priority == 1 ? u"realtime"_s : u"auto"_s,
            u"--concurrency"_s, QString::number(concurrency),
            u"--db"_s,          db,
            u"--json"_s};
}

// ---------------------------------------------------------------------------------------
// (a) rate-limit utilisation

// One kind of enforced limit for (a).
struct ServerMode
{
    QString name;
    bool sliding = true;
    bool untilFull = false; // reset headers: until fully replenished, else until the next slot
    bool tokenBound = false;
};

void rateLimitUtilisation(const QString &home, int rpm, int windowMs, int requests, int concurrency,
                          const QString &only)
{
    constexpr int kMaxOutputTokens = 64;
    const int perWindow = int(qint64(rpm) * windowMs / 60'000);
    print(u"\n(a) rate-limit utilisation: server enforces %1 requests per %2 ms (= %3 rpm; the "
          "token-bound server the same rate in tokens, %4 max output tokens a row, requests "
          "unlimited), headers per minute; %5 rows per run, concurrency %6, server latency 20 ms"_s
              .arg(perWindow)
              .arg(windowMs)
              .arg(rpm)
              .arg(kMaxOutputTokens)
              .arg(requests)
              .arg(concurrency));
    print(u"    %1 %2 %3 %4 %5 %6 %7 %8"_s.arg(u"server"_s, -22)
              .arg(u"client"_s, -16)
              .arg(u"accepted"_s, 9)
              .arg(u"429s"_s, 6)
              .arg(u"429 share"_s, 10)
              .arg(u"used"_s, 8)
              .arg(u"lost"_s, 5)
              .arg(u"wall s"_s, 7));
    const QList<ServerMode> modes = {
        {u"fixed window"_s, false, false, false},
        {u"sliding, next slot"_s, true, false, false},
        {u"sliding, until full"_s, true, true, false},
        {u"tokens, next slot"_s, true, false, true},
        {u"tokens, until full"_s, true, true, true},
    };
    int runNo = 0;
    for (const ServerMode &mode : modes) {
        if (!only.isEmpty() && !mode.name.startsWith(only))
            continue;
        for (bool configured : {true, false}) {
            FakeProvider server;
            if (!server.listen())
                qFatal("cannot listen");
            server.options().latencyMs = 20;
            server.options().enforceWindowMs = windowMs;
            server.options().slidingWindow = mode.sliding;
            server.options().resetUntilFull = mode.untilFull;
            // The token-bound server admits perWindow requests' worth of tokens, sized by
            // the first row's charge (prompt + max output, as the server counts it).
            const QString firstPrompt = u"Classify: rate row 1 about order 7001"_s;
            const qint64 tokensPerRequest = FakeProvider::tokensFor(firstPrompt) + kMaxOutputTokens;
            const qint64 tokensPerWindow = qint64(perWindow) * tokensPerRequest;
            const qint64 tpm = tokensPerWindow * 60'000 / windowMs;
            if (mode.tokenBound)
                server.options().enforceTokens = tokensPerWindow;
            else
                server.options().enforceRequests = perWindow;
            QList<std::pair<qint64, qint64>> accepted; // time, tokens charged
            QElapsedTimer clock;
            clock.start();
            QObject::connect(&server, &FakeProvider::chatReceived, &server,
                             [&](const QString &prompt) {
                                 accepted.append({clock.elapsed(), FakeProvider::tokensFor(prompt) +
                                                                       kMaxOutputTokens});
                             });
            const QString dir = home + u"/a%1"_s.arg(++runNo);
            QDir().mkpath(dir);
            const QString csv = writeCsv(dir + u"/rows.csv"_s, requests, u"rate"_s);
            QStringList arguments =
                syncArguments(csv, dir + u"/jobs.sqlite"_s, server.openAiBaseUrl(), 2, concurrency);
            arguments << u"--max-output-tokens"_s << QString::number(kMaxOutputTokens);
            QString client = u"headers only"_s;
            if (configured && mode.tokenBound) {
                arguments << u"--tpm"_s << QString::number(tpm);
                client = u"--tpm %1"_s.arg(tpm);
            } else if (configured) {
                arguments << u"--rpm"_s << QString::number(rpm);
                client = u"--rpm %1"_s.arg(rpm);
            }
            const Child child = runBatchctl(arguments, dir);
            const int refused = server.enforcedRefusals();
            const int total = int(accepted.size()) + refused;
            // Used share of the limit between the first and the last accepted request.
            double used = 0;
            if (accepted.size() > 1) {
                const double minutes =
                    double(accepted.last().first - accepted.first().first) / 60'000.0;
                if (mode.tokenBound) {
                    qint64 tokens = 0;
                    for (qsizetype i = 1; i < accepted.size(); ++i)
                        tokens += accepted.at(i).second;
                    used = double(tokens) / minutes / double(tpm);
                } else {
                    used = double(accepted.size() - 1) / minutes / double(rpm);
                }
            }
            const int lost = requests - child.json().value(u"completed"_s).toInt();
            print(u"    %1 %2 %3 %4 %5 %6 %7 %8%9"_s.arg(mode.name, -22)
                      .arg(client, -16)
                      .arg(accepted.size(), 9)
                      .arg(refused, 6)
                      .arg(u"%1 %"_s.arg(total ? 100.0 * refused / total : 0.0, 0, 'f', 2), 10)
                      .arg(u"%1 %"_s.arg(100.0 * used, 0, 'f', 1), 8)
                      .arg(lost, 5)
                      .arg(child.seconds, 7, 'f', 1)
                      .arg(child.exitCode == 0 ? QString()
                                               : u"  (batchctl exit %1)"_s.arg(child.exitCode)));
        }
    }
}

// ---------------------------------------------------------------------------------------
// (b) preemption latency

// limitRpm > 0: the server enforces it (fixed 10 s windows, headers on) and both jobs are
// told --rpm limitRpm; the time measured is then to the first *accepted* request (refused
// ones never reach chatReceived).
// An engine in this process on the database, opened.
std::unique_ptr<bd::Engine> openEngine(const QString &database)
{
    bd::EngineOptions options;
    options.database = database;
    auto engine = bd::createEngine(options);
    bool opened = false;
    QObject::connect(engine.get(), &bd::Engine::opened, engine.get(),
                     [&](bool ok, const QString &error) {
                         if (!ok)
                             qFatal("engine: %s", qPrintable(error));
                         opened = true;
                     });
    engine->open();
    waitUntil([&] { return opened; }, 30'000);
    return engine;
}

void preemptionInOneEngine(const QString &home, int bulkTasks, int probes, int limitRpm)
{
    print(u"\n(b1%1) preemption in one engine: a %2-task priority-3 sync job (concurrency 64, "
          "server latency 100 ms%3) runs; %4 priority-1 jobs of one task are submitted 1 s apart"_s
              .arg(limitRpm ? u"'"_s : QString())
              .arg(bulkTasks)
              .arg(limitRpm ? u", server enforces %1 rpm, both jobs told --rpm %1"_s.arg(limitRpm)
                            : u", no rate limit"_s)
              .arg(probes));
    FakeProvider server;
    if (!server.listen())
        qFatal("cannot listen");
    server.options().latencyMs = 100;
    // Without a limit no pacing either: the bulk job fills its 64 slots.
    server.options().sendRateLimitHeaders = limitRpm > 0;
    if (limitRpm > 0) {
        server.options().enforceRequests = limitRpm / 6;
        server.options().enforceWindowMs = 10'000;
    }
    const QString dir = home + (limitRpm ? u"/b1r"_s : u"/b1"_s);
    QDir().mkpath(dir);
    QElapsedTimer clock;
    clock.start();
    QHash<QString, qint64> firstArrival; // tag -> ms
    int bulkArrivals = 0;
    QObject::connect(&server, &FakeProvider::chatReceived, &server, [&](const QString &prompt) {
        if (prompt.contains(u"URGENT-"_s)) {
            const QString tag = prompt.section(u"URGENT-"_s, 1).section(u' ', 0, 0);
            if (!firstArrival.contains(tag))
                firstArrival.insert(tag, clock.elapsed());
        } else {
            ++bulkArrivals;
        }
    });

    auto engineOwner = openEngine(dir + u"/jobs.sqlite"_s);
    bd::Engine &engine = *engineOwner;

    QList<bd::ImportResult> imports;
    QObject::connect(&engine, &bd::Engine::importFinished, &engine,
                     [&](const bd::ImportResult &result) { imports.append(result); });
    const auto import = [&](const QString &csv, int priority, const QString &mode) {
        bd::JobSpec spec;
        spec.sourcePath = csv;
        spec.templateText = u"Classify: {{text}}"_s;
        spec.provider = u"openai-compatible"_s;
        spec.model = u"fake-model-1"_s;
        spec.baseUrl = server.openAiBaseUrl();
        spec.priority = priority;
        spec.mode = mode;
        spec.settings = QJsonObject{{u"concurrency"_s, 64}};
        if (limitRpm > 0)
            spec.settings.insert(u"rpm"_s, limitRpm);
        const qsizetype before = imports.size();
        engine.importJob(spec);
        waitUntil([&] { return imports.size() > before; }, 120'000, 1);
        if (imports.size() == before || !imports.last().ok)
            qFatal("import failed");
        return imports.last().jobId;
    };
    const auto config = [&] {
        bd::ProviderConfig provider;
        provider.id = u"openai-compatible"_s;
        provider.baseUrl = server.openAiBaseUrl();
        provider.settings = QJsonObject{{u"concurrency"_s, 64}};
        if (limitRpm > 0)
            provider.settings.insert(u"rpm"_s, limitRpm);
        return provider;
    };
    QSet<qint64> stopped;
    QObject::connect(&engine, &bd::Engine::jobStopped, &engine,
                     [&](qint64 id, bd::JobState, const QString &) { stopped.insert(id); });

    const qint64 bulk =
        import(writeCsv(dir + u"/bulk.csv"_s, bulkTasks, u"bulk"_s), 3, u"grouped"_s);
    engine.startJob(bulk, config());
    waitUntil([&] { return bulkArrivals >= (limitRpm ? 300 : 500); }, 60'000);

    std::vector<double> fromSubmit;
    std::vector<double> fromStart;
    for (int i = 1; i <= probes; ++i) {
        const QString tag = QString::number(i);
        const QString csv = dir + u"/urgent%1.csv"_s.arg(i);
        {
            QFile file(csv);
            file.open(QIODevice::WriteOnly);
            file.write("id,text\n1,URGENT-" + tag.toUtf8() + " customer waiting\n");
        }
        const int inFlightBefore = server.inFlight();
        const int bulkBefore = bulkArrivals;
        const qint64 submitted = clock.elapsed();
        const qint64 job = import(csv, 1, u"realtime"_s);
        const qint64 started = clock.elapsed();
        engine.startJob(job, config());
        waitUntil([&] { return firstArrival.contains(tag); }, 30'000, 1);
        const qint64 arrived = firstArrival.value(tag, -1);
        fromSubmit.push_back(double(arrived - submitted));
        fromStart.push_back(double(arrived - started));
        const int bulkUntilDispatch = bulkArrivals - bulkBefore;
        print(u"    p1 job %1: first %6request at the server %2 ms after submitting (import "
              "%3 ms, %4 ms after startJob); %5 bulk requests were in flight"_s.arg(i)
                  .arg(arrived - submitted)
                  .arg(started - submitted)
                  .arg(arrived - started)
                  .arg(inFlightBefore)
                  .arg(limitRpm ? u"accepted "_s : QString()));
        waitUntil([&] { return stopped.contains(job); }, 30'000);
        print(u"        bulk requests sent meanwhile: %1 before the p1 request, %2 until the p1 "
              "job finished (%3 ms after submitting)"_s.arg(bulkUntilDispatch)
                  .arg(bulkArrivals - bulkBefore)
                  .arg(clock.elapsed() - submitted));
        waitMs(1'000);
    }
    print(u"    => submit -> first %4dispatch: p50 %1 ms, max %2 ms (goal <= 1000 ms); "
          "bulk requests sent meanwhile: %3%5"_s.arg(percentile(fromSubmit, 0.5))
              .arg(*std::max_element(fromSubmit.begin(), fromSubmit.end()))
              .arg(bulkArrivals)
              .arg(limitRpm ? u"accepted "_s : QString())
              .arg(limitRpm ? u"; 429s: %1"_s.arg(server.enforcedRefusals()) : QString()));
    bool all = false;
    QObject::connect(&engine, &bd::Engine::stoppedAll, &engine, [&] { all = true; });
    engine.stopAll(bd::StopCause::User);
    waitUntil([&] { return all; }, 60'000);
}

void preemptionAcrossProcesses(const QString &home, int bulkTasks, int limitRpm)
{
    print(u"\n(b2%1) across two batchctl processes on one database: the same %2-task "
          "priority-3 job in one%3, `batchctl run --priority 1` (one task) started in another"_s
              .arg(limitRpm ? u"'"_s : QString())
              .arg(bulkTasks)
              .arg(limitRpm ? u" (server enforces %1 rpm, both told --rpm %1)"_s.arg(limitRpm)
                            : QString()));
    FakeProvider server;
    if (!server.listen())
        qFatal("cannot listen");
    server.options().latencyMs = 100;
    server.options().sendRateLimitHeaders = limitRpm > 0;
    if (limitRpm > 0) {
        server.options().enforceRequests = limitRpm / 6;
        server.options().enforceWindowMs = 10'000;
    }
    const QString dir = home + (limitRpm ? u"/b2r"_s : u"/b2"_s);
    QDir().mkpath(dir);
    const QString db = dir + u"/jobs.sqlite"_s;
    QElapsedTimer clock;
    clock.start();
    qint64 urgentAt = -1;
    int bulkArrivals = 0;
    QObject::connect(&server, &FakeProvider::chatReceived, &server, [&](const QString &prompt) {
        if (prompt.contains(u"URGENT"_s)) {
            if (urgentAt < 0)
                urgentAt = clock.elapsed();
        } else {
            ++bulkArrivals;
        }
    });
    QStringList limit;
    if (limitRpm > 0)
        limit << u"--rpm"_s << QString::number(limitRpm);
    QProcess bulk;
    bulk.setProcessEnvironment(childEnvironment(dir));
    bulk.start(g_batchctl, syncArguments(writeCsv(dir + u"/bulk.csv"_s, bulkTasks, u"bulk"_s), db,
                                         server.openAiBaseUrl(), 3, 64) +
                               limit);
    bulk.waitForStarted();
    waitUntil([&] { return bulkArrivals >= (limitRpm ? 300 : 500); }, 60'000);
    const QString csv = dir + u"/urgent.csv"_s;
    {
        QFile file(csv);
        file.open(QIODevice::WriteOnly);
        file.write("id,text\n1,URGENT customer waiting\n");
    }
    const qint64 submitted = clock.elapsed();
    const int refusedBefore = server.enforcedRefusals();
    const Child urgent =
        runBatchctl(syncArguments(csv, db, server.openAiBaseUrl(), 1, 4) + limit, dir, 60'000);
    print(u"    p1 run: first %4request at the server %1 ms after `batchctl run` started; the "
          "run took %2 s (exit %3)%5"_s.arg(urgentAt >= 0 ? urgentAt - submitted : -1)
              .arg(urgent.seconds, 0, 'f', 2)
              .arg(urgent.exitCode)
              .arg(limitRpm ? u"accepted "_s : QString())
              .arg(limitRpm ? u"; 429s meanwhile (both processes): %1"_s.arg(
                                  server.enforcedRefusals() - refusedBefore)
                            : QString()));
    bulk.terminate(); // SIGTERM: batchctl pauses the job and exits
    waitUntil([&] { return bulk.state() != QProcess::Running; }, 30'000);
}

// ---------------------------------------------------------------------------------------
// (c) assembly and load

void printRun(const QString &label, const Child &child, const Latencies &l)
{
    print(u"    %1: %2 tasks in %3 s wall (%4 tasks/s), span first claim -> last answer "
          "%5 s (%6 tasks/s)"_s.arg(label)
              .arg(l.completed)
              .arg(child.seconds, 0, 'f', 1)
              .arg(child.seconds > 0 ? l.completed / child.seconds : 0, 0, 'f', 0)
              .arg(l.spanSeconds, 0, 'f', 1)
              .arg(l.spanSeconds > 0 ? l.completed / l.spanSeconds : 0, 0, 'f', 0));
    print(u"        task latency created -> finished: p50 %1 ms, p95 %2 ms; claimed -> "
          "finished: p50 %3 ms, p95 %4 ms; batchctl peak RSS %5 MiB; exit %6"_s
              .arg(l.p50Total, 0, 'f', 0)
              .arg(l.p95Total, 0, 'f', 0)
              .arg(l.p50Claim, 0, 'f', 0)
              .arg(l.p95Claim, 0, 'f', 0)
              .arg(double(child.peakRssKb) / 1024.0, 0, 'f', 1)
              .arg(child.exitCode));
    if (child.exitCode != 0 || child.status != QProcess::NormalExit)
        print(u"        batchctl %1 exit %2; stderr: %3"_s
                  .arg(child.status == QProcess::NormalExit ? u"normal"_s : u"crash"_s)
                  .arg(child.exitCode)
                  .arg(QString::fromUtf8(child.err.right(1500))));
}

void assemblyAndLoad(const QString &home, int tasks, int loadTasks, int rpm, int windowMs)
{
    print(u"\n(c) throughput, latency and memory"_s);
    {
        FakeProvider server;
        if (!server.listen())
            qFatal("cannot listen");
        const QString dir = home + u"/c1"_s;
        QDir().mkpath(dir);
        const QString db = dir + u"/jobs.sqlite"_s;
        const Child child = runBatchctl({u"run"_s,
                                         writeCsv(dir + u"/rows.csv"_s, tasks, u"batch"_s),
                                         u"--template"_s,
                                         u"Classify: {{text}}"_s,
                                         u"--provider"_s,
                                         u"openai"_s,
                                         u"--base-url"_s,
                                         server.openAiBaseUrl(),
                                         u"--model"_s,
                                         u"gpt-4.1-mini"_s,
                                         u"--priority"_s,
                                         u"3"_s,
                                         u"--mode"_s,
                                         u"batch-api"_s,
                                         u"--batch-size"_s,
                                         u"1000"_s,
                                         u"--batch-poll-ms"_s,
                                         u"250"_s,
                                         u"--db"_s,
                                         db,
                                         u"--json"_s},
                                        dir);
        printRun(u"c1 batch-API lane, %1 tasks, batches of <= 1000 (4 open at once), first "
                 "poll 250 ms"_s.arg(tasks),
                 child, latencies(db));
        print(u"        provider batches created: %1; cost $%2 (batch price)"_s
                  .arg(server.batchesCreated())
                  .arg(child.json().value(u"cost_usd"_s).toDouble(), 0, 'f', 4));
    }
    {
        FakeProvider server;
        if (!server.listen())
            qFatal("cannot listen");
        server.options().latencyMs = 20;
        server.options().sendRateLimitHeaders = false; // a local server: no limit known
        const QString dir = home + u"/c2"_s;
        QDir().mkpath(dir);
        const QString db = dir + u"/jobs.sqlite"_s;
        const Child child =
            runBatchctl(syncArguments(writeCsv(dir + u"/rows.csv"_s, tasks, u"sync"_s), db,
                                      server.openAiBaseUrl(), 2, 64),
                        dir);
        printRun(
            u"c2 sync lane, %1 tasks, concurrency 64, server latency 20 ms, no limit"_s.arg(tasks),
            child, latencies(db));
        print(u"        server: mean %1 / max %2 requests in flight"_s
                  .arg(server.meanInFlight(), 0, 'f', 1)
                  .arg(server.maxInFlight()));
    }
    for (bool headers : {true, false}) {
        FakeProvider server;
        if (!server.listen())
            qFatal("cannot listen");
        server.options().latencyMs = 20;
        server.options().enforceRequests = int(qint64(rpm) * windowMs / 60'000);
        server.options().enforceWindowMs = windowMs;
        server.options().sendRateLimitHeaders = headers; // without: 429 + retry-after only
        QList<qint64> accepted;
        QElapsedTimer clock;
        clock.start();
        QObject::connect(&server, &FakeProvider::chatReceived, &server,
                         [&](const QString &) { accepted.append(clock.elapsed()); });
        const QString dir = home + (headers ? u"/c3"_s : u"/c4"_s);
        QDir().mkpath(dir);
        const QString db = dir + u"/jobs.sqlite"_s;
        QStringList arguments = syncArguments(writeCsv(dir + u"/rows.csv"_s, loadTasks, u"load"_s),
                                              db, server.openAiBaseUrl(), 2, 64);
        arguments << u"--rpm"_s << QString::number(3 * rpm);
        const Child child = runBatchctl(arguments, dir);
        const int refused = server.enforcedRefusals();
        const double rate = accepted.size() > 1 ? double(accepted.size() - 1) * 60'000.0 /
                                                      double(accepted.last() - accepted.first())
                                                : 0;
        printRun(u"%1 load at 3x nominal: server enforces %2 rpm (fixed %3 ms windows, %4), "
                 "client told --rpm %5, %6 tasks, concurrency 64"_s.arg(headers ? u"c3"_s : u"c4"_s)
                     .arg(rpm)
                     .arg(windowMs)
                     .arg(headers ? u"x-ratelimit headers on every answer"_s
                                  : u"no rate-limit headers: 429 + retry-after only"_s)
                     .arg(3 * rpm)
                     .arg(loadTasks),
                 child, latencies(db));
        print(u"        accepted rate %1 rpm (%2 % of the server's limit); %3 of %4 requests "
              "answered 429 (%5 %)"_s.arg(rate, 0, 'f', 0)
                  .arg(100.0 * rate / rpm, 0, 'f', 1)
                  .arg(refused)
                  .arg(refused + accepted.size())
                  .arg(100.0 * refused / std::max<qsizetype>(1, refused + accepted.size()), 0, 'f',
                       2));
    }
}

// ---------------------------------------------------------------------------------------
// (e) adaptive concurrency

void adaptiveConcurrency(const QString &home, int requests)
{
    constexpr int kLatencyMs = 100;
    print(
        u"\n(e) adaptive concurrency: the server takes K requests at once and answers 429 "
        "beyond (those 429s state no rate figures, retry after 100 ms); %1 ms a request; %2 rows a run"_s
            .arg(kLatencyMs)
            .arg(requests));
    print(u"    %1 %2 %3 %4 %5 %6 %7 %8"_s.arg(u"server K"_s, -9)
              .arg(u"client"_s, -18)
              .arg(u"in flight"_s, 10)
              .arg(u"of K"_s, 7)
              .arg(u"429s"_s, 6)
              .arg(u"429 share"_s, 10)
              .arg(u"tasks/s"_s, 8)
              .arg(u"lost"_s, 5));
    struct Case
    {
        int serverLimit;
        int ceiling; // 0: batchctl's default
    };
    int runNo = 0;
    for (const Case &run : {Case{4, 0}, Case{12, 0}, Case{4, 64}, Case{24, 64}, Case{0, 64}}) {
        FakeProvider server;
        if (!server.listen())
            qFatal("cannot listen");
        server.options().latencyMs = kLatencyMs;
        server.options().maxConcurrent = run.serverLimit;
        server.options().retryAfterMs = 100;
        QList<qint64> accepted;
        QElapsedTimer clock;
        clock.start();
        // Requests in flight at the server, time-weighted from the first request on (the
        // counters restart then) to the last one accepted.
        double serverInFlight = 0;
        QObject::connect(&server, &FakeProvider::chatReceived, &server, [&](const QString &) {
            if (accepted.isEmpty())
                server.resetCounters();
            accepted.append(clock.elapsed());
            serverInFlight = server.meanInFlight();
        });
        const QString dir = home + u"/d%1"_s.arg(++runNo);
        QDir().mkpath(dir);
        const QString csv = writeCsv(dir + u"/rows.csv"_s, requests, u"adaptive"_s);
        QStringList arguments = syncArguments(csv, dir + u"/jobs.sqlite"_s, server.openAiBaseUrl(),
                                              2, qMax(1, run.ceiling));
        if (run.ceiling == 0)
            arguments.remove(arguments.indexOf(u"--concurrency"_s), 2);
        const Child child = runBatchctl(arguments, dir);
        const int refused = server.concurrencyRefusals();
        const int total = int(accepted.size()) + refused;
        const double span =
            accepted.size() > 1 ? double(accepted.last() - accepted.first()) / 1000.0 : 0;
        const double rate = span > 0 ? double(accepted.size() - 1) / span : 0;
        const int lost = requests - child.json().value(u"completed"_s).toInt();
        print(u"    %1 %2 %3 %4 %5 %6 %7 %8%9"_s
                  .arg(run.serverLimit ? QString::number(run.serverLimit) : u"none"_s, -9)
                  .arg(run.ceiling ? u"--concurrency %1"_s.arg(run.ceiling) : u"default"_s, -18)
                  .arg(serverInFlight, 10, 'f', 2)
                  .arg(run.serverLimit
                           ? u"%1 %"_s.arg(100.0 * serverInFlight / run.serverLimit, 0, 'f', 1)
                           : u"-"_s,
                       7)
                  .arg(refused, 6)
                  .arg(u"%1 %"_s.arg(total ? 100.0 * refused / total : 0.0, 0, 'f', 2), 10)
                  .arg(rate, 8, 'f', 1)
                  .arg(lost, 5)
                  .arg(child.exitCode == 0 ? QString()
                                           : u"  (batchctl exit %1)"_s.arg(child.exitCode)));
    }
}

} // namespace

// (d) An import never stalls dispatch: a CSV of `rows` rows imports (stored a chunk per turn
// of the engine thread's event loop, parsed on a pool thread) while priority-1 jobs of one
// row are submitted 500 ms apart; each one's first request must reach the server within
// 250 ms of its submission.
void dispatchDuringImport(const QString &home, int rows, int probes)
{
    print(u"\n(d) priority-1 dispatch while a %1-row CSV imports: %2 priority-1 jobs of one row "
          "submitted 500 ms apart, server latency 0"_s.arg(rows)
              .arg(probes));
    FakeProvider server;
    if (!server.listen())
        qFatal("cannot listen");
    const QString dir = home + u"/d"_s;
    QDir().mkpath(dir);
    QElapsedTimer clock;
    clock.start();
    const QString bigCsv = writeCsv(dir + u"/big.csv"_s, rows, u"bulk"_s);
    print(u"    wrote %1 (%2 MB) in %3 ms"_s.arg(bigCsv)
              .arg(QFileInfo(bigCsv).size() / 1'000'000)
              .arg(clock.restart()));
    QHash<QString, qint64> firstArrival; // tag -> ms
    QObject::connect(&server, &FakeProvider::chatReceived, &server, [&](const QString &prompt) {
        const QString tag = prompt.section(u"URGENT-"_s, 1).section(u' ', 0, 0);
        if (!tag.isEmpty() && !firstArrival.contains(tag))
            firstArrival.insert(tag, clock.elapsed());
    });

    auto engineOwner = openEngine(dir + u"/jobs.sqlite"_s);
    bd::Engine &engine = *engineOwner;
    QList<bd::ImportResult> imports;
    QObject::connect(&engine, &bd::Engine::importFinished, &engine,
                     [&](const bd::ImportResult &result) { imports.append(result); });
    qint64 bigRows = 0;
    QObject::connect(&engine, &bd::Engine::importProgressed, &engine,
                     [&](qint64 stored, qint64, qint64) { bigRows = qMax(bigRows, stored); });
    const auto spec = [&](const QString &csv, int priority) {
        bd::JobSpec job;
        job.sourcePath = csv;
        job.templateText = u"Classify: {{text}}"_s;
        job.provider = u"openai-compatible"_s;
        job.model = u"fake-model-1"_s;
        job.baseUrl = server.openAiBaseUrl();
        job.priority = priority;
        job.mode = priority == 1 ? u"realtime"_s : u"grouped"_s;
        return job;
    };
    bd::ProviderConfig provider;
    provider.id = u"openai-compatible"_s;
    provider.baseUrl = server.openAiBaseUrl();

    const qint64 importStarted = clock.elapsed();
    engine.importJob(spec(bigCsv, 3));
    waitUntil([&] { return bigRows > 0; }, 60'000, 1);
    std::vector<double> fromSubmit;
    for (int i = 1; i <= probes; ++i) {
        const QString tag = QString::number(i);
        const QString csv = dir + u"/urgent%1.csv"_s.arg(i);
        {
            QFile file(csv);
            file.open(QIODevice::WriteOnly);
            file.write("id,text\n1,URGENT-" + tag.toUtf8() + " customer waiting\n");
        }
        const qint64 rowsThen = bigRows;
        const qint64 submitted = clock.elapsed();
        const qsizetype before = imports.size();
        engine.importJob(spec(csv, 1));
        // The probe's import ends first (one row); the big one is still under way.
        waitUntil([&] { return imports.size() > before; }, 30'000, 1);
        const bd::ImportResult probe = imports.value(before);
        if (!probe.ok || probe.rows != 1)
            qFatal("probe import failed: %s", qPrintable(probe.error));
        const qint64 started = clock.elapsed();
        engine.startJob(probe.jobId, provider);
        waitUntil([&] { return firstArrival.contains(tag); }, 30'000, 1);
        const qint64 arrived = firstArrival.value(tag, -1);
        fromSubmit.push_back(double(arrived - submitted));
        print(
            u"    p1 job %1: first request at the server %2 ms after submitting (its import %3 ms, "
            "%4 ms after startJob); the big import at row %5 then, %6 now"_s.arg(i)
                .arg(arrived - submitted)
                .arg(started - submitted)
                .arg(arrived - started)
                .arg(rowsThen)
                .arg(bigRows));
        waitMs(500);
    }
    waitUntil([&] { return imports.size() > probes; }, 600'000);
    const qint64 importMs = clock.elapsed() - importStarted;
    const bd::ImportResult big = imports.constLast();
    print(
        u"    the %1-row import took %2 ms (%3 rows/s) with the probes running; %4"_s.arg(big.rows)
            .arg(importMs)
            .arg(qint64(double(big.rows) * 1000.0 / double(qMax<qint64>(1, importMs))))
            .arg(big.ok ? u"ok"_s : big.error));
    print(
        u"    => submit -> first p1 request during the import: p50 %1 ms, max %2 ms (goal <= 250 ms)"_s
            .arg(percentile(fromSubmit, 0.5))
            .arg(*std::max_element(fromSubmit.begin(), fromSubmit.end())));
}

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(u"Dispatch benchmarks against the loopback server."_s);
    parser.addHelpOption();
    parser.addOptions({
        {u"part"_s, u"a, b, c, d, e or all (default)."_s, u"PART"_s, u"all"_s},
        {u"rpm"_s, u"R: the limit the server enforces, per minute (default 6000)."_s, u"R"_s,
         u"6000"_s},
        {u"window-ms"_s, u"The server's rate-limit window (default 10000)."_s, u"MS"_s, u"10000"_s},
        {u"requests"_s, u"(a) requests per run (default 2400)."_s, u"N"_s, u"2400"_s},
        {u"adaptive-requests"_s, u"(e) requests per run (default 1500)."_s, u"N"_s, u"1500"_s},
        {u"concurrency"_s, u"(a) --concurrency of the runs (default 32)."_s, u"N"_s, u"32"_s},
        {u"server"_s, u"(a) only the server modes whose name starts so (fixed, sliding, tokens)."_s,
         u"NAME"_s},
        {u"tasks"_s, u"(b) bulk job and (c) assembly/sync size (default 10000)."_s, u"N"_s,
         u"10000"_s},
        {u"load-tasks"_s, u"(c) tasks of the 3x load test (default 3000)."_s, u"N"_s, u"3000"_s},
        {u"import-rows"_s, u"(d) rows of the CSV imported meanwhile (default 1000000)."_s, u"N"_s,
         u"1000000"_s},
        {u"keep"_s, u"Keep the temporary folder (databases, CSVs)."_s},
        {u"batchctl"_s, u"The batchctl to run (default: this build's)."_s, u"PATH"_s},
    });
    parser.process(app);
    if (parser.isSet(u"batchctl"_s))
        g_batchctl = parser.value(u"batchctl"_s);
    const QString part = parser.value(u"part"_s);
    const int rpm = parser.value(u"rpm"_s).toInt();
    const int windowMs = parser.value(u"window-ms"_s).toInt();
    QTemporaryDir dir;
    dir.setAutoRemove(!parser.isSet(u"keep"_s));
    if (parser.isSet(u"keep"_s))
        print(u"working folder: "_s + dir.path());
    print(u"bench_dispatch: batchctl %1; server in this process; %2"_s.arg(
        g_batchctl, QDateTime::currentDateTime().toString(Qt::ISODate)));
    if (part == u"a"_s || part == u"all"_s)
        rateLimitUtilisation(dir.path(), rpm, windowMs, parser.value(u"requests"_s).toInt(),
                             parser.value(u"concurrency"_s).toInt(), parser.value(u"server"_s));
    if (part == u"b"_s || part == u"all"_s) {
        for (int limit : {0, rpm}) {
            preemptionInOneEngine(dir.path(), parser.value(u"tasks"_s).toInt(), 5, limit);
            preemptionAcrossProcesses(dir.path(), parser.value(u"tasks"_s).toInt(), limit);
        }
    }
    if (part == u"c"_s || part == u"all"_s)
        assemblyAndLoad(dir.path(), parser.value(u"tasks"_s).toInt(),
                        parser.value(u"load-tasks"_s).toInt(), rpm, windowMs);
    if (part == u"d"_s || part == u"all"_s)
        dispatchDuringImport(dir.path(), parser.value(u"import-rows"_s).toInt(), 5);
    if (part == u"e"_s || part == u"all"_s)
        adaptiveConcurrency(dir.path(), parser.value(u"adaptive-requests"_s).toInt());
    return 0;
}
