#pragma once

#include "api/workers.h"

#include <QWidget>

class QLabel;
class QTableWidget;
class QTimer;

namespace bd {
class Engine;
}

namespace bd::ui {

// Every engine seen on the database in the last 10 minutes (batchctl worker, run, serve,
// other consoles, this window), from their heartbeats in the worker registry: host, pid,
// lanes, requests in flight, tasks completed, pace and last heartbeat. Asked for every 2 s
// while the page shows; nothing is read while it is hidden.
class WorkersPage final : public QWidget
{
    Q_OBJECT

public:
    explicit WorkersPage(Engine *engine, QWidget *parent = nullptr);

    enum Column
    {
        WorkerColumn,
        LanesColumn,
        InFlightColumn,
        CompletedColumn,
        RateColumn,
        RescuedColumn,
        HeartbeatColumn,
        StartedColumn,
        ColumnCount
    };

    void reload();
    QTableWidget *table() const { return m_table; }
    QLabel *summary() const { return m_summary; }

    // A heartbeat older than this reads as stale (the worker may be gone; its leases return
    // to the others when they expire).
    static constexpr qint64 kStaleMs = 30'000;

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void handleWorkers(const QList<bd::WorkerInfo> &workers);

    Engine *m_engine;
    QLabel *m_summary = nullptr;
    QTableWidget *m_table = nullptr;
    QTimer *m_timer = nullptr;
};

} // namespace bd::ui
