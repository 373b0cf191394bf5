#pragma once

#include <QFrame>
#include <QHash>

class QLabel;
class QGridLayout;

namespace bd {
class Engine;
namespace metrics {
struct SeriesData;
}
} // namespace bd

namespace bd::ui {

// Figures that lead to a decision about priorities and modes, over the dashboard's range,
// from what the engine's recorder stores: how full the batches of each lane are against
// their maximum, the share of tasks sent at the batch price, what that saved against
// sending everything realtime, and the cost per 1,000 tasks.
class SavingsPanel final : public QFrame
{
    Q_OBJECT

public:
    explicit SavingsPanel(QWidget *parent = nullptr);

    // Reads the stored series on the engine's reader; the figures follow as they arrive.
    void load(Engine *engine, qint64 fromMs, qint64 toMs);
    // A figure's text by name: "sync_batch", "batch_batch", "batch_share", "saved",
    // "per_1000" (tests read them; the labels say the same).
    QString figureText(const QString &name) const;

private:
    struct Totals
    {
        double amount = 0;   // counters: what the points add up to over the range
        double weighted = 0; // ratios: numerator (value × denominator)
        double denominator = 0;
        bool arrived = false;
    };
    enum class Figure
    {
        SyncBatches,
        SyncFill,
        BatchBatches,
        BatchFill,
        Completed,
        CompletedAtBatchPrice,
        Cost,
        CostAtRealtime,
    };

    void handleSeries(quint64 ticket, const bd::metrics::SeriesData &series);
    void addRow(const QString &name, const QString &caption, const QString &hint);
    void showFigures();
    QString batchSizeText(Figure batches, Figure fill) const;

    Engine *m_engine = nullptr;
    QHash<quint64, Figure> m_requests;
    QHash<int, Totals> m_totals;
    QHash<QString, QLabel *> m_values;
    QGridLayout *m_grid = nullptr;
};

} // namespace bd::ui
