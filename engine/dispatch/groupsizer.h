#pragma once

#include <QJsonObject>
#include <QString>
#include <QtGlobal>

namespace bd::dispatch {

// How many tasks one group of sync calls claims. The guide's starting points — 50-100 a
// group for hosted APIs, 100-500 for servers of one's own — grow with the queue's depth
// (small, medium, large at two depth thresholds) and shrink with the API's load: by the
// share of the configured concurrency the provider takes now (the adaptive limit, cut by
// 429s and climbing latency), so a provider that pushes back gets fewer tasks leased ahead
// of it — never below the smallest group, nor below what may be in flight, so a group
// always fills the requests the provider takes now. Pure state.
class GroupSizer
{
public:
    struct Profile
    {
        // Fixed group size (tests, benchmarks); 0: adaptive.
        int claimBatch = 0;
        int sizes[3] = {0, 0, 0};   // small, medium, large; 0: the provider's defaults
        qint64 mediumDepth = 1'000; // pending tasks above which groups are medium
        qint64 largeDepth = 10'000; // ... and large
    };

    GroupSizer() = default;
    // settings: the job's (group_sizes, three sizes, overrides the profile's).
    GroupSizer(const QString &providerId, const Profile &profile, const QJsonObject &settings);

    // The group to claim with pendingDepth tasks waiting and `concurrency` requests allowed
    // in flight now; apiLoadShare: the adaptive limit over its ceiling (1: no pushback).
    // Realtime calls are single: only what can go out now. paceCap: what the rate limit lets
    // start within a claim horizon (-1: no limit known); a group never exceeds it, whatever
    // the floors above, so a paced lane leases only what it can send soon.
    int size(qint64 pendingDepth, int concurrency, bool realtime, double apiLoadShare = 1.0,
             qint64 paceCap = -1) const;

private:
    int m_claimBatch = 0;
    int m_sizes[3] = {100, 250, 500};
    qint64 m_mediumDepth = 1'000;
    qint64 m_largeDepth = 10'000;
};

} // namespace bd::dispatch
