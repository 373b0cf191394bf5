// The limiters shared through the database (the circuit breaker, the concurrency shares, the
// rate schedule) decide alone while the database does not answer, say so once, and share
// again once it answers: a worker that reconnected after a blip must not pace alone for the
// rest of its life while the others hold the account's limits together.

#include "dispatch/circuitbreaker.h"
#include "dispatch/concurrencylimiter.h"
#include "dispatch/ratelimiter.h"
#include "dispatch/sharedfallback.h"
#include "store/database.h"
#include "store/sharedlimits.h"

#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::dispatch::CircuitBreaker;
using bd::dispatch::ConcurrencyLimiter;
using bd::dispatch::RateLimiter;
using bd::dispatch::SharedFallback;

namespace {

constexpr qint64 kT0 = 1'700'000'000'000;
const QString kKey = u"openai|http://127.0.0.1:9/v1|gpt-4.1-mini"_s;
const QString kWorkerA = u"host-a:1:aaaaaa"_s;
const QString kWorkerB = u"host-b:2:bbbbbb"_s;

// A real database's shared limits, cut off on demand: while `away`, every call fails as a
// lost connection's does (no row read or written), and nothing reaches the database.
class DatabaseAway final : public bd::store::SharedLimits
{
public:
    explicit DatabaseAway(bd::store::SharedLimits &real)
        : m_real(real)
    {
    }
    bool away = false;
    int callsWhileAway = 0;

    std::optional<bd::store::SlotGrant> reserveSlots(const QString &key, double intervalMs,
                                                     int count, double nowMs,
                                                     double horizonMs) override
    {
        if (refused())
            return std::nullopt;
        return m_real.reserveSlots(key, intervalMs, count, nowMs, horizonMs);
    }
    bool postponeSlots(const QString &key, double untilMs) override
    {
        return !refused() && m_real.postponeSlots(key, untilMs);
    }
    std::optional<bd::store::SharedBreakerState> breaker(const QString &key) override
    {
        if (refused())
            return std::nullopt;
        return m_real.breaker(key);
    }
    bool openBreaker(const QString &key, qint64 untilMs, qint64 openMs, qint64 nowMs) override
    {
        return !refused() && m_real.openBreaker(key, untilMs, openMs, nowMs);
    }
    bool takeProbe(const QString &key, const QString &workerId, qint64 nowMs,
                   qint64 probeUntilMs) override
    {
        return !refused() && m_real.takeProbe(key, workerId, nowMs, probeUntilMs);
    }
    bool closeBreaker(const QString &key) override
    {
        return !refused() && m_real.closeBreaker(key);
    }
    bool setShare(const QString &key, const QString &workerId, qint64 amount, qint64 nowMs) override
    {
        return !refused() && m_real.setShare(key, workerId, amount, nowMs);
    }
    std::optional<Others> sharesElsewhere(const QString &key, const QString &workerId,
                                          qint64 sinceMs) override
    {
        if (refused())
            return std::nullopt;
        return m_real.sharesElsewhere(key, workerId, sinceMs);
    }
    QString errorString() const override
    {
        return away ? u"no connection to the server"_s : m_real.errorString();
    }

private:
    bool refused()
    {
        if (away)
            ++callsWhileAway;
        return away;
    }
    bd::store::SharedLimits &m_real;
};

// The database goes: the limiter is to say so once (`said`, whole) and never again while
// it stays away (any other line mentioning `topic`).
void cutOff(DatabaseAway &link, const QString &said, const QString &topic)
{
    link.away = true;
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(u'^' + said + u'$'));
    QTest::failOnWarning(QRegularExpression(topic));
}

} // namespace

class TestSharedFallback : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void breakerDecidesAloneThenTellsTheOthers();
    void concurrencyTakesItsShareAgainAfterAnOutage();
    void rateSchedulePacesTogetherAgainAfterAnOutage();

private:
    std::unique_ptr<bd::store::Database> open();

    QTemporaryDir m_dir;
    std::unique_ptr<bd::store::Database> m_one; // worker A's connection
    std::unique_ptr<bd::store::Database> m_two; // worker B's
};

std::unique_ptr<bd::store::Database> TestSharedFallback::open()
{
    QString error;
    auto database = bd::store::Database::open(m_dir.filePath(u"jobs.sqlite"_s),
                                              bd::store::Database::Access::ReadWrite, &error);
    if (!database)
        qWarning("%s", qPrintable(error));
    return database;
}

void TestSharedFallback::init()
{
    QFile::remove(m_dir.filePath(u"jobs.sqlite"_s));
    m_one = open();
    m_two = open();
    QVERIFY(m_one && m_two);
}

void TestSharedFallback::cleanup()
{
    m_one.reset();
    m_two.reset();
}

