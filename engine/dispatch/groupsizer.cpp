#include "dispatch/groupsizer.h"

#include "api/jobsettings.h"

#include <algorithm>
#include <cmath>
#include <QJsonArray>

namespace bd::dispatch {

using namespace Qt::StringLiterals;

GroupSizer::GroupSizer(const QString &providerId, const Profile &profile,
                       const QJsonObject &settings)
    : m_claimBatch(profile.claimBatch)
    , m_mediumDepth(profile.mediumDepth)
    , m_largeDepth(profile.largeDepth)
{
    const bool hosted =
        providerId == u"openai"_s || providerId == u"anthropic"_s || providerId == u"gemini"_s;
    const int defaults[3] = {hosted ? 50 : 100, hosted ? 75 : 250, hosted ? 100 : 500};
    const QJsonArray configured = settings.value(settingkeys::groupSizes).toArray();
    for (int i = 0; i < 3; ++i) {
        m_sizes[i] = profile.sizes[i] > 0 ? profile.sizes[i] : defaults[i];
        if (configured.size() == 3 && configured.at(i).toInt() > 0)
            m_sizes[i] = configured.at(i).toInt();
    }
}

int GroupSizer::size(qint64 pendingDepth, int concurrency, bool realtime, double apiLoadShare,
                     qint64 paceCap) const
{
    int size = 0;
    if (m_claimBatch > 0) {
        size = qMax(m_claimBatch, concurrency);
    } else if (realtime) {
        size = qMax(1, concurrency);
    } else {
        const int depthSize = pendingDepth > m_largeDepth    ? m_sizes[2]
                              : pendingDepth > m_mediumDepth ? m_sizes[1]
                                                             : m_sizes[0];
        // Shrunk by the load down to the smallest group, the guide's floor for the provider.
        const double share = std::clamp(apiLoadShare, 0.0, 1.0);
        size = qMax(qMax(int(std::ceil(depthSize * share)), m_sizes[0]), qMax(1, concurrency));
    }
    return paceCap > 0 ? int(qMin<qint64>(size, paceCap)) : size;
}

} // namespace bd::dispatch
