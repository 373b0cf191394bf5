#pragma once

namespace bd::store {

// Which SQL the shared store classes (store/sql/) speak where SQLite and PostgreSQL differ:
// how a writing transaction starts, and the two-argument MAX/MIN (GREATEST/LEAST).
enum class SqlDialect
{
    Sqlite,
    Postgres,
};

} // namespace bd::store
