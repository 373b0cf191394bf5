#pragma once

#include "core/types.h"

#include <QAbstractTableModel>
#include <QList>

namespace bd::ui {

// The jobs in the database, refreshed from engine snapshots (never from the disk here).
class JobsModel final : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column
    {
        IdColumn,
        SourceColumn,
        StateColumn,
        ProgressColumn,
        CompletedColumn,
        DeadColumn,
        PendingColumn,
        CostColumn,
        ModelColumn,
        ColumnCount
    };

    using QAbstractTableModel::QAbstractTableModel;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void setJobs(const QList<bd::JobInfo> &jobs);
    void updateProgress(qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &usage,
                        double costUsd);

private:
    QList<bd::JobInfo> m_jobs;
};

} // namespace bd::ui
