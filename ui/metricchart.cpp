#include "metricchart.h"

#include "charticks.h"

#include <algorithm>
#include <cmath>
#include <QCategoryAxis>
#include <QChart>
#include <QDateTime>
#include <QEvent>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLocale>
#include <QMouseEvent>
#include <QScatterSeries>
#include <QToolTip>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {
constexpr int kMaxPoints = 360;

void clearCategories(QCategoryAxis *axis)
{
    const QStringList labels = axis->categoriesLabels();
    for (const QString &label : labels)
        axis->remove(label);
}

// The point of a series (x ascending) nearest in time to x; nullptr when it has none.
const QPointF *nearestInTime(const QList<QPointF> &points, double x)
{
    if (points.isEmpty())
        return nullptr;
    auto it = std::lower_bound(points.cbegin(), points.cend(), x,
                               [](const QPointF &p, double t) { return p.x() < t; });
    if (it == points.cend())
        return &points.constLast();
    if (it != points.cbegin() && x - std::prev(it)->x() < it->x() - x)
        --it;
    return &*it;
}
} // namespace

MetricChart::MetricChart(const QString &title, const QString &unit, const QList<ChartLine> &lines,
                         QWidget *parent)
    : QChartView(parent)
{
    m_chart = new QChart;
    QChart *chart = m_chart;
    chart->setTitle(title);
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));
    m_timeAxis = new QCategoryAxis(chart);
    m_timeAxis->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
    m_valueAxis = new QCategoryAxis(chart);
    m_valueAxis->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
    m_valueAxis->setTitleText(unit);
    chart->addAxis(m_timeAxis, Qt::AlignBottom);
    chart->addAxis(m_valueAxis, Qt::AlignLeft);
    // Every series is added and attached before the chart goes into the view's scene: Qt
    // Charts 6.4 gives an axis that enters the scene without a series no layout until one
    // of its own properties changes, which is why the time axis once drew neither labels
    // nor line. Extra segments added later (gaps) attach to axes that are laid out.
    for (const ChartLine &spec : lines) {
        m_lines.append({spec, {}});
        segment(int(m_lines.size()) - 1, 0);
    }
    m_clipped = new QScatterSeries(chart);
    m_clipped->setMarkerShape(QScatterSeries::MarkerShapeTriangle);
    m_clipped->setMarkerSize(9);
    m_clipped->setName(tr("above the scale"));
    chart->addSeries(m_clipped);
    m_clipped->attachAxis(m_timeAxis);
    m_clipped->attachAxis(m_valueAxis);
    m_values.resize(m_lines.size());
    // QChartView made a chart of its own, which setChart() releases without deleting it
    // (LeakSanitizer: one chart's items per view).
    QChart *madeByTheView = QChartView::chart();
    setChart(chart);
    delete madeByTheView;
    setRenderHint(QPainter::Antialiasing);
    setMinimumSize(240, 200);
    setMouseTracking(true);

    m_empty = new QLabel(tr("No data yet"), this);
    m_empty->setAlignment(Qt::AlignCenter);
    m_empty->setAttribute(Qt::WA_TransparentForMouseEvents);
    m_empty->setForegroundRole(QPalette::PlaceholderText);

    applyPalette();
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    setTimeAxis(now - m_rangeMs, now);
    setValueAxis(0);
    showEmpty(true);
}

QLineSeries *MetricChart::segment(int line, int index)
{
    Line &l = m_lines[line];
    while (l.segments.size() <= index) {
        auto *series = new QLineSeries(m_chart);
        series->setName(l.spec.name);
        QPen pen(l.spec.color);
        pen.setWidthF(2.0);
        series->setPen(pen);
        series->setColor(l.spec.color);
        QChart *c = m_chart;
        c->addSeries(series);
        series->attachAxis(m_timeAxis);
        series->attachAxis(m_valueAxis);
        const bool legendEntry = l.segments.isEmpty();
        for (QLegendMarker *marker : c->legend()->markers(series))
            marker->setVisible(legendEntry);
        l.segments.append(series);
    }
    return l.segments.at(index);
}

void MetricChart::setSource(const MetricSource *source)
{
    m_source = source;
}

void MetricChart::setRangeSeconds(qint64 seconds)
{
    m_rangeMs = seconds * 1000;
}

void MetricChart::setFractional(bool fractional)
{
    m_fractional = fractional;
}

void MetricChart::setEmptyText(const QString &text)
{
    m_empty->setText(text.isEmpty() ? tr("No data yet") : text);
}

