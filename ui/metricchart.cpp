#include "metricchart.h"

#include <QChart>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QEvent>
#include <QLineSeries>
#include <QValueAxis>

#include <cmath>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {
constexpr int kMaxPoints = 360;

double niceCeiling(double value)
{
    if (value <= 0)
        return 1;
    const double magnitude = std::pow(10.0, std::floor(std::log10(value)));
    for (const double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
        if (value <= step * magnitude)
            return step * magnitude;
    }
    return 10 * magnitude;
}
} // namespace

MetricChart::MetricChart(const QString &title, const QString &unit, QWidget *parent)
    : QChartView(parent)
{
    auto *chart = new QChart;
    chart->setTitle(title);
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));
    m_timeAxis = new QDateTimeAxis(chart);
    m_timeAxis->setFormat(u"HH:mm:ss"_s);
    m_timeAxis->setTickCount(6);
    m_valueAxis = new QValueAxis(chart);
    m_valueAxis->setTitleText(unit);
    m_valueAxis->setLabelFormat(u"%.0f"_s);
    m_valueAxis->setRange(0, 1);
    m_valueAxis->setTickCount(5);
    chart->addAxis(m_timeAxis, Qt::AlignBottom);
    chart->addAxis(m_valueAxis, Qt::AlignLeft);
    setChart(chart);
    setRenderHint(QPainter::Antialiasing);
    setMinimumHeight(200);
    applyPalette();
}

void MetricChart::addMetric(Metric metric, const QString &name, const QColor &color)
{
    auto *series = new QLineSeries(chart());
    series->setName(name);
    QPen pen(color);
    pen.setWidthF(2.0);
    series->setPen(pen);
    chart()->addSeries(series);
    series->attachAxis(m_timeAxis);
    series->attachAxis(m_valueAxis);
    m_metrics.append(metric);
    m_series.append(series);
    chart()->legend()->setVisible(m_series.size() > 1);
}

void MetricChart::setSource(const MetricSource *source)
{
    m_source = source;
}

void MetricChart::setRangeSeconds(qint64 seconds)
{
    m_rangeMs = seconds * 1000;
    m_timeAxis->setFormat(seconds <= 3600 ? u"HH:mm:ss"_s : seconds <= 86400 ? u"HH:mm"_s : u"ddd HH:mm"_s);
}

void MetricChart::setFixedMaximum(double maximum)
{
    m_fixedMaximum = maximum;
}

void MetricChart::setValueDecimals(int decimals)
{
    m_decimals = decimals;
    m_valueAxis->setLabelFormat(u"%.%1f"_s.arg(decimals));
}

void MetricChart::refresh(qint64 nowMs)
{
    if (!m_source)
        return;
    if (nowMs <= 0)
        nowMs = QDateTime::currentMSecsSinceEpoch();
    const qint64 from = nowMs - m_rangeMs;
    double maxValue = 0;
    for (int i = 0; i < m_series.size(); ++i) {
        const QList<QPointF> points = m_source->points(m_metrics.at(i), from, nowMs, kMaxPoints);
        for (const QPointF &point : points)
            maxValue = qMax(maxValue, point.y());
        m_series.at(i)->replace(points);
    }
    m_timeAxis->setRange(QDateTime::fromMSecsSinceEpoch(from), QDateTime::fromMSecsSinceEpoch(nowMs));
    // Whole-number charts keep at least one unit per tick, so labels never repeat; a chart
    // with a natural ceiling (percent) keeps it unless a value goes above.
    double top = qMax(niceCeiling(maxValue * 1.1), m_decimals == 0 ? 4.0 : 0.0);
    if (m_fixedMaximum > 0 && maxValue <= m_fixedMaximum)
        top = m_fixedMaximum;
    // As many decimals as the tick step (top / 4) needs to read exactly: 12.5, 0.0125.
    const double step = top / 4.0;
    int decimals = 0;
    while (decimals < 8 && std::abs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6)
        ++decimals;
    m_valueAxis->setLabelFormat(u"%.%1f"_s.arg(decimals));
    m_valueAxis->setRange(0, top);
}

void MetricChart::changeEvent(QEvent *event)
{
    QChartView::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange)
        applyPalette();
}

void MetricChart::applyPalette()
{
    // Follow the system palette (light or dark) instead of a fixed chart theme.
    const QPalette pal = palette();
    QChart *c = chart();
    c->setBackgroundBrush(pal.brush(QPalette::Base));
    c->setTitleBrush(pal.brush(QPalette::Text));
    c->legend()->setLabelColor(pal.color(QPalette::Text));
    QFont titleFont = font();
    titleFont.setBold(true);
    c->setTitleFont(titleFont);
    for (QAbstractAxis *axis : {static_cast<QAbstractAxis *>(m_timeAxis), static_cast<QAbstractAxis *>(m_valueAxis)}) {
        axis->setLabelsColor(pal.color(QPalette::Text));
        axis->setTitleBrush(pal.brush(QPalette::Text));
        QColor grid = pal.color(QPalette::Mid);
        grid.setAlpha(90);
        axis->setGridLineColor(grid);
        axis->setLinePenColor(pal.color(QPalette::Mid));
    }
    setBackgroundBrush(pal.brush(QPalette::Window));
}

} // namespace bd::ui
