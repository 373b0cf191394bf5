#pragma once

#include <QJsonObject>
#include <QWidget>

class QLabel;
class QTableWidget;

namespace bd {
class Engine;
}

namespace bd::ui {

// Settings › Prices: the price table as the engine knows it (the built-in table merged
// with the user's override file), one row per model, plus the models the providers name
// that have no price ("cost unknown"). Edited and added rows go to the override file,
// which the engine writes on its own thread and then reloads.
class PricesPage final : public QWidget
{
    Q_OBJECT

public:
    enum Column
    {
        ModelColumn,
        InputColumn,
        CachedInputColumn,
        CacheWriteColumn,
        CacheWrite1hColumn,
        OutputColumn,
        BatchShareColumn,
        SourceColumn,
        ColumnCount
    };

    PricesPage(Engine *engine, const QString &overridePath, QWidget *parent = nullptr);

    QTableWidget *table() const { return m_table; }
    bool isModified() const { return m_modified; }
    // Sends the override rows to the engine; false (and the reason shown) when a cell is
    // not a number.
    bool save();
    int rowOf(const QString &model) const;
    QString status() const;

Q_SIGNALS:
    void pricesShown();
    void saved(bool ok, const QString &error);

private:
    void showPrices(const QJsonObject &models);
    void addModel();
    void removeSelected();
    void setRow(int row, const QString &model, const QJsonObject &price, const QString &source);

    Engine *m_engine;
    QString m_overridePath;
    QTableWidget *m_table = nullptr;
    QLabel *m_status = nullptr;
    bool m_modified = false;
    bool m_filling = false;
};

} // namespace bd::ui
