#pragma once

#include <optional>
#include <QJsonValue>
#include <QList>
#include <QString>
#include <QStringList>

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
    // Structured answers: each output field's value (after `output`), Undefined where the
    // answer lacks it; numbers and yes/no stay typed for JSONL and XLSX.
    QList<QJsonValue> fieldValues;
};

} // namespace bd
