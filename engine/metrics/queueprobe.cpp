#include "queueprobe.h"

namespace bd::metrics {

QList<QueueLevel> QueueProbe::levels(int jobPriority, const QString &mode, qint64 pending,
                                     qint64 leased, const QMap<int, qint64> &oldestByPriority)
{
    QList<QueueLevel> result{QueueLevel{jobPriority, laneName(jobPriority, mode), pending, leased,
                                        oldestByPriority.value(jobPriority)}};
    for (auto it = oldestByPriority.cbegin(); it != oldestByPriority.cend(); ++it) {
        if (it.key() != jobPriority)
            result.append(QueueLevel{it.key(), laneName(it.key(), mode), 0, 0, it.value()});
    }
    return result;
}

} // namespace bd::metrics
