// The rate limiter against a simulated provider on the fake clock: a sliding window that
// enforces a request or token limit, reports it in per-minute headers and names its reset
// either as "until full" (OpenAI, Anthropic) or as "until the next slot". The client keeps
// up to 32 requests in flight, 20 ms each, and retries every refused request.

#include "core/clock.h"
#include "dispatch/ratelimiter.h"
#include "store/database.h"

#include <algorithm>
#include <deque>
#include <QList>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::FakeClock;
using bd::dispatch::RateLimiter;
using bd::providers::RateLimitInfo;

namespace {

enum class ResetMeaning
{
    UntilFull,
    UntilNextSlot
};

// Sliding window of windowMs holding at most maxRequests requests and maxTokens tokens.
class SimulatedProvider
{
public:
    SimulatedProvider(qint64 windowMs, qint64 maxRequests, qint64 maxTokens, ResetMeaning meaning)
        : m_windowMs(windowMs)
        , m_maxRequests(maxRequests)
        , m_maxTokens(maxTokens)
        , m_meaning(meaning)
    {
    }

    // Admits or refuses a request of `tokens` at nowMs; fills the headers and retry-after.
    bool admit(qint64 tokens, qint64 nowMs, RateLimitInfo *info, qint64 *retryAfterMs)
    {
        purge(nowMs);
        const bool ok =
            qint64(m_accepted.size()) < m_maxRequests && usedTokens() + tokens <= m_maxTokens;
        if (ok)
            m_accepted.push_back({nowMs, tokens});
        else
            *retryAfterMs = waitFor(tokens, nowMs);
        info->limitRequests = m_maxRequests * 60'000 / m_windowMs;
        info->limitTokens = m_maxTokens * 60'000 / m_windowMs;
        info->remainingRequests = m_maxRequests - qint64(m_accepted.size());
        info->remainingTokens = std::max<qint64>(0, m_maxTokens - usedTokens());
        info->resetRequestsMs = reset(nowMs, 1);
        info->resetTokensMs = reset(nowMs, tokens);
        return ok;
    }

private:
    struct Entry
    {
        qint64 atMs;
        qint64 tokens;
    };
    void purge(qint64 nowMs)
    {
        while (!m_accepted.empty() && m_accepted.front().atMs <= nowMs - m_windowMs)
            m_accepted.pop_front();
    }
    qint64 usedTokens() const
    {
        qint64 sum = 0;
        for (const Entry &entry : m_accepted)
            sum += entry.tokens;
        return sum;
    }
    // Time until a request of `tokens` would be admitted.
    qint64 waitFor(qint64 tokens, qint64 nowMs) const
    {
        qint64 requests = qint64(m_accepted.size());
        qint64 used = usedTokens();
        for (const Entry &entry : m_accepted) {
            if (requests < m_maxRequests && used + tokens <= m_maxTokens)
                break;
            requests -= 1;
            used -= entry.tokens;
            if (requests < m_maxRequests && used + tokens <= m_maxTokens)
                return std::max<qint64>(1, entry.atMs + m_windowMs - nowMs);
        }
        return 1;
    }
    qint64 reset(qint64 nowMs, qint64 tokens) const
    {
        if (m_accepted.empty())
            return 0;
        if (m_meaning == ResetMeaning::UntilFull)
            return std::max<qint64>(1, m_accepted.back().atMs + m_windowMs - nowMs);
        return waitFor(tokens, nowMs);
    }

