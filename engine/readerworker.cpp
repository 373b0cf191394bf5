#include "readerworker.h"

#include "api/jobsettings.h"
#include "core/clock.h"
#include "cost/costreport.h"
#include "cost/estimator.h"
#include "dispatch/deadlineplanner.h"
#include "dispatch/globalbudget.h"
#include "jobcheck.h"
#include "jobio.h"
#include "metrics/metricsstore.h"
#include "samplecompare.h"
#include "store/database.h"
#include "store/store.h"
#include "store/taskreader.h"

#include <map>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFileInfo>

namespace bd {

using namespace Qt::StringLiterals;

void DiscardedTickets::add(const QList<quint64> &tickets)
{
    const QMutexLocker locker(&m_mutex);
    for (const quint64 ticket : tickets) {
        if (ticket > m_readUpTo)
            m_tickets.insert(ticket);
    }
}

bool DiscardedTickets::take(quint64 ticket)
{
    const QMutexLocker locker(&m_mutex);
    m_readUpTo = qMax(m_readUpTo, ticket);
    return m_tickets.remove(ticket);
}

ReaderWorker::ReaderWorker(const QString &databasePath, const QString &priceOverridePath,
                           std::shared_ptr<DiscardedTickets> discarded,
                           std::shared_ptr<std::atomic<qint64>> cancelledExport)
    : m_databasePath(databasePath)
    , m_priceOverridePath(priceOverridePath)
    , m_discarded(std::move(discarded))
    , m_cancelledExport(cancelledExport ? std::move(cancelledExport)
                                        : std::make_shared<std::atomic<qint64>>(0))
{
}

ReaderWorker::~ReaderWorker() = default;

bool ReaderWorker::ensureOpen(quint64 ticket)
{
    if (m_query && m_store)
        return reachable(ticket);
    if (!m_store) {
        QString error;
        m_database = store::Database::open(m_databasePath, store::Database::Access::ReadWrite, &error);
        if (!m_database) {
            Q_EMIT readFailed(ticket, error);
            return false;
        }
        m_store = &m_database->queue();
    }
    QString error;
    m_tasksDatabase = store::Database::open(m_databasePath, store::Database::Access::ReadOnly, &error);
    if (!m_tasksDatabase) {
        Q_EMIT readFailed(ticket, error);
        return false;
    }
    m_query = &m_tasksDatabase->tasks();
    return true;
}

QString ReaderWorker::unreachableText() const
{
    return u"database %1 unreachable — reconnecting"_s.arg(m_database->location());
}

bool ReaderWorker::reachable(quint64 ticket)
{
    const auto lost = [this] {
        return (m_database && m_database->connectionLost()) ||
               (m_tasksDatabase && m_tasksDatabase->connectionLost());
    };
    if (!lost())
        return true;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (now >= m_nextReconnectMs) {
        QString error;
        bool back = true;
        for (store::Database *database : {m_database.get(), m_tasksDatabase.get()}) {
            if (database && database->connectionLost() && !database->reconnect(&error))
                back = false;
        }
        if (back) {
            m_reconnectDelayMs = 0;
            return true;
        }
        m_reconnectDelayMs = std::clamp<qint64>(m_reconnectDelayMs * 2, 250, 8'000);
        m_nextReconnectMs = now + m_reconnectDelayMs;
    }
    Q_EMIT readFailed(ticket, unreachableText());
    return false;
}

bool ReaderWorker::damaged()
{
    for (const auto *database : {m_database.get(), m_tasksDatabase.get()}) {
        if (database && !database->damage().isEmpty()) {
            Q_EMIT readFailed(0, database->damage());
            return true;
        }
        // Lost while reading: what was read may be zeros.
        if (database && database->connectionLost()) {
            Q_EMIT readFailed(0, unreachableText());
            return true;
        }
    }
    return false;
}

void ReaderWorker::countTasks(quint64 ticket, const bd::TaskFilter &filter)
{
    if (discarded(ticket) || !ensureOpen(ticket))
        return;
    const auto n = m_query->count(filter);
    if (!n) {
        Q_EMIT readFailed(ticket, m_query->errorString());
        return;
    }
    Q_EMIT taskCountReady(ticket, *n);
}

void ReaderWorker::fetchTaskPage(quint64 ticket, const bd::TaskFilter &filter, qint64 offset,
                                 qint64 afterId, int limit, const bd::TaskOrder &order)
{
    if (discarded(ticket) || !ensureOpen(ticket))
        return;
    bool preparing = false;
    std::optional<QList<TaskRow>> rows;
    // A page in a key's order may be read over a job's sort index that another process
    // drops between the reader's check and its read (its cap on sort indexes, or the job
    // deleted): that read fails ("no such index"). Read again: the check then finds the
    // index gone and reads without it. A few times, as it may go again meanwhile.
    const int reads = order.isIdOrder() ? 1 : 3;
    for (int read = 0; read < reads && !rows; ++read) {
        // While a big job's sort index is built its pages come in task order (a sorted
        // page would read every key of the job: seconds over a million tasks).
        preparing =
            filter.isJobOnly() && !order.isIdOrder() && waitsForSortIndex(filter.jobId, order.key);
        rows = m_query->page(filter, offset, afterId, limit, preparing ? TaskOrder{} : order);
    }
    if (!rows) {
        Q_EMIT readFailed(ticket, m_query->errorString());
        return;
    }
    if (preparing)
        Q_EMIT taskSortPreparing(ticket, filter.jobId, order.key);
    Q_EMIT taskPageReady(ticket, offset, *rows);
}

bool ReaderWorker::waitsForSortIndex(qint64 jobId, bd::TaskSortKey key)
{
    if (m_sortIndexMinTasks <= 0 || store::taskordersql::sortIndexName(jobId, key).isEmpty())
        return false;
    const std::pair<qint64, int> wanted{jobId, int(key)};
    if (m_sortIndexesBuilding.contains(wanted))
        return true;
    if (m_sortIndexesRefused.contains(wanted))
        return false;
    if (m_query->hasSortIndex(jobId, key)) {
        if (m_lastSortIndexUsed != wanted) {
            m_lastSortIndexUsed = wanted;
            Q_EMIT sortIndexUsed(jobId, key);
        }
        return false;
    }
    TaskFilter job;
    job.jobId = jobId;
    const auto tasks = m_query->count(job);
    if (!tasks || *tasks < m_sortIndexMinTasks)
        return false;
    m_sortIndexesBuilding.insert(wanted);
    Q_EMIT sortIndexWanted(jobId, key);
    return true;
}

void ReaderWorker::sortIndexBuilt(qint64 jobId, bd::TaskSortKey key, const QString &error)
{
    const std::pair<qint64, int> built{jobId, int(key)};
    m_sortIndexesBuilding.remove(built);
    if (!error.isEmpty())
        m_sortIndexesRefused.insert(built);
    Q_EMIT taskSortReady(jobId, key, error);
}

void ReaderWorker::fetchTaskDetail(quint64 ticket, qint64 taskId)
{
    if (discarded(ticket) || !ensureOpen(ticket))
        return;
    if (auto detail = m_query->detail(taskId)) {
        if (const auto price = prices().price(detail->model))
            detail->pricedAs = price->family;
        Q_EMIT taskDetailReady(ticket, *detail);
    } else
        Q_EMIT readFailed(ticket, m_query->errorString());
}

void ReaderWorker::fetchDeadSummary(quint64 ticket, qint64 jobId)
{
    if (discarded(ticket) || !ensureOpen(ticket))
        return;
    Q_EMIT deadSummaryReady(ticket, jobId, m_query->deadByClass(jobId));
}

void ReaderWorker::listAlerts(bool includeCleared)
{
    if (!ensureOpen())
        return;
    const QList<AlertRecord> alerts = m_store->alerts(includeCleared);
    if (!damaged())
        Q_EMIT alertsListed(alerts);
}

void ReaderWorker::collectIds(TaskAction action, const bd::TaskFilter &filter, int argument)
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
    // One read of the job gives the export its columns and the progress its total.
    const std::optional<JobInfo> job = m_store->job(jobId);
    if (!job) {
        Q_EMIT exportFinished(jobId, path, false,
                              m_database->damage().isEmpty()
                                  ? noSuchJobText(jobId)
                                  : m_database->damage());
        return;
    }
    const qint64 total = job->counts.total();
    QElapsedTimer sinceProgress;
    sinceProgress.start();
    QString error;
    QStringList warnings;
    const bool ok = bd::exportJob(
        *m_store, *job, path, &error,
        [&](qint64 rows) {
            if (sinceProgress.elapsed() >= 100 || rows == total) {
                sinceProgress.restart();
                Q_EMIT exportProgressed(jobId, rows, total);
            }
        },
        [&] { return m_cancelledExport->load() == jobId; }, &warnings);
    if (!ok && !m_database->damage().isEmpty())
        error = m_database->damage();
    if (ok)
        Q_EMIT exportProgressed(jobId, total, total);
    if (ok && !warnings.isEmpty())
        Q_EMIT exportWarned(jobId, warnings);
    Q_EMIT exportFinished(jobId, path, ok, error);
}

void ReaderWorker::readSeries(quint64 ticket, const QString &metric, const QString &labels,
                              qint64 fromMs, qint64 toMs, int maxPoints)
{
    if (!ensureOpen(ticket))
        return;
    if (!m_metrics)
        m_metrics = m_database->metricsStore(SystemClock::instance());
    const metrics::MetricKind kind = metrics::metricKind(metric);
    const QMap<QString, QString> wanted = metrics::parseLabels(labels);
    metrics::SeriesData merged;
    merged.metric = metric;
    merged.labels = labels;
    merged.kind = kind;
    // Points of every matching label set, merged by time as the kind says.
    struct Sum
    {
        double value = 0;
        double weighted = 0;
        qint64 count = 0;
    };
    std::map<qint64, Sum> byTime;
    QStringList sets = m_metrics->labelSets(metric);
    // Asked for no labels where an unlabelled series (the total) is stored: that one alone.
    if (wanted.isEmpty() && sets.contains(QString()))
        sets = {QString()};
    for (const QString &set : std::as_const(sets)) {
        const QMap<QString, QString> have = metrics::parseLabels(set);
        bool matches = true;
        for (auto it = wanted.cbegin(); it != wanted.cend() && matches; ++it)
            matches = have.value(it.key()) == it.value();
        if (!matches)
            continue;
        const metrics::SeriesData data = m_metrics->series(metric, set, fromMs, toMs, maxPoints);
        merged.resolutionMs = qMax(merged.resolutionMs, data.resolutionMs);
        merged.bucketMs = qMax(merged.bucketMs, data.bucketMs);
        for (const metrics::MetricPoint &point : data.points) {
            Sum &sum = byTime[point.atMs];
            switch (kind) {
            case metrics::MetricKind::Counter:
            case metrics::MetricKind::Gauge:
                sum.value += point.value;
                break;
            case metrics::MetricKind::Ratio:
                sum.weighted += point.value * double(qMax<qint64>(1, point.count));
                break;
            case metrics::MetricKind::Quantile:
                sum.value = qMax(sum.value, point.value);
                break;
            }
            sum.count += qMax<qint64>(1, point.count);
        }
    }
    merged.points.reserve(qsizetype(byTime.size()));
    for (const auto &[atMs, sum] : byTime) {
        metrics::MetricPoint point;
        point.atMs = atMs;
        point.count = sum.count;
        point.value = kind == metrics::MetricKind::Ratio ? sum.weighted / double(sum.count) : sum.value;
        point.min = point.max = point.value;
        merged.points.append(point);
    }
    Q_EMIT seriesReady(ticket, merged);
}

const cost::PriceTable &ReaderWorker::prices()
{
    if (!m_prices) {
        m_prices = cost::PriceTable::builtIn();
        QString error;
        if (!m_priceOverridePath.isEmpty() && QFileInfo::exists(m_priceOverridePath)
            && !m_prices->mergeFile(m_priceOverridePath, &error))
            qWarning("price override ignored: %s", qPrintable(error));
    }
    return *m_prices;
}

void ReaderWorker::reloadPrices()
{
    m_prices.reset();
}

void ReaderWorker::checkJob(quint64 ticket, const JobDraft &draft)
{
    Q_EMIT jobChecked(ticket, checkJobDraft(draft));
}

void ReaderWorker::estimateJob(quint64 ticket, const JobSpec &spec)
{
    // An estimate never creates a database: without one there is no cache to consult.
    store::Store *store = nullptr;
    if (store::Database::exists(m_databasePath) && ensureOpen())
        store = m_store;
    JobSpec priced = spec;
    QString note;
    if (const QString top = topTierModel(spec, prices()); !top.isEmpty()) {
        priced.model = top;
        note = u"model tiering: estimated with every row on the top tier's model %1 (an upper bound)"_s.arg(top);
    }
    JobEstimate estimate;
    QString error;
    if (!cost::estimateJob(priced, prices(), store, &estimate, &error)) {
        Q_EMIT jobEstimated(ticket, JobEstimate{}, error);
        return;
    }
    estimate.model = priced.model;
    estimate.note = note;
    if (spec.settings.contains(settingkeys::deadlineMs)) {
        const qint64 deadline = spec.settings.value(settingkeys::deadlineMs).toInteger();
        const auto provider = providerInfo(spec.provider);
        const JobSettings settings = JobSettings::fromJson(spec.settings);
        const dispatch::DeadlinePlan plan = dispatch::planForDeadline(
            SystemClock::instance()->nowMs(), deadline, estimate.rowsToSend,
            provider && provider->hasBatchApi,
            dispatch::assumedSyncTasksPerSecond(settings.rpm.value_or(0),
                                                settings.concurrency.value_or(16)));
        estimate.deadline = JobEstimate::DeadlinePlan{deadline,          plan.batchApiTasks,
                                                      plan.syncTasks,    plan.meetsDeadline,
                                                      plan.priority,     plan.why};
    }
    Q_EMIT jobEstimated(ticket, estimate, QString());
}

void ReaderWorker::compareSamples(quint64 ticket, const QList<qint64> &jobIds)
{
    if (discarded(ticket))
        return;
    if (!ensureOpen(ticket)) {
        SampleComparison failed;
        failed.error = u"cannot open the database"_s;
        Q_EMIT samplesCompared(ticket, failed);
        return;
    }
    Q_EMIT samplesCompared(ticket, bd::compareSamples(*m_store, jobIds));
}

void ReaderWorker::listDeadTasks(quint64 ticket, qint64 jobId, qint64 afterTaskId, int limit)
{
    if (discarded(ticket))
        return;
    if (!ensureOpen(ticket)) {
        Q_EMIT deadTasksListed(ticket, jobId, {}, u"cannot open the database"_s);
        return;
    }
    const QList<DeadTask> tasks = m_store->deadTasks(jobId, limit, afterTaskId);
    Q_EMIT deadTasksListed(ticket, jobId, tasks, m_database->damage());
}

void ReaderWorker::listJobs()
{
    if (!ensureOpen())
        return;
    const QList<JobInfo> jobs = m_store->jobs();
    if (!damaged())
        Q_EMIT jobsListed(jobs);
}

void ReaderWorker::reportCost(qint64 jobId)
{
    if (!ensureOpen())
        return;
    const auto job = m_store->job(jobId);
    const QJsonObject report = job ? cost::costReport(*m_store, *job, prices()) : QJsonObject();
    if (!damaged())
        Q_EMIT costReportReady(jobId, report);
}

void ReaderWorker::readGlobalBudget()
{
    if (!ensureOpen())
        return;
    using dispatch::GlobalBudget;
    const double cap = m_store->setting(databasekeys::globalBudgetUsd).value_or(QString()).toDouble();
    const GlobalBudget::Period period =
        GlobalBudget::periodFromName(m_store->setting(databasekeys::globalBudgetPeriod).value_or(QString()))
            .value_or(GlobalBudget::Period::Month);
    const qint64 start = GlobalBudget::periodStartMs(period, SystemClock::instance()->nowMs());
    const double spent = m_store->spendSince(start);
    if (!damaged())
        Q_EMIT globalBudgetRead(cap, GlobalBudget::periodName(period), spent);
}

void ReaderWorker::checkDatabase()
{
    QString error;
    const auto problems = store::Database::integrityProblems(m_databasePath, &error);
    Q_EMIT databaseChecked(problems.value_or(QStringList()), error);
}

void ReaderWorker::shutdown()
{
    m_metrics.reset();
    m_query = nullptr;
    m_store = nullptr;
    m_tasksDatabase.reset();
    m_database.reset();
}

} // namespace bd