void TestSharedFallback::breakerDecidesAloneThenTellsTheOthers()
{
    DatabaseAway link(m_one->sharedLimits());
    const CircuitBreaker::Options options{.failureThreshold = 2, .openMs = 10'000, .syncMs = 0};
    CircuitBreaker a(options);
    CircuitBreaker b(options);
    a.share(&link, kKey, kWorkerA);
    b.share(&m_two->sharedLimits(), kKey, kWorkerB);
    using State = CircuitBreaker::State;
    QCOMPARE(a.state(kT0), State::Closed);

    // The database goes while A sees the provider's outage: A opens its breaker alone and
    // says so once, however often it looks meanwhile.
    cutOff(link,
           u"breaker .*: shared state unavailable \\(no "
           "connection to the server\\); this process decides "
           "alone until it can be read again"_s,
           u"shared state unavailable"_s);
    QVERIFY(!a.recordOutageFailure(kT0 + 10));
    QVERIFY(a.recordOutageFailure(kT0 + 20));
    const qint64 retry = kT0 + 10 + SharedFallback::kRetryMs; // after the first failure
    for (qint64 t = kT0 + 30; t < retry; t += 250)
        QCOMPARE(a.state(t), State::Open);
    QVERIFY(!a.allowRequest(kT0 + 100));
    QCOMPARE(link.callsWhileAway, 1);            // not a query at every look
    QCOMPARE(b.state(kT0 + 100), State::Closed); // B never heard

    // Back: A reads the shared state again at its retry and, finding it closed while it
    // holds an opening of its own, tells the others.
    link.away = false;
    const qint64 back = retry;
    QCOMPARE(a.state(back), State::Open);
    QCOMPARE(b.state(back + 10), State::Open);
    const auto shared = m_two->sharedLimits().breaker(kKey);
    QVERIFY(shared);
    QCOMPARE(shared->openUntilMs, kT0 + 20 + options.openMs);

    // And it follows the others from then on: B's probe succeeds, A is closed too.
    QVERIFY(b.allowRequest(kT0 + 20 + options.openMs + 1));
    b.recordSuccess(kT0 + 20 + options.openMs + 50);
    QCOMPARE(a.state(kT0 + 20 + options.openMs + 100), State::Closed);
}

void TestSharedFallback::concurrencyTakesItsShareAgainAfterAnOutage()
{
    DatabaseAway link(m_one->sharedLimits());
    ConcurrencyLimiter::Options options;
    options.syncMs = 0;
    ConcurrencyLimiter a(8, options);
    ConcurrencyLimiter b(8, options);
    b.share(&m_two->sharedLimits(), kKey, kWorkerB, 8, kT0);
    a.share(&link, kKey, kWorkerA, 8, kT0);
    b.syncShared(8, kT0 + 1, true); // B has its whole ceiling out
    a.syncShared(1, kT0 + 2, true);
    QCOMPARE(a.limit(), 4); // a fair half of the job's ceiling of 8

    cutOff(link,
           u"concurrency of .*: shared counts unavailable "
           "\\(no connection to the server\\); this worker "
           "alone until they can be read again"_s,
           u"shared counts unavailable"_s);
    a.syncShared(1, kT0 + 1'000, true);
    QCOMPARE(a.limit(), 8); // alone: its own limit
    for (qint64 t = kT0 + 1'100; t < kT0 + 1'000 + SharedFallback::kRetryMs; t += 200)
        a.syncShared(1, t, true);
    QCOMPARE(link.callsWhileAway, 1); // no query per answer while it waits
    // Still away at the retry: tried, quietly.
    a.syncShared(1, kT0 + 1'000 + SharedFallback::kRetryMs, true);
    QCOMPARE(link.callsWhileAway, 2);
    QCOMPARE(a.limit(), 8);

    link.away = false;
    a.syncShared(1, kT0 + 1'000 + 2 * SharedFallback::kRetryMs, true);
    QCOMPARE(a.limit(), 4); // shared again
}

void TestSharedFallback::rateSchedulePacesTogetherAgainAfterAnOutage()
{
    DatabaseAway link(m_one->sharedLimits());
    RateLimiter::Options options;
    options.configuredRpm = 600; // a slot every ~101.5 ms with the headroom
    RateLimiter a(options);
    a.share(&link, kKey);
    bd::store::SharedLimits &schedule = m_two->sharedLimits();
    // Where the schedule's next free slot is, as another worker sees it.
    const auto nextFree = [&](qint64 nowMs) {
        const auto grant = schedule.reserveSlots(kKey, 1.0, 1, double(nowMs), 1e9);
        return grant ? grant->firstMs : -1.0;
    };

    QCOMPARE(a.delayMs(1, kT0), qint64(0));
    a.consume(1, kT0);
    QVERIFY(nextFree(kT0) > double(kT0)); // A's reservation is in the schedule

    cutOff(link,
           u"rate limit .*: shared schedule unavailable \\(no "
           "connection to the server\\); pacing this process "
           "only until it can be read again"_s,
           u"shared schedule unavailable"_s);
    // A paces itself meanwhile: about one request per slot interval, nothing reserved.
    const qint64 away = kT0 + 10'000;
    int sent = 0;
    for (qint64 t = away; t < away + SharedFallback::kRetryMs - 100; ++t) {
        if (a.delayMs(1, t) == 0) {
            a.consume(1, t);
            ++sent;
        }
    }
    QVERIFY2(sent >= 45 && sent <= 50, qPrintable(QString::number(sent)));
    QVERIFY2(link.callsWhileAway <= 2, qPrintable(QString::number(link.callsWhileAway)));
    QCOMPARE(nextFree(away + 4'000), double(away + 4'000)); // nothing reserved meanwhile

    link.away = false;
    const qint64 back = away + 2 * SharedFallback::kRetryMs;
    QCOMPARE(a.delayMs(1, back), qint64(0));
    a.consume(1, back);
    QVERIFY2(nextFree(back) > double(back), "A takes its slots from the schedule again");
}

QTEST_GUILESS_MAIN(TestSharedFallback)
#include "test_sharedfallback.moc"
