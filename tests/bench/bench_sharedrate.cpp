// Which way of sharing one rate limit among workers holds it better (issue #14): the shared
// schedule in the database that BatchDesk uses (dispatch/ratelimiter.h in shared mode over
// store/sharedlimits.h, a virtual-time token bucket of which workers reserve a few slots at a
// time) against leased slices (each worker paces itself at limit / live workers, recounted
// at every heartbeat). Both run on a virtual clock with workers that always have work; the
// shared schedule through the real store on an SQLite file (or PostgreSQL with
// --postgres). The scenario: two workers start, a third joins at 30 s, the first dies
// without a word at 60 s, the run ends at 120 s. Prints, for each, the most requests in any
// 60 s (the limit is 1,800) and what share of the limit the run used.
//
// Usage: bench_sharedrate [--postgres] [--heartbeat-ms 5000] [--stale-ms 15000]

#include "../store/privatepostgres.h"
#include "dispatch/ratelimiter.h"
#include "store/database.h"
#include "store/sharedlimits.h"

#include <cstdio>
#include <cstdlib>
#include <QCoreApplication>
#include <QTemporaryDir>

#include <algorithm>
#include <memory>
#include <vector>

using namespace Qt::StringLiterals;

namespace {

constexpr qint64 kRpm = 1'800;
constexpr qint64 kRunMs = 120'000;

struct Worker
{
    qint64 startMs = 0;
    qint64 endMs = kRunMs; // dies (no goodbye) then
    bool aliveAt(qint64 now) const { return now >= startMs && now < endMs; }
};

const std::vector<Worker> kWorkers = {{0, 60'000}, {0, kRunMs}, {30'000, kRunMs}};

struct Figures
{
    int sent = 0;
    int mostInAMinute = 0;
    double ideal = 0.0; // what the limit allowed over the time any worker was alive
};

Figures figuresOf(QList<qint64> sent)
{
    std::sort(sent.begin(), sent.end());
    Figures figures;
    figures.sent = int(sent.size());
    for (qsizetype first = 0, last = 0; last < sent.size(); ++last) {
        while (sent.at(last) - sent.at(first) >= 60'000)
            ++first;
        figures.mostInAMinute = std::max(figures.mostInAMinute, int(last - first + 1));
    }
    figures.ideal = double(kRpm) * double(kRunMs) / 60'000.0;
    return figures;
}

// The shared schedule: every worker's limiter reserves slots in the database.
Figures sharedSchedule(const QString &location)
{
    std::vector<std::unique_ptr<bd::store::Database>> databases;
    std::vector<bd::dispatch::RateLimiter> limiters;
    for (size_t i = 0; i < kWorkers.size(); ++i) {
        QString error;
        databases.push_back(bd::store::Database::open(
            location, bd::store::Database::Access::ReadWrite, &error));
        if (!databases.back()) {
            std::fprintf(stderr, "%s\n", qPrintable(error));
            std::exit(1);
        }
        limiters.emplace_back(bd::dispatch::RateLimiter::Options{.configuredRpm = kRpm});
    }
    for (size_t i = 0; i < kWorkers.size(); ++i)
        limiters[i].share(&databases[i]->sharedLimits(), u"bench||model"_s);
    QList<qint64> sent;
    std::vector<qint64> nextTry(kWorkers.size(), 0);
    for (qint64 now = 0; now < kRunMs; ++now) {
        for (size_t i = 0; i < kWorkers.size(); ++i) {
            if (!kWorkers[i].aliveAt(now) || now < nextTry[i])
                continue;
            const qint64 wait = limiters[i].delayMs(100, now);
            if (wait > 0) {
                nextTry[i] = now + wait;
                continue;
            }
            limiters[i].consume(100, now);
            sent.append(now);
        }
    }
    return figuresOf(sent);
}

// Leased slices: each worker paces itself at the limit over the workers it saw alive at its
// last heartbeat (a worker is alive while its heartbeat is younger than staleMs).
Figures leasedSlices(qint64 heartbeatMs, qint64 staleMs)
{
    QList<qint64> sent;
    std::vector<bd::dispatch::RateLimiter> limiters;
    std::vector<qint64> lastBeat(kWorkers.size(), -1);
    std::vector<qint64> nextTry(kWorkers.size(), 0);
    std::vector<qint64> slice(kWorkers.size(), 0);
    for (size_t i = 0; i < kWorkers.size(); ++i)
        limiters.emplace_back(bd::dispatch::RateLimiter::Options{.configuredRpm = kRpm});
    for (qint64 now = 0; now < kRunMs; ++now) {
        for (size_t i = 0; i < kWorkers.size(); ++i) {
            if (!kWorkers[i].aliveAt(now))
                continue;
            // Heartbeats a little apart from worker to worker, as in life.
            if (lastBeat[i] < 0 || now - lastBeat[i] >= heartbeatMs) {
                lastBeat[i] = now;
                int live = 0;
                for (size_t j = 0; j < kWorkers.size(); ++j)
                    live += lastBeat[j] >= 0 && now - lastBeat[j] < staleMs ? 1 : 0;
                const qint64 share = kRpm / std::max(1, live);
                if (share != slice[i]) {
                    slice[i] = share;
                    limiters[i] = bd::dispatch::RateLimiter(
                        bd::dispatch::RateLimiter::Options{.configuredRpm = share});
                }
            }
            if (now < nextTry[i])
                continue;
            const qint64 wait = limiters[i].delayMs(100, now);
            if (wait > 0) {
                nextTry[i] = now + wait;
                continue;
            }
            limiters[i].consume(100, now);
            sent.append(now);
        }
    }
    return figuresOf(sent);
}

void print(const char *name, const Figures &figures)
{
    std::printf("%-34s sent %5d = %5.1f %% of the limit over the run; most in any 60 s: %4d "
                "(%s the limit of %lld)\n",
                name, figures.sent, 100.0 * figures.sent / figures.ideal, figures.mostInAMinute,
                figures.mostInAMinute > kRpm ? "OVER" : "within", qint64(kRpm));
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const auto value = [&](const QString &name, qint64 fallback) {
        const qsizetype at = args.indexOf(name);
        return at >= 0 && at + 1 < args.size() ? args.at(at + 1).toLongLong() : fallback;
    };
    const qint64 heartbeatMs = value(u"--heartbeat-ms"_s, 5'000);
    const qint64 staleMs = value(u"--stale-ms"_s, 15'000);
    QTemporaryDir dir;
    QString location = dir.filePath(u"bench.sqlite"_s);
    bd::storetest::PrivatePostgres server;
    if (args.contains(u"--postgres"_s)) {
        if (!server.start()) {
            std::fprintf(stderr, "%s\n", qPrintable(server.errorString()));
            return 1;
        }
        location = server.url(u"bench"_s);
    }
    std::printf("limit %lld a minute; workers: two from 0 s, a third from 30 s, the first dies at "
                "60 s; %lld s in all; heartbeat %lld ms, stale after %lld ms\n",
                qint64(kRpm), kRunMs / 1000, heartbeatMs, staleMs);
    print("shared schedule (database)", sharedSchedule(location));
    print("leased slices (per heartbeat)", leasedSlices(heartbeatMs, staleMs));
    return 0;
}
