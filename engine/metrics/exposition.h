#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <utility>

namespace bd::metrics {

// Builds the Prometheus text exposition format, version 0.0.4 (what Prometheus, Grafana
// Agent, VictoriaMetrics and the OpenTelemetry collector all scrape):
//
//   # HELP batchdesk_tasks_completed_total Tasks answered and stored.
//   # TYPE batchdesk_tasks_completed_total counter
//   batchdesk_tasks_completed_total{job="3",priority="2",lane="sync"} 1027
//
// Families keep the order they were first declared in; declaring one again (two sources
// adding to the same family) appends to it. Label values are escaped (\\, \", \n).
class Exposition
{
public:
    enum class Type
    {
        Counter,
        Gauge,
        Histogram,
        Summary,
    };
    using Labels = QList<std::pair<QString, QString>>;

    static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

    // name: the family name, counters with their _total suffix.
    void family(const QString &name, Type type, const QString &help);
    // sampleName: the family name or the family name plus _bucket / _sum / _count.
    // Belongs to the family declared last.
    void sample(const QString &sampleName, const Labels &labels, double value);
    void sample(const Labels &labels, double value); // sampleName = the family name

    QByteArray text() const;
    bool isEmpty() const { return m_families.isEmpty(); }

    static QString formatValue(double value);
    static QString escapeLabelValue(const QString &value);

private:
    struct Family
    {
        QString name;
        Type type = Type::Gauge;
        QString help;
        QStringList lines;
    };
    QList<Family> m_families;
    qsizetype m_current = -1;
};

} // namespace bd::metrics
