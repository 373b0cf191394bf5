#pragma once

#include "api/snapshot.h"

#include <QHash>
#include <QWidget>

class QComboBox;
class QFrame;
class QTimer;
class QGridLayout;
class QLabel;

namespace bd {
class Engine;
}

namespace bd::ui {

class HistoryMetrics;
class JobCombo;
class SavingsPanel;
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
    // The jobs the chart filter offers ("All jobs" first).
    void setJobs(const QList<bd::JobInfo> &jobs);
    // Draws one job's charts (0: every job); counters stay for the whole database.
    void filterJob(qint64 jobId);
    qint64 filteredJobId() const;
    SavingsPanel *savingsPanel() const { return m_savings; }
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
    void resizeEvent(QResizeEvent *event) override;

private:
    QLabel *addCounter(const QString &name, const QString &title);
    void showGlobalBudget();
    void arrangeCounters();
    void setRange(int index);
    void loadHistory();
    qint64 rangeSeconds() const;

    LiveMetrics *m_live = nullptr;
    LiveMetrics *m_jobLive = nullptr; // the filtered job's samples, while one is chosen
    Engine *m_engine = nullptr;
    JobCombo *m_jobFilter = nullptr;
    SavingsPanel *m_savings = nullptr;
    QHash<qint64, int> m_jobPriorities;
    HistoryMetrics *m_history = nullptr;
    QTimer *m_historyTimer = nullptr;
    bool m_refreshQueued = false;
    const MetricSource *m_source = nullptr;
    QComboBox *m_range = nullptr;
    QList<MetricChart *> m_charts;
    QHash<QString, QLabel *> m_counters;
    QHash<QString, QLabel *> m_captions;
    QGridLayout *m_counterGrid = nullptr;
    QFrame *m_counterFrame = nullptr;
    QStringList m_counterOrder;
    int m_counterColumns = 0;
    qint64 m_lastRefreshNs = 0;
    bd::EngineSnapshot m_lastSnapshot;
};

} // namespace bd::ui
