#pragma once

#include <QString>
#include <QStringList>

#include <optional>

namespace bd {

// One task as an export writes it (ingest/exportwriter.h) and as the store streams it
// (Store::forEachExportRow). Lives here so that the store does not depend on ingest.
struct ExportRow
{
    QStringList inputValues;
    QString status; // completed | dead | pending | cancelled
    QString output;
    QString error;
    QString model;
    qint64 inputTokens = 0;
    qint64 outputTokens = 0;
    qint64 cachedTokens = 0;
    std::optional<double> costUsd; // nullopt: cost unknown (unpriced model)
    int attempts = 0;
    qint64 taskId = 0;
    QString tier;            // model tiering: the task's tier (empty for a job on one model)
    QStringList extraValues; // texts of the export's extra columns, in their order
};

} // namespace bd
