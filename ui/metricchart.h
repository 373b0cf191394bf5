#pragma once

#include "metricsource.h"

#include <QChartView>
#include <QColor>
#include <QList>

class QCategoryAxis;
class QLabel;
class QLineSeries;
class QScatterSeries;

namespace bd::ui {

// One line of a chart: a metric of the source, its legend name and colour, and a factor
// from the source's unit to the chart's (1000 for "$ per 1,000 tasks").
struct ChartLine
{
    Metric metric;
    QString name;
    QColor color;
    double scale = 1.0;
};

// One dashboard chart: a few metrics of one source over a time window ending now. Each
// refresh replaces the points at once on a fixed window, so a refresh costs the same after
// a week as after a minute. Both axes are category axes whose ticks this class places:
// round clock times below, 1/2/5 × 10^n values with the locale's separators at the side.
// A spike far above the rest is clipped and marked instead of flattening the chart; idle
// periods are breaks in the line; hovering shows the values at the nearest point; a window
// without data says so instead of drawing empty axes.
class MetricChart final : public QChartView
{
    Q_OBJECT

public:
    MetricChart(const QString &title, const QString &unit, const QList<ChartLine> &lines,
                QWidget *parent = nullptr);

    void setSource(const MetricSource *source);
    void setRangeSeconds(qint64 seconds);
    // Fractional values (dollars, seconds); otherwise ticks stay on whole numbers.
    void setFractional(bool fractional);
    // What a window without data says (empty: "No data yet").
    void setEmptyText(const QString &text);
    // Redraws from the source for the window ending at nowMs (0: the current time).
    void refresh(qint64 nowMs = 0);

    int lineCount() const { return int(m_lines.size()); }
    // The values of a line in the window, in the chart's unit, as drawn before clipping.
    QList<QPointF> values(int line) const { return m_values.value(line); }
    // Pieces the line is drawn in (1 + the idle gaps in the window; 0 without points).
    int segmentCount(int line) const;
    // Points drawn at the top of the axis with a marker because they are far above it.
    int clippedCount() const;
    bool hasData() const { return m_hasData; }
    QString emptyText() const;
    QStringList timeLabels() const;
    QList<double> valueTicks() const;
    QStringList valueLabels() const;
    // What hovering at a point of the view shows (empty: nothing near).
    QString hoverText(const QPoint &viewPos) const;

protected:
    void mouseMoveEvent(QMouseEvent *event) override;
    void leaveEvent(QEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    struct Line
    {
        ChartLine spec;
        QList<QLineSeries *> segments; // the first carries the legend entry
    };

    QLineSeries *segment(int line, int index);
    void drawLine(int line, const QList<QPointF> &points);
    void setTimeAxis(qint64 fromMs, qint64 toMs);
    void setValueAxis(double maxValue);
    void showEmpty(bool empty);
    void applyPalette();
    QString formatValue(double value) const;

    const MetricSource *m_source = nullptr;
    QList<Line> m_lines;
    QList<QList<QPointF>> m_values;
    QChart *m_chart = nullptr; // ours from the start (chart() is the view's own until setChart)
    QScatterSeries *m_clipped = nullptr;
    QCategoryAxis *m_timeAxis = nullptr;
    QCategoryAxis *m_valueAxis = nullptr;
    QLabel *m_empty = nullptr;
    qint64 m_rangeMs = 5 * 60'000;
    qint64 m_fromMs = 0;
    qint64 m_toMs = 0;
    bool m_fractional = false;
    bool m_hasData = false;
    int m_valueDecimals = 0;
};

} // namespace bd::ui
