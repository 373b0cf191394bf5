#include "metrictypes.h"

#include <QDateTime>
#include <QHash>

#include <algorithm>

namespace bd::metrics {

using namespace Qt::StringLiterals;

namespace {

const QHash<QString, MetricKind> &kindTable()
{
    static const QHash<QString, MetricKind> table = {
        {QString::fromLatin1(names::tasksCompleted), MetricKind::Counter},
        {QString::fromLatin1(names::tasksDead), MetricKind::Counter},
        {QString::fromLatin1(names::costUsd), MetricKind::Counter},
        {QString::fromLatin1(names::costUsdAtRealtime), MetricKind::Counter},
        {QString::fromLatin1(names::tokensInput), MetricKind::Counter},
        {QString::fromLatin1(names::tokensOutput), MetricKind::Counter},
        {QString::fromLatin1(names::tokensCached), MetricKind::Counter},
        {QString::fromLatin1(names::responseCacheHits), MetricKind::Counter},
        {QString::fromLatin1(names::tasksFailed), MetricKind::Counter},
        {QString::fromLatin1(names::responses429), MetricKind::Counter},
        {QString::fromLatin1(names::batches), MetricKind::Counter},
        {QString::fromLatin1(names::jobTasksCompleted), MetricKind::Counter},
        {QString::fromLatin1(names::jobTasksFailed), MetricKind::Counter},
        {QString::fromLatin1(names::jobTasksDead), MetricKind::Counter},
        {QString::fromLatin1(names::jobCostUsd), MetricKind::Counter},
        {QString::fromLatin1(names::queuePending), MetricKind::Gauge},
        {QString::fromLatin1(names::queueLeased), MetricKind::Gauge},
        {QString::fromLatin1(names::oldestPendingAgeMs), MetricKind::Gauge},
        {QString::fromLatin1(names::jobQueuePending), MetricKind::Gauge},
        {QString::fromLatin1(names::jobQueueLeased), MetricKind::Gauge},
        {QString::fromLatin1(names::jobRunning), MetricKind::Gauge},
        {QString::fromLatin1(names::jobConcurrencyLimit), MetricKind::Gauge},
        {QString::fromLatin1(names::errorRate), MetricKind::Ratio},
        {QString::fromLatin1(names::rate429), MetricKind::Ratio},
        {QString::fromLatin1(names::costPerTask), MetricKind::Ratio},
        {QString::fromLatin1(names::cacheHitRate), MetricKind::Ratio},
        {QString::fromLatin1(names::batchFillRate), MetricKind::Ratio},
        {QString::fromLatin1(names::waitMsMean), MetricKind::Ratio},
        {QString::fromLatin1(names::runMsMean), MetricKind::Ratio},
        {QString::fromLatin1(names::waitMsP50), MetricKind::Quantile},
        {QString::fromLatin1(names::waitMsP95), MetricKind::Quantile},
        {QString::fromLatin1(names::runMsP50), MetricKind::Quantile},
        {QString::fromLatin1(names::runMsP95), MetricKind::Quantile},
    };
    return table;
}

QString cleanLabelPart(QString text)
{
    for (QChar &c : text) {
        if (c == u',' || c == u'=' || c.unicode() < 0x20)
            c = u'_';
    }
    return text;
}

} // namespace

MetricKind metricKind(const QString &metric)
{
    return kindTable().value(metric, MetricKind::Gauge);
}

QStringList laneLabels()
{
    return {QString::fromLatin1(lanes::realtime), QString::fromLatin1(lanes::sync),
            QString::fromLatin1(lanes::batch)};
}

QStringList knownMetrics()
{
    QStringList list = kindTable().keys();
    list.sort();
    return list;
}

QString labelString(const LabelList &labels)
{
    LabelList sorted = labels;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto &a, const auto &b) { return a.first < b.first; });
    QString out;
    for (const auto &[key, value] : std::as_const(sorted)) {
        if (!out.isEmpty())
            out += u',';
        out += cleanLabelPart(key) + u'=' + cleanLabelPart(value);
    }
    return out;
}

QMap<QString, QString> parseLabels(const QString &labels)
{
    QMap<QString, QString> map;
    if (labels.isEmpty())
        return map;
    for (const QString &part : labels.split(u',')) {
        const qsizetype eq = part.indexOf(u'=');
        if (eq > 0)
            map.insert(part.left(eq), part.mid(eq + 1));
    }
    return map;
}

QString labelValue(const QString &labels, const QString &key)
{
    // Labels are short: a scan beats building a map.
    qsizetype from = 0;
    while (from < labels.size()) {
        qsizetype end = labels.indexOf(u',', from);
        if (end < 0)
            end = labels.size();
        const QStringView part = QStringView(labels).mid(from, end - from);
        if (part.size() > key.size() && part.startsWith(key) && part.at(key.size()) == u'=')
            return part.mid(key.size() + 1).toString();
        from = end + 1;
    }
    return QString();
}

QJsonObject AlertEvent::toJson() const
{
    return QJsonObject{
        {u"event"_s, raised() ? u"raised"_s : u"cleared"_s},
        {u"kind"_s, kind},
        {u"job"_s, jobId ? QJsonValue(jobId) : QJsonValue()},
        {u"message"_s, message},
        {u"figures"_s, figures},
        {u"at"_s, QDateTime::fromMSecsSinceEpoch(atMs).toUTC().toString(Qt::ISODateWithMs)},
    };
}

} // namespace bd::metrics
