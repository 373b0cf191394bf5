#pragma once

#include <utility>
#include <QtGlobal>

namespace bd::dispatch {

// A limiter shared through the database (the circuit breaker, the concurrency shares, the
// rate schedule) that cannot read or write its shared state decides alone for a while and
// then tries the database again. Giving up sharing for good on one failure left a worker
// that had reconnected after a blip pacing alone for the rest of its life, overrunning the
// account's limits together with the others.
class SharedFallback
{
public:
    static constexpr qint64 kRetryMs = 5'000;

    // Whether the shared state is to be used at nowMs (false while deciding alone).
    bool usable(qint64 nowMs) const { return nowMs >= m_aloneUntilMs; }
    bool alone() const { return m_failing; }
    // A failure at nowMs: alone for kRetryMs. True for the first failure of a streak, when
    // the caller says so (once, not at every retry while the database is away).
    bool failed(qint64 nowMs)
    {
        m_aloneUntilMs = nowMs + kRetryMs;
        return !std::exchange(m_failing, true);
    }
    void succeeded() { m_failing = false; }

private:
    qint64 m_aloneUntilMs = 0;
    bool m_failing = false;
};

} // namespace bd::dispatch
