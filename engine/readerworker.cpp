#include "readerworker.h"

#include "jobio.h"
#include "store/sqlitestore.h"

#include <QElapsedTimer>

namespace bd {

using namespace Qt::StringLiterals;

ReaderWorker::ReaderWorker(const QString &databasePath,
                           std::shared_ptr<std::atomic<quint64>> ticketFloor)
    : m_databasePath(databasePath)
    , m_ticketFloor(std::move(ticketFloor))
{
}

ReaderWorker::~ReaderWorker() = default;

bool ReaderWorker::ensureOpen()
{
    if (m_query && m_store)
        return true;
    if (!m_store) {
        auto storeConnection = std::make_unique<store::SqliteStore>(m_databasePath, u"engine-reader-store"_s);
        if (!storeConnection->isOpen()) {
            Q_EMIT readFailed(storeConnection->errorString());
            return false;
        }
        m_store = std::move(storeConnection);
    }
    auto query = std::make_unique<store::TaskQuery>(m_databasePath, u"engine-reader-tasks"_s);
    if (!query->isOpen()) {
        Q_EMIT readFailed(query->errorString());
        return false;
    }
    m_query = std::move(query);
    return true;
}

void ReaderWorker::countTasks(quint64 ticket, const store::TaskFilter &filter)
{
    if (stale(ticket) || !ensureOpen())
        return;
    const auto n = m_query->count(filter);
    if (!n) {
        Q_EMIT readFailed(m_query->errorString());
        return;
    }
    Q_EMIT taskCountReady(ticket, *n);
}

void ReaderWorker::fetchTaskPage(quint64 ticket, const store::TaskFilter &filter, qint64 offset,
                                 qint64 afterId, int limit)
{
    if (stale(ticket) || !ensureOpen())
        return;
    const auto rows = m_query->page(filter, offset, afterId, limit);
    if (!rows) {
        Q_EMIT readFailed(m_query->errorString());
        return;
    }
    Q_EMIT taskPageReady(ticket, offset, *rows);
}

void ReaderWorker::fetchTaskDetail(qint64 taskId)
{
    if (!ensureOpen())
        return;
    if (const auto detail = m_query->detail(taskId))
        Q_EMIT taskDetailReady(*detail);
    else
        Q_EMIT readFailed(m_query->errorString());
}

void ReaderWorker::fetchDeadSummary(qint64 jobId)
{
    if (!ensureOpen())
        return;
    Q_EMIT deadSummaryReady(jobId, m_query->deadByClass(jobId));
}

void ReaderWorker::listAlerts(bool includeCleared)
{
    if (!ensureOpen())
        return;
    Q_EMIT alertsListed(m_store->alerts(includeCleared));
}

void ReaderWorker::collectIds(int action, const store::TaskFilter &filter, int argument)
{
    if (!ensureOpen())
        return;
    // A bound keeps one click from building an unbounded statement list; ten million ids
    // are 80 MB, far more than any job the console is meant for.
    Q_EMIT idsCollected(action, m_query->ids(filter, 10'000'000), argument);
}

void ReaderWorker::exportJob(qint64 jobId, const QString &path)
{
    if (!ensureOpen()) {
        Q_EMIT exportFinished(jobId, path, false, u"cannot open the database"_s);
        return;
    }
    const qint64 total = m_store->taskCounts(jobId).total();
    QElapsedTimer sinceProgress;
    sinceProgress.start();
    QString error;
    const bool ok = bd::exportJob(*m_store, jobId, path, &error, [&](qint64 rows) {
        if (sinceProgress.elapsed() >= 100 || rows == total) {
            sinceProgress.restart();
            Q_EMIT exportProgressed(jobId, rows, total);
        }
    });
    if (ok)
        Q_EMIT exportProgressed(jobId, total, total);
    Q_EMIT exportFinished(jobId, path, ok, error);
}

void ReaderWorker::shutdown()
{
    m_query.reset();
    m_store.reset();
}

} // namespace bd
