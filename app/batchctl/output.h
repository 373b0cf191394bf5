#pragma once

#include "api/engine.h"

#include <QJsonObject>
#include <QString>

// How jobs, alerts and the global budget look on stdout and stderr (CLI.md's --json keys).
namespace batchctl {

// elapsedSeconds < 0: left out (status).
QJsonObject jobSummary(const bd::JobInfo &job, double elapsedSeconds);
QString jobLine(const bd::JobInfo &job);
QJsonObject alertJson(const bd::AlertRecord &alert);

// The global budget as the engine answers it (globalBudgetChanged).
struct GlobalBudget
{
    double capUsd = 0;
    QString period;
    double spentUsd = 0;
};
QJsonObject globalBudgetJson(const GlobalBudget &budget);
QString globalBudgetLine(const QJsonObject &budget);

// 0 finished, 3 paused or unfinished, 4 dead letters (CLI.md).
int exitCodeFor(const bd::JobInfo &job);

} // namespace batchctl
