#pragma once

#include "api/types.h"

#include <QComboBox>

namespace bd::ui {

// A job picker fed from the jobs model: "All jobs" first, then one entry per job; keeps
// the chosen job across refreshes.
class JobCombo final : public QComboBox
{
    Q_OBJECT

public:
    explicit JobCombo(QWidget *parent = nullptr);

    void setJobs(const QList<bd::JobInfo> &jobs);
    qint64 currentJobId() const;
    void setCurrentJobId(qint64 jobId);

Q_SIGNALS:
    void jobChanged(qint64 jobId);
};

} // namespace bd::ui