    qint64 m_windowMs;
    qint64 m_maxRequests;
    qint64 m_maxTokens;
    ResetMeaning m_meaning;
    std::deque<Entry> m_accepted;
};

struct RunFigures
{
    int accepted = 0;
    int refused = 0;
    int completed = 0;
    qint64 firstMs = -1;
    qint64 lastMs = -1;
};

// Sends `rows` requests of `tokens` each through the limiter, millisecond by millisecond.
RunFigures runJob(RateLimiter &limiter, SimulatedProvider &server, int rows, qint64 tokens)
{
    constexpr int kConcurrency = 32;
    constexpr qint64 kLatencyMs = 20;
    struct InFlight
    {
        qint64 sentAtMs;
        bool ok;
        RateLimitInfo info;
        qint64 retryAfterMs;
    };
    FakeClock clock(0);
    RunFigures figures;
    int pending = rows;
    QList<InFlight> inFlight;
    while (figures.completed < rows && clock.nowMs() < 3'600'000) {
        const qint64 now = clock.nowMs();
        for (qsizetype i = 0; i < inFlight.size();) {
            const InFlight request = inFlight.at(i);
            if (request.sentAtMs + kLatencyMs > now) {
                ++i;
                continue;
            }
            inFlight.removeAt(i);
            limiter.observe(request.info, now);
            if (request.ok) {
                limiter.handleSuccess(now);
                figures.completed += 1;
            } else {
                limiter.handleRateLimited(request.retryAfterMs, now, request.sentAtMs);
                pending += 1; // released uncharged, sent again
            }
        }
        while (pending > 0 && inFlight.size() < kConcurrency && limiter.delayMs(tokens, now) == 0) {
            limiter.consume(tokens, now);
            InFlight request{now, false, {}, -1};
            request.ok = server.admit(tokens, now, &request.info, &request.retryAfterMs);
            if (request.ok) {
                figures.accepted += 1;
                if (figures.firstMs < 0)
                    figures.firstMs = now;
                figures.lastMs = now;
            } else {
                figures.refused += 1;
            }
            pending -= 1;
            inFlight.append(request);
        }
        clock.advance(1);
    }
    return figures;
}

// A configured limit of `rpm` requests, or (tokenBound) as many 100-token requests' worth of
// tokens; none when the limit is to be learnt from the headers.
RateLimiter::Options configuredLimit(bool configured, bool tokenBound, qint64 rpm)
{
    RateLimiter::Options options;
    if (configured && tokenBound)
        options.configuredTpm = rpm * 100;
    else if (configured)
        options.configuredRpm = rpm;
    return options;
}

// The database whose shared schedule a limiter paces by, as batchctl's do (null and a
// message when it cannot be opened; null for no limiter).
std::unique_ptr<bd::store::Database> sharedSchedule(const QTemporaryDir &dir, RateLimiter *limiter,
                                                    QString *error)
{
    if (!limiter)
        return nullptr;
    auto database = bd::store::Database::open(dir.filePath(u"jobs.sqlite"_s),
                                              bd::store::Database::Access::ReadWrite, error);
    if (database)
        limiter->share(&database->sharedLimits(), u"sim||sim-1"_s);
    return database;
}

} // namespace

class TestRateLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void usesTheWholeLimit_data();
    void usesTheWholeLimit();
    void emptyBucketWaitsOneSlotNotTheWholeReset();
    void emptyTokenBucketWaitsForOneRequestsTokens();
    void expectedRefusalDoesNotSlowDown();
    void refusalWhilePlentyRemainedSlowsDown();
    void refusalAtTheWindowsBrimDoesNotSlowDown();
    void lateWakesLoseNoRate_data();
    void lateWakesLoseNoRate();
    void leasesOnlyWhatThePaceSendsSoon();
    void caughtUpSharedSlotsNeverExceedTheLimit();
};

void TestRateLimiter::usesTheWholeLimit_data()
{
    QTest::addColumn<int>("meaning");
    QTest::addColumn<bool>("configured");
    QTest::addColumn<bool>("tokenBound");
    QTest::addColumn<bool>("shared");
    for (const bool tokenBound : {false, true}) {
        for (const int meaning : {int(ResetMeaning::UntilFull), int(ResetMeaning::UntilNextSlot)}) {
            for (const bool configured : {true, false}) {
                for (const bool shared : {false, true}) {
                    const QByteArray name =
                        QByteArray(tokenBound ? "tokens" : "requests") +
                        (meaning == int(ResetMeaning::UntilFull) ? " until-full" : " next-slot") +
                        (configured ? " configured" : " headers-only") + (shared ? " shared" : "");
                    QTest::newRow(name.constData())
                        << meaning << configured << tokenBound << shared;
                }
            }
        }
    }
}

