#include "jobcombo.h"

#include <QFileInfo>
#include <QSignalBlocker>

namespace bd::ui {

using namespace Qt::StringLiterals;

JobCombo::JobCombo(QWidget *parent)
    : QComboBox(parent)
{
    addItem(tr("All jobs"), qint64(0));
    setSizeAdjustPolicy(QComboBox::AdjustToContents);
    connect(this, &QComboBox::currentIndexChanged, this,
            [this] { Q_EMIT jobChanged(currentJobId()); });
}

void JobCombo::setJobs(const QList<JobInfo> &jobs)
{
    const qint64 current = currentJobId();
    {
        const QSignalBlocker blocker(this);
        clear();
        addItem(tr("All jobs"), qint64(0));
        for (const JobInfo &job : jobs)
            addItem(tr("Job %1 · %2").arg(job.id).arg(QFileInfo(job.spec.sourcePath).fileName()), job.id);
        const int index = findData(current);
        setCurrentIndex(index >= 0 ? index : 0);
    }
    if (currentJobId() != current)
        Q_EMIT jobChanged(currentJobId());
}

qint64 JobCombo::currentJobId() const
{
    return currentData().toLongLong();
}

void JobCombo::setCurrentJobId(qint64 jobId)
{
    const int index = findData(jobId);
    if (index >= 0)
        setCurrentIndex(index);
}

} // namespace bd::ui