int MetricChart::segmentCount(int line) const
{
    int count = 0;
    for (const QLineSeries *series : m_lines.at(line).segments)
        count += series->count() > 0 ? 1 : 0;
    return count;
}

int MetricChart::clippedCount() const
{
    return m_clipped->count();
}

QString MetricChart::emptyText() const
{
    return m_empty->isVisibleTo(this) ? m_empty->text() : QString();
}

QStringList MetricChart::timeLabels() const
{
    return m_timeAxis->categoriesLabels();
}

QList<double> MetricChart::valueTicks() const
{
    QList<double> ticks;
    for (const QString &label : m_valueAxis->categoriesLabels())
        ticks.append(m_valueAxis->endValue(label));
    return ticks;
}

QStringList MetricChart::valueLabels() const
{
    return m_valueAxis->categoriesLabels();
}

QString MetricChart::formatValue(double value) const
{
    // One more decimal than the ticks: a hover reads between them.
    const int decimals = m_fractional ? qMin(m_valueDecimals + 1, 8) : 0;
    return QLocale().toString(value, 'f', decimals);
}

void MetricChart::refresh(qint64 nowMs)
{
    if (!m_source)
        return;
    if (nowMs <= 0)
        nowMs = QDateTime::currentMSecsSinceEpoch();
    const qint64 from = nowMs - m_rangeMs;
    QList<double> all;
    double latest = 0; // the highest of the lines' present values
    for (int i = 0; i < m_lines.size(); ++i) {
        QList<QPointF> points =
            m_source->points(m_lines.at(i).spec.metric, from, nowMs, kMaxPoints);
        const double scale = m_lines.at(i).spec.scale;
        for (QPointF &point : points) {
            point.setY(point.y() * scale);
            all.append(point.y());
        }
        if (!points.isEmpty())
            latest = qMax(latest, points.constLast().y());
        m_values[i] = points;
    }
    m_hasData = !all.isEmpty();
    // A spike in the past is clipped, the present never: a queue that rose to 19,855 a
    // minute ago is a level, not an outlier (the axis stood at 2,000 above a line cut flat).
    const double level = qMax(charticks::clipLevel(all), latest);
    setValueAxis(level);
    const double top = m_valueAxis->max();
    QList<QPointF> clipped;
    for (int i = 0; i < m_lines.size(); ++i) {
        QList<QPointF> drawn = m_values.at(i);
        for (QPointF &point : drawn) {
            if (point.y() > top) {
                point.setY(top);
                clipped.append(point);
            }
        }
        drawLine(i, drawn);
    }
    m_clipped->replace(clipped);
    m_clipped->setVisible(!clipped.isEmpty());
    // No legend entry: at the dashboard's width a fifth one cut every line's name to
    // "1 · …"; the hover gives the clipped value.
    for (QLegendMarker *marker : chart()->legend()->markers(m_clipped))
        marker->setVisible(false);
    setTimeAxis(from, nowMs);
    showEmpty(!m_hasData);
}

void MetricChart::drawLine(int line, const QList<QPointF> &points)
{
    const QList<QList<QPointF>> pieces = charticks::splitAtGaps(points);
    for (int k = 0; k < pieces.size(); ++k) {
        QLineSeries *series = segment(line, k);
        // A lone point between two gaps is a dot, not nothing.
        series->setPointsVisible(pieces.at(k).size() == 1);
        series->replace(pieces.at(k));
    }
    const QList<QLineSeries *> &segments = m_lines.at(line).segments;
    for (qsizetype k = pieces.size(); k < segments.size(); ++k)
        segments.at(k)->clear();
}

void MetricChart::setTimeAxis(qint64 fromMs, qint64 toMs)
{
    m_fromMs = fromMs;
    m_toMs = toMs;
    const double plotWidth =
        chart()->plotArea().width() > 0 ? chart()->plotArea().width() : double(width() - 80);
    const int labelWidth = fontMetrics().horizontalAdvance(u"00:00:00"_s) + 24;
    const int maxTicks = qBound(2, int(plotWidth / labelWidth), 8);
    clearCategories(m_timeAxis);
    m_timeAxis->setStartValue(double(fromMs));
    for (const charticks::TimeTick &tick : charticks::timeTicks(fromMs, toMs, maxTicks)) {
        if (tick.atMs > fromMs)
            m_timeAxis->append(tick.label, double(tick.atMs));
    }
    m_timeAxis->setRange(double(fromMs), double(toMs));
}

