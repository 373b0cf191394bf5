#include "jobsmodel.h"

#include <QFileInfo>
#include <QLocale>

namespace bd::ui {

using namespace Qt::StringLiterals;

int JobsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_jobs.size());
}

int JobsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant JobsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_jobs.size())
        return {};
    const JobInfo &job = m_jobs.at(index.row());
    const QLocale locale;
    const qint64 total = job.counts.total();
    const qint64 done = job.counts.completed + job.counts.dead + job.counts.cancelled;
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case IdColumn: return job.id;
        case SourceColumn: return QFileInfo(job.spec.sourcePath).fileName();
        case StateColumn:
            return job.stateReason.isEmpty() || job.state == JobState::Finished
                       ? jobStateName(job.state)
                       : u"%1 (%2)"_s.arg(jobStateName(job.state), job.stateReason);
        case ProgressColumn:
            return total ? u"%1%"_s.arg(QString::number(100.0 * double(done) / double(total), 'f', 1))
                         : u"–"_s;
        case CompletedColumn: return locale.toString(job.counts.completed);
        case DeadColumn: return locale.toString(job.counts.dead);
        case PendingColumn: return locale.toString(job.counts.unfinished());
        case CostColumn: return QString(u"$"_s + QString::number(job.costUsd, 'f', 4));
        case ModelColumn:
            return job.spec.provider == u"simulator"_s
                       ? u"%1 (simulated)"_s.arg(job.spec.model)
                       : u"%1 / %2"_s.arg(job.spec.provider, job.spec.model);
        }
    } else if (role == Qt::TextAlignmentRole) {
        if (index.column() != SourceColumn && index.column() != StateColumn
            && index.column() != ModelColumn)
            return int(Qt::AlignRight | Qt::AlignVCenter);
    } else if (role == Qt::ToolTipRole && index.column() == SourceColumn) {
        return job.spec.sourcePath;
    }
    return {};
}

QVariant JobsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const titles[] = {"Job", "Source", "State", "Progress", "Completed",
                                         "Dead", "Pending", "Cost (USD)", "Model"};
    return tr(titles[section]);
}

void JobsModel::setJobs(const QList<JobInfo> &jobs)
{
    beginResetModel();
    m_jobs = jobs;
    endResetModel();
}

void JobsModel::updateProgress(qint64 jobId, const TaskCounts &counts, const Usage &usage,
                               double costUsd)
{
    for (int row = 0; row < m_jobs.size(); ++row) {
        JobInfo &job = m_jobs[row];
        if (job.id != jobId)
            continue;
        job.counts = counts;
        job.usage = usage;
        job.costUsd = costUsd;
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        return;
    }
}

} // namespace bd::ui
