#pragma once

#include "metricsource.h"

#include <QChartView>
#include <QList>

class QDateTimeAxis;
class QLineSeries;
class QValueAxis;

namespace bd::ui {

// One dashboard chart: a few metrics of one source over a time window ending now. Each
// refresh replaces every series' points at once (QXYSeries::replace) on a fixed window;
// nothing is appended point by point, so a refresh costs the same after a week as after
// a minute.
class MetricChart final : public QChartView
{
    Q_OBJECT

public:
    MetricChart(const QString &title, const QString &unit, QWidget *parent = nullptr);

    void addMetric(Metric metric, const QString &name, const QColor &color);
    void setSource(const MetricSource *source);
    void setRangeSeconds(qint64 seconds);
    void setValueDecimals(int decimals);
    // The top of the value axis while every value is below it (100 for percentages).
    void setFixedMaximum(double maximum);
    // Redraws from the source for the window ending at nowMs (0: the source's latest time).
    void refresh(qint64 nowMs = 0);

    QLineSeries *series(int index) const { return m_series.value(index); }
    int seriesCount() const { return int(m_series.size()); }

protected:
    void changeEvent(QEvent *event) override;

private:
    void applyPalette();

    const MetricSource *m_source = nullptr;
    QList<Metric> m_metrics;
    QList<QLineSeries *> m_series;
    QDateTimeAxis *m_timeAxis = nullptr;
    QValueAxis *m_valueAxis = nullptr;
    qint64 m_rangeMs = 5 * 60'000;
    int m_decimals = 0;
    double m_fixedMaximum = 0;
};

} // namespace bd::ui
