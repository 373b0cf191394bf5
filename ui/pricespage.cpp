#include "pricespage.h"

#include "api/engine.h"

#include <QDir>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QPushButton>
#include <QSet>
#include <QTableWidget>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

// Price columns and their JSON keys (engine/cost/pricetable: USD per 1M tokens).
struct PriceField
{
    int column;
    const char *key;
};
constexpr PriceField kFields[] = {
    {PricesPage::InputColumn, "input"},
    {PricesPage::CachedInputColumn, "cached_input"},
    {PricesPage::CacheWriteColumn, "cache_write"},
    {PricesPage::CacheWrite1hColumn, "cache_write_1h"},
    {PricesPage::OutputColumn, "output"},
    {PricesPage::BatchShareColumn, "batch_discount"},
};

constexpr int kOverrideRole = Qt::UserRole + 1; // bool: the row goes to the override file

QString number(double value)
{
    return QString::number(value, 'g', 6);
}

} // namespace

PricesPage::PricesPage(Engine *engine, const QString &overridePath, QWidget *parent)
    : QWidget(parent)
    , m_engine(engine)
    , m_overridePath(overridePath)
{
    auto *layout = new QVBoxLayout(this);
    auto *intro = new QLabel(
        tr("USD per 1M tokens. Edited rows are written to %1 and used by jobs "
           "started afterwards. Batch share: what the batch lanes pay of the list price.")
            .arg(QDir::toNativeSeparators(overridePath)),
        this);
    intro->setWordWrap(true);
    layout->addWidget(intro);
    m_table = new QTableWidget(0, ColumnCount, this);
    m_table->setObjectName(u"pricesTable"_s);
    m_table->setHorizontalHeaderLabels({tr("Model"), tr("Input"), tr("Cached input"),
                                        tr("Cache write"), tr("Cache write 1 h"), tr("Output"),
                                        tr("Batch share"), tr("Source")});
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    layout->addWidget(m_table, 1);

    auto *buttons = new QHBoxLayout;
    auto *add = new QPushButton(tr("Add model…"), this);
    auto *remove = new QPushButton(tr("Remove override"), this);
    remove->setToolTip(
        tr("Drop the selected rows from the override file (the built-in price returns)"));
    auto *reload = new QPushButton(tr("Reload"), this);
    reload->setToolTip(tr("Read the override file again"));
    auto *saveButton = new QPushButton(tr("Save prices"), this);
    saveButton->setObjectName(u"savePrices"_s);
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    buttons->addWidget(add);
    buttons->addWidget(remove);
    buttons->addWidget(reload);
    buttons->addWidget(saveButton);
    buttons->addWidget(m_status, 1);
    layout->addLayout(buttons);

    connect(add, &QPushButton::clicked, this, &PricesPage::addModel);
    connect(remove, &QPushButton::clicked, this, &PricesPage::removeSelected);
    connect(reload, &QPushButton::clicked, m_engine, &Engine::reloadPrices);
    connect(saveButton, &QPushButton::clicked, this, &PricesPage::save);
    connect(m_table, &QTableWidget::itemChanged, this, [this](QTableWidgetItem *item) {
        if (m_filling || item->column() == ModelColumn || item->column() == SourceColumn)
            return;
        const QSignalBlocker blocker(m_table);
        const int row = item->row();
        m_table->item(row, ModelColumn)->setData(kOverrideRole, true);
        m_table->item(row, SourceColumn)->setText(tr("edited (not saved)"));
        m_modified = true;
    });
    connect(m_engine, &Engine::pricesListed, this, &PricesPage::showPrices);
    connect(m_engine, &Engine::pricesReloaded, this, [this](bool ok, const QString &error) {
        m_status->setText(ok ? tr("Prices reloaded.") : tr("Prices not saved: %1").arg(error));
        if (ok)
            m_modified = false;
        Q_EMIT saved(ok, error);
    });
    m_engine->requestPrices();
}

QString PricesPage::status() const
{
    return m_status->text();
}

int PricesPage::rowOf(const QString &model) const
{
    for (int row = 0; row < m_table->rowCount(); ++row) {
        if (m_table->item(row, ModelColumn)->text() == model)
            return row;
    }
    return -1;
}

