#pragma once

#include "api/snapshot.h"

#include <QHash>
#include <QWidget>

class QComboBox;
class QTimer;
class QGridLayout;
class QLabel;

namespace bd {
class Engine;
}

namespace bd::ui {

class HistoryMetrics;
class LiveMetrics;
class MetricChart;
class MetricSource;

// Counters and live charts from engine snapshots. Charts redraw only while the page is
// visible (the OBS stats-panel way); samples are kept either way.
class DashboardPage final : public QWidget
{
    Q_OBJECT

public:
    explicit DashboardPage(QWidget *parent = nullptr);

    void applySnapshot(const bd::EngineSnapshot &snapshot);
    // A stored-history source (metrics tables) can replace the live one.
    void setSource(const MetricSource *source);
    // Draws from the stored metrics (with the live samples appended) from now on: loads the
    // chosen range at once, again when it changes, and every few seconds while visible.
    void showHistory(Engine *engine);
    HistoryMetrics *history() const { return m_history; }
    void setRangeIndex(int index);
    LiveMetrics *liveMetrics() const { return m_live; }
    QList<MetricChart *> charts() const { return m_charts; }
    // Redraws counters and charts now; returns the GUI-thread time it took in ns.
    qint64 refreshNow();
    qint64 lastRefreshNs() const { return m_lastRefreshNs; }
    QString counterText(const QString &name) const;
    QString counterCaption(const QString &name) const;
    // The global budget counter is highlighted (the dead-letter red) when the cap is reached.
    bool isGlobalBudgetHighlighted() const;

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    // Caption at (row, column), value below it, both across columnSpan columns.
    QLabel *addCounter(const QString &name, const QString &title, int column, int row = 0,
                       int columnSpan = 1);
    void showGlobalBudget();
    void setRange(int index);
    void loadHistory();
    qint64 rangeSeconds() const;

    LiveMetrics *m_live = nullptr;
    HistoryMetrics *m_history = nullptr;
    QTimer *m_historyTimer = nullptr;
    bool m_refreshQueued = false;
    const MetricSource *m_source = nullptr;
    QComboBox *m_range = nullptr;
    QList<MetricChart *> m_charts;
    QHash<QString, QLabel *> m_counters;
    QHash<QString, QLabel *> m_captions;
    QGridLayout *m_counterGrid = nullptr;
    qint64 m_lastRefreshNs = 0;
    bd::EngineSnapshot m_lastSnapshot;
};

} // namespace bd::ui
