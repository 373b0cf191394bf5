#pragma once

#include "store/store.h"

#include <QSqlDatabase>

namespace bd::store::sqlcharges {

// Store::recordJobCharge / jobCharges over QtSql, for both backends (plain SQL that SQLite
// and PostgreSQL read alike; only the opening of the transaction differs: SQLite takes the
// write lock at BEGIN IMMEDIATE, PostgreSQL locks the charge's row). On failure: false and
// *error.
bool record(QSqlDatabase &db, bool postgres, qint64 jobId, const JobCharge &charge, qint64 nowMs,
            double *deltaUsd, QString *error);
QList<JobCharge> list(QSqlDatabase &db, qint64 jobId, QString *error);
// The sum of the job's charges (what jobTotals adds to its tasks' costs); 0 on failure.
double total(QSqlDatabase &db, qint64 jobId, QString *error);

} // namespace bd::store::sqlcharges