void MetricChart::setValueAxis(double maxValue)
{
    const double plotHeight =
        chart()->plotArea().height() > 0 ? chart()->plotArea().height() : double(height() - 80);
    const int maxTicks = qBound(2, int(plotHeight / (fontMetrics().height() * 2)), 5);
    const charticks::ValueScale scale =
        charticks::valueScale(maxValue, maxTicks, m_fractional ? 0 : 1);
    m_valueDecimals = m_fractional ? scale.decimals : 0;
    clearCategories(m_valueAxis);
    const QLocale locale;
    // The bottom category starts just below 0 so that 0 gets a label of its own.
    m_valueAxis->setStartValue(-scale.step / 1000);
    const int steps = int(std::lround(scale.top / scale.step));
    for (int k = 0; k <= steps; ++k) {
        const double value = k * scale.step;
        m_valueAxis->append(locale.toString(value, 'f', m_valueDecimals), value);
    }
    m_valueAxis->setRange(0, scale.top);
}

void MetricChart::showEmpty(bool empty)
{
    m_empty->setVisible(empty);
    m_timeAxis->setLabelsVisible(!empty);
    m_valueAxis->setLabelsVisible(!empty);
    m_valueAxis->setTitleVisible(!empty);
    m_timeAxis->setGridLineVisible(!empty);
    m_valueAxis->setGridLineVisible(!empty);
    chart()->legend()->setVisible(!empty && m_lines.size() > 1);
}

QString MetricChart::hoverText(const QPoint &viewPos) const
{
    if (!m_hasData)
        return {};
    const QPointF chartPos = chart()->mapFromScene(mapToScene(viewPos));
    if (!chart()->plotArea().contains(chartPos))
        return {};
    const double x = chart()->mapToValue(chartPos).x();
    const QPointF *best = nullptr;
    for (const QList<QPointF> &points : m_values) {
        const QPointF *near = nearestInTime(points, x);
        if (near && (!best || std::abs(near->x() - x) < std::abs(best->x() - x)))
            best = near;
    }
    // Nothing within a fiftieth of the window: the pointer is over a gap.
    if (!best || std::abs(best->x() - x) > double(m_toMs - m_fromMs) / 50)
        return {};
    const QDateTime at = QDateTime::fromMSecsSinceEpoch(qint64(best->x()));
    QStringList rows{
        QLocale().toString(at, m_toMs - m_fromMs > 86'400'000 ? u"ddd HH:mm"_s : u"HH:mm:ss"_s)};
    const double tolerance = double(m_toMs - m_fromMs) / 100;
    for (int i = 0; i < m_lines.size(); ++i) {
        const QPointF *near = nearestInTime(m_values.at(i), best->x());
        if (near && std::abs(near->x() - best->x()) <= tolerance)
            rows.append(u"%1: %2 %3"_s.arg(m_lines.at(i).spec.name, formatValue(near->y()),
                                           m_valueAxis->titleText()));
    }
    return rows.join(u'\n');
}

void MetricChart::mouseMoveEvent(QMouseEvent *event)
{
    QChartView::mouseMoveEvent(event);
    const QString text = hoverText(event->position().toPoint());
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), text, this);
}

void MetricChart::leaveEvent(QEvent *event)
{
    QChartView::leaveEvent(event);
    QToolTip::hideText();
}

void MetricChart::resizeEvent(QResizeEvent *event)
{
    QChartView::resizeEvent(event);
    m_empty->setGeometry(rect());
    // The tick counts follow the room the chart has.
    if (m_toMs > m_fromMs)
        setTimeAxis(m_fromMs, m_toMs);
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
    // Four entries fit under a chart a third of 1024 px wide (at the view's font they were
    // elided to "1 · …").
    QFont legendFont = font();
    legendFont.setPointSizeF(legendFont.pointSizeF() * 0.78);
    c->legend()->setFont(legendFont);
    c->legend()->setContentsMargins(0, 0, 0, 0);
    QFont titleFont = font();
    titleFont.setBold(true);
    c->setTitleFont(titleFont);
    for (QAbstractAxis *axis :
         {static_cast<QAbstractAxis *>(m_timeAxis), static_cast<QAbstractAxis *>(m_valueAxis)}) {
        axis->setLabelsColor(pal.color(QPalette::Text));
        axis->setTitleBrush(pal.brush(QPalette::Text));
        QColor grid = pal.color(QPalette::Mid);
        grid.setAlpha(90);
        axis->setGridLineColor(grid);
        axis->setLinePenColor(pal.color(QPalette::Mid));
    }
    m_clipped->setColor(pal.color(QPalette::Text));
    m_clipped->setBorderColor(pal.color(QPalette::Base));
    setBackgroundBrush(pal.brush(QPalette::Window));
}

} // namespace bd::ui
