#pragma once

#include <QtGlobal>

#include <atomic>

namespace bd {

// Milliseconds since the Unix epoch. Engine code asks a Clock instead of the system so
// that retry waits, leases and batch windows can be tested without sleeping.
class Clock
{
public:
    virtual ~Clock() = default;
    virtual qint64 nowMs() const = 0;
};

class SystemClock final : public Clock
{
public:
    qint64 nowMs() const override;
    static SystemClock *instance();
};

// Test clock: time moves only when the test says so. Thread-safe.
class FakeClock final : public Clock
{
public:
    explicit FakeClock(qint64 startMs = 1'700'000'000'000) : m_nowMs(startMs) {}
    qint64 nowMs() const override { return m_nowMs.load(); }
    void advance(qint64 ms) { m_nowMs.fetch_add(ms); }
    void set(qint64 ms) { m_nowMs.store(ms); }

private:
    std::atomic<qint64> m_nowMs;
};

} // namespace bd
