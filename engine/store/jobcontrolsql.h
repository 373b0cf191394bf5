#pragma once

#include "store/taskactions.h"

class QSqlDatabase;

// The statements of the job-control log (TaskActions::recordControl and the rest): standard
// SQL that SQLite and PostgreSQL run as it is, over either backend's Qt SQL connection, so
// both backends share them instead of keeping two copies.
namespace bd::store::jobcontrolsql {

// The control's id, 0 on failure (*error set); drops controls older than kRetentionMs.
qint64 record(QSqlDatabase &db, const JobControl &control, QString *error);
QList<JobControl> after(QSqlDatabase &db, qint64 afterId, QString *error);
// 0 when none; -1 on failure.
qint64 lastId(QSqlDatabase &db, QString *error);

} // namespace bd::store::jobcontrolsql