// 60 requests per 2 s (1,800 rpm), or 6,000 tokens per 2 s with 100-token requests (the
// same 1,800 requests a minute, the request limit then far away): 3,000 rows. Shared: the
// limiter takes its slots from a database's schedule (SQLite), as batchctl's do.
void TestRateLimiter::usesTheWholeLimit()
{
    QFETCH(int, meaning);
    QFETCH(bool, configured);
    QFETCH(bool, tokenBound);
    QFETCH(bool, shared);
    constexpr int kRows = 3'000;
    constexpr qint64 kTokens = 100;
    SimulatedProvider server(2'000, tokenBound ? 10'000 : 60, tokenBound ? 6'000 : 10'000'000,
                             ResetMeaning(meaning));
    RateLimiter limiter(configuredLimit(configured, tokenBound, 1'800));
    QTemporaryDir dir;
    QString error;
    const auto database = sharedSchedule(dir, shared ? &limiter : nullptr, &error);
    QVERIFY2(database || !shared, qPrintable(error));
    const RunFigures figures = runJob(limiter, server, kRows, kTokens);
    QCOMPARE(figures.completed, kRows); // no row lost
    const double minutes = double(figures.lastMs - figures.firstMs) / 60'000.0;
    const double utilisation = double(figures.accepted - 1) / minutes / 1'800.0;
    const double refusedShare =
        double(figures.refused) / double(figures.accepted + figures.refused);
    const QByteArray what = QByteArray("utilisation ") +
                            QByteArray::number(100 * utilisation, 'f', 1) + " %, 429 share " +
                            QByteArray::number(100 * refusedShare, 'f', 2) + " %";
    qInfo("%s", what.constData());
    QVERIFY2(utilisation >= 0.97, what.constData());
    QVERIFY2(refusedShare <= 0.01, what.constData());
}

void TestRateLimiter::emptyBucketWaitsOneSlotNotTheWholeReset()
{
    RateLimiter limiter(RateLimiter::Options{.headroom = 1.0});
    RateLimitInfo info;
    info.limitRequests = 60;
    info.remainingRequests = 59;
    info.resetRequestsMs = 1'000;
    limiter.observe(info, 0); // capacity learnt: 60
    info.remainingRequests = 0;
    info.resetRequestsMs = 60'000; // full again in a minute: one slot per second
    limiter.observe(info, 10'000);
    QCOMPARE(limiter.delayMs(1, 10'000), 1'000);
    // A window whose next slot is nearer than a share of the reset: at most the reset.
    info.resetRequestsMs = 300;
    limiter.observe(info, 20'000);
    QCOMPARE(limiter.delayMs(1, 20'000), 5); // 300 / 60
}

void TestRateLimiter::emptyTokenBucketWaitsForOneRequestsTokens()
{
    RateLimiter limiter(RateLimiter::Options{.headroom = 1.0});
    limiter.consume(1'000, 0);
    RateLimitInfo info;
    info.limitTokens = 100'000;
    info.remainingTokens = 0;
    info.resetTokensMs = 60'000; // full in a minute: 1,000 tokens come back in 600 ms
    limiter.observe(info, 0);
    QCOMPARE(limiter.delayMs(1'000, 0), 600);
}

void TestRateLimiter::expectedRefusalDoesNotSlowDown()
{
    RateLimiter limiter(RateLimiter::Options{.configuredRpm = 600});
    RateLimitInfo info;
    info.limitRequests = 600;
    info.remainingRequests = 0;
    info.resetRequestsMs = 2'000;
    limiter.observe(info, 1'000);
    // The probe sent after the provider said nothing remained is refused: wait, no slowdown.
    limiter.handleRateLimited(400, 1'500, 1'200);
    QCOMPARE(limiter.effectiveRpm(), 600.0);
    QCOMPARE(limiter.delayMs(1, 1'500), 400);
}

void TestRateLimiter::refusalWhilePlentyRemainedSlowsDown()
{
    RateLimiter limiter(RateLimiter::Options{.configuredRpm = 600, .decreaseFactor = 0.5});
    RateLimitInfo info;
    info.limitRequests = 600;
    info.remainingRequests = 400;
    info.resetRequestsMs = 2'000;
    limiter.observe(info, 1'000);
    // Someone else shares the limit: the provider refuses while it had said 400 remained.
    info.remainingRequests = 0;
    limiter.observe(info, 1'500);
    limiter.handleRateLimited(400, 1'500, 1'200);
    QCOMPARE(limiter.effectiveRpm(), 300.0);
}

void TestRateLimiter::refusalAtTheWindowsBrimDoesNotSlowDown()
{
    // Headers alone: a window of 1,000 requests, the first 32 sent at once before the limit
    // was known. When they leave the window the paced ones meet its brim: 20 remained when
    // the request went, more than two but within the last 3 %. A wait, not a halving (which
    // cost the rest of a 20 s run a quarter of the limit: bench_dispatch headers-only rows).
    RateLimiter limiter;
    RateLimitInfo info;
    info.limitRequests = 6'000;
    info.remainingRequests = 999;
    info.resetRequestsMs = 10'000;
    limiter.observe(info, 0);
    info.remainingRequests = 20;
    limiter.observe(info, 9'800);
    limiter.handleRateLimited(100, 9'900, 9'850);
    QCOMPARE(limiter.effectiveRpm(), 6'000.0);
    QCOMPARE(limiter.delayMs(1, 9'900), 100);
}

void TestRateLimiter::lateWakesLoseNoRate_data()
{
    QTest::addColumn<bool>("tokenBound");
    QTest::addColumn<bool>("configured"); // --rpm / --tpm, paced through the database
    QTest::addColumn<int>("wakeMs");
    for (const int wakeMs : {30, 90}) {
        for (const bool configured : {false, true}) {
            for (const bool tokenBound : {false, true}) {
                const QByteArray name = QByteArray(tokenBound ? "tokens" : "requests") +
                                        (configured ? " configured shared" : " headers") +
                                        " wake " + QByteArray::number(wakeMs);
                QTest::newRow(name.constData()) << tokenBound << configured << wakeMs;
            }
        }
    }
}

void TestRateLimiter::lateWakesLoseNoRate()
{
    // 6,000 a minute learnt from headers (one request or 100 tokens each 10 ms) on a busy
    // machine whose event loop wakes only every 30 ms: each wake sends what came due since,
    // the lane keeps its rate (it caught up one request a wake: two thirds of it).
    // Configured (--rpm / --tpm, as batchctl runs them), the slots come from the database's
    // shared schedule and the same holds.
    QFETCH(bool, tokenBound);
    QFETCH(bool, configured);
    QFETCH(int, wakeMs);
    RateLimiter limiter(configuredLimit(configured, tokenBound, 6'000));
    QTemporaryDir dir;
    QString error;
    const auto database = sharedSchedule(dir, configured ? &limiter : nullptr, &error);
    QVERIFY2(database || !configured, qPrintable(error));
    RateLimitInfo info;
    if (tokenBound)
        info.limitTokens = 600'000;
    else
        info.limitRequests = 6'000;
    limiter.observe(info, 0);
    int sent = 0;
    for (qint64 now = 0; now < 60'000; now += wakeMs) {
        while (limiter.delayMs(100, now) == 0) {
            limiter.consume(100, now);
            ++sent;
        }
    }
    const double share = double(sent) / 6'000.0;
    QVERIFY2(share >= 0.97 && share <= 1.0, qPrintable(QString::number(share)));
}

void TestRateLimiter::leasesOnlyWhatThePaceSendsSoon()
{
    // No ceiling known: the runner's groups are not capped by the pace.
    QCOMPARE(RateLimiter().requestsWithin(3'000, 100), -1);
    // 120 rpm: two requests a second, so 6 within 3 s (headroom 1: exact).
    RateLimiter paced(RateLimiter::Options{.configuredRpm = 120, .headroom = 1.0});
    QCOMPARE(paced.requestsWithin(3'000, 100), 6);
    // Never 0: a group of one may always be claimed.
    QCOMPARE(paced.requestsWithin(10, 100), 1);
    // The tighter limit sets the pace: 60,000 tpm at 1,000 tokens a request is 60 rpm.
    RateLimiter both(
        RateLimiter::Options{.configuredRpm = 120, .configuredTpm = 60'000, .headroom = 1.0});
    QCOMPARE(both.requestsWithin(3'000, 1'000), 3);
    QCOMPARE(both.requestsWithin(3'000, 100), 6);
    // A limit learnt from the headers counts too, as does a slowdown after a 429.
    RateLimiter learnt(RateLimiter::Options{.headroom = 1.0});
    RateLimitInfo info;
    info.limitRequests = 6'000;
    info.remainingRequests = 5'000;
    learnt.observe(info, 0);
    QCOMPARE(learnt.requestsWithin(3'000, 1), 300);
    learnt.handleRateLimited(100, 1'000, 900); // plenty remained: the lane halves
    QCOMPARE(learnt.requestsWithin(3'000, 1), 150);
}

void TestRateLimiter::caughtUpSharedSlotsNeverExceedTheLimit()
{
    // Two workers on one database's schedule (6,000 rpm configured), both waking late at
    // different moments: each takes the slots that went by unused within catchUpMs, never
    // one the other took, so together they send at most the limit (plus one catch-up's
    // burst in any second).
    QTemporaryDir dir;
    QString error;
    RateLimiter a(RateLimiter::Options{.configuredRpm = 6'000});
    RateLimiter b(RateLimiter::Options{.configuredRpm = 6'000});
    const auto first = sharedSchedule(dir, &a, &error);
    QVERIFY2(first, qPrintable(error));
    const auto second = sharedSchedule(dir, &b, &error); // another connection, as a worker
    QVERIFY2(second, qPrintable(error));
    QList<qint64> sends;
    for (qint64 now = 0; now < 60'000; now += 10) {
        for (RateLimiter *limiter : {&a, &b}) {
            // a wakes every 40 ms, b every 70 ms: both late for most of their slots.
            if (now % (limiter == &a ? 40 : 70) != 0)
                continue;
            while (limiter->delayMs(1, now) == 0) {
                limiter->consume(1, now);
                sends.append(now);
            }
        }
    }
    const double share = double(sends.size()) / 6'000.0;
    QVERIFY2(share >= 0.97 && share <= 1.0, qPrintable(QString::number(share)));
    int most = 0;
    for (qsizetype i = 0, j = 0; i < sends.size(); ++i) {
        while (sends.at(j) <= sends.at(i) - 1'000)
            ++j;
        most = std::max(most, int(i - j + 1));
    }
    QVERIFY2(most <= 100 + 10, qPrintable(QString::number(most))); // 1 s + 100 ms of slots
}

QTEST_GUILESS_MAIN(TestRateLimiter)
#include "test_ratelimiter.moc"