void PricesPage::setRow(int row, const QString &model, const QJsonObject &price,
                        const QString &source)
{
    auto *name = new QTableWidgetItem(model);
    name->setFlags(name->flags() & ~Qt::ItemIsEditable);
    name->setData(kOverrideRole, source == m_overridePath);
    m_table->setItem(row, ModelColumn, name);
    for (const PriceField &field : kFields) {
        const QJsonValue value = price.value(QLatin1StringView(field.key));
        auto *cell = new QTableWidgetItem(value.isDouble() ? number(value.toDouble()) : QString());
        cell->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_table->setItem(row, field.column, cell);
    }
    QString sourceText = source == m_overridePath ? tr("your override") : tr("built in");
    if (price.isEmpty())
        sourceText = tr("cost unknown");
    else if (price.value(u"simulated"_s).toBool())
        sourceText += tr(" (simulator)");
    if (!price.value(u"date"_s).toString().isEmpty())
        sourceText += u", "_s + price.value(u"date"_s).toString();
    auto *sourceItem = new QTableWidgetItem(sourceText);
    sourceItem->setFlags(sourceItem->flags() & ~Qt::ItemIsEditable);
    m_table->setItem(row, SourceColumn, sourceItem);
    if (price.isEmpty()) {
        for (int column = InputColumn; column < SourceColumn; ++column)
            m_table->item(row, column)
                ->setData(Qt::ToolTipRole, tr("cost unknown: enter prices to price this model"));
        m_table->item(row, InputColumn)->setData(Qt::DisplayRole, tr("cost unknown"));
    }
}

void PricesPage::showPrices(const QJsonObject &models)
{
    m_filling = true;
    m_table->setRowCount(0);
    QStringList names = models.keys();
    // Models the providers name without a price: shown so that they can be priced.
    QSet<QString> priced(names.cbegin(), names.cend());
    QStringList unknown;
    for (const ProviderInfo &info : availableProviders()) {
        for (const QString &model : info.knownModels) {
            if (!priced.contains(model) && !unknown.contains(model))
                unknown.append(model);
        }
    }
    m_table->setRowCount(int(names.size() + unknown.size()));
    int row = 0;
    for (const QString &model : std::as_const(names)) {
        const QJsonObject price = models.value(model).toObject();
        setRow(row++, model, price, price.value(u"source"_s).toString());
    }
    for (const QString &model : std::as_const(unknown))
        setRow(row++, model, {}, QString());
    m_filling = false;
    m_modified = false;
    Q_EMIT pricesShown();
}

void PricesPage::addModel()
{
    bool ok = false;
    const QString model =
        QInputDialog::getText(this, tr("Add a model"), tr("Model name as the API spells it:"),
                              QLineEdit::Normal, QString(), &ok)
            .trimmed();
    if (!ok || model.isEmpty())
        return;
    int row = rowOf(model);
    if (row < 0) {
        m_filling = true;
        row = m_table->rowCount();
        m_table->insertRow(row);
        setRow(row, model, QJsonObject{{u"batch_discount"_s, 0.5}}, QString());
        m_table->item(row, SourceColumn)->setText(tr("new (not saved)"));
        m_table->item(row, ModelColumn)->setData(kOverrideRole, true);
        m_filling = false;
        m_modified = true;
    }
    m_table->setCurrentCell(row, InputColumn);
    m_table->editItem(m_table->item(row, InputColumn));
}

void PricesPage::removeSelected()
{
    const QModelIndexList rows = m_table->selectionModel()->selectedRows();
    for (const QModelIndex &index : rows) {
        QTableWidgetItem *name = m_table->item(index.row(), ModelColumn);
        if (name->data(kOverrideRole).toBool()) {
            name->setData(kOverrideRole, false);
            m_table->item(index.row(), SourceColumn)->setText(tr("override removed (not saved)"));
            m_modified = true;
        }
    }
}

bool PricesPage::save()
{
    QJsonObject entries;
    for (int row = 0; row < m_table->rowCount(); ++row) {
        const QTableWidgetItem *name = m_table->item(row, ModelColumn);
        if (!name->data(kOverrideRole).toBool())
            continue;
        QJsonObject entry;
        for (const PriceField &field : kFields) {
            const QString text = m_table->item(row, field.column)->text().trimmed();
            if (text.isEmpty())
                continue;
            bool ok = false;
            const double value = text.toDouble(&ok);
            if (!ok || value < 0) {
                const QString problem =
                    tr("%1, %2: \"%3\" is not a price (a number, 0 or more)")
                        .arg(name->text(), m_table->horizontalHeaderItem(field.column)->text(),
                             text);
                m_status->setText(problem);
                Q_EMIT saved(false, problem);
                return false;
            }
            entry.insert(QLatin1StringView(field.key), value);
        }
        if (!entry.contains(u"input"_s) || !entry.contains(u"output"_s)) {
            const QString problem = tr("%1: input and output prices are needed").arg(name->text());
            m_status->setText(problem);
            Q_EMIT saved(false, problem);
            return false;
        }
        entries.insert(name->text(), entry);
    }
    m_status->setText(tr("Saving…"));
    m_engine->savePriceOverrides(entries);
    return true;
}

} // namespace bd::ui
