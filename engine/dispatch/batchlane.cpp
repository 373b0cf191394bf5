#include "dispatch/batchlane.h"

#include "core/clock.h"
#include "core/crashpoint.h"
#include "dispatch/budgetgate.h"
#include "dispatch/retrypolicy.h"
#include "providers/batchplanner.h"
#include "store/store.h"
#include "store/workerregistry.h"

#include <QSet>
#include <QTimer>

namespace bd::dispatch {

using namespace Qt::StringLiterals;

namespace {

QString batchOwner(qint64 batchRowId)
{
    return u"batch:"_s + QString::number(batchRowId);
}

const QString kLane = u"batch-api"_s;

} // namespace

BatchLane::BatchLane(Host *host, store::Store *store, providers::Provider *provider, Clock *clock,
                     BudgetGate *budget, const Options &options, QObject *parent)
    : QObject(parent)
    , m_host(host)
    , m_store(store)
    , m_provider(provider)
    , m_clock(clock)
    , m_budget(budget)
    , m_options(options)
{
    connect(m_provider, &providers::Provider::batchSubmitted, this, &BatchLane::handleSubmitted);
    connect(m_provider, &providers::Provider::batchPolled, this, &BatchLane::handlePolled);
    connect(m_provider, &providers::Provider::batchFound, this, &BatchLane::handleFound);
    connect(m_provider, &providers::Provider::batchResultsFetched, this,
            &BatchLane::handleResults);
    connect(m_provider, &providers::Provider::batchCharged, this, &BatchLane::handleCharged);
}

void BatchLane::fail(const QString &error)
{
    m_host->laneFailed(error);
}

bool BatchLane::recover()
{
    const qint64 now = m_clock->nowMs();
    const QList<ProviderBatchRecord> open =
        m_store->batches(m_options.jobId, {u"assembling"_s, u"submitted"_s});
    for (const ProviderBatchRecord &record : open) {
        // Another live worker polls it: not ours to poll too (adopted if that one dies).
        if (m_registry
            && !m_registry->takeBatch(record.id, m_options.workerId, now - m_options.workerLeaseMs))
            continue;
        if (!adopt(record, now))
            return false;
    }
    return true;
}

int BatchLane::adoptOrphans()
{
    if (!m_registry)
        return 0;
    const qint64 now = m_clock->nowMs();
    const qint64 staleBefore = now - m_options.workerLeaseMs;
    const QList<qint64> orphans =
        m_registry->orphanedBatches(m_options.jobId, m_options.workerId, staleBefore);
    if (orphans.isEmpty())
        return 0;
    const QList<ProviderBatchRecord> open =
        m_store->batches(m_options.jobId, {u"assembling"_s, u"submitted"_s});
    for (const ProviderBatchRecord &record : open) {
        if (!orphans.contains(record.id) || m_live.contains(record.id)
            || !m_registry->takeBatch(record.id, m_options.workerId, staleBefore))
            continue;
        qInfo("job %lld: adopting provider batch %lld of a worker that stopped answering",
              m_options.jobId, record.id);
        if (!adopt(record, now))
            return -1;
    }
    return int(orphans.size());
}

bool BatchLane::adopt(const ProviderBatchRecord &record, qint64 now)
{
    Live batch;
    batch.rowId = record.id;
    batch.providerBatchId = record.providerBatchId;
    batch.owner = batchOwner(record.id);
    batch.submittedAtMs = record.updatedAtMs;
    for (const ClaimedTask &task : m_store->leasedTasksOfBatch(record.id)) {
        batch.tasks.insert(task.id, task);
        // The line as it was sent; for a tiered job the rules decide the same way again,
        // so the route is known after a restart.
        qint64 promptTokens = 0;
        std::optional<providers::ChatRequest> line = m_host->batchLine(task, &promptTokens);
        if (!line)
            return false;
        batch.lookup.append(std::move(*line));
    }
    if (record.state == u"assembling"_s || record.providerBatchId.isEmpty()) {
        // Interrupted between hand-over and the provider's answer: the provider may or
        // may not have it. Where the API can tell, look for the batch created with this
        // row's reference and exactly these lines, and adopt it (handleFound).
        if (!batch.tasks.isEmpty() && m_provider->canFindBatches()) {
            batch.createdAtMs = record.createdAtMs;
            batch.submittedAtMs = record.createdAtMs;
            m_live.insert(batch.rowId, batch);
            m_provider->findBatch(QString::number(batch.rowId), batch.lookup, batch.createdAtMs);
            return true;
        }
        // Without an id there is nothing to poll, so the lines go back.
        QList<TaskTransition> releases;
        for (const ClaimedTask &task : std::as_const(batch.tasks))
            releases.append(releaseUnsent(task.id, now));
        m_store->applyTransitions(batch.owner, releases, now);
        m_store->updateBatch(record.id, u"failed"_s, QString(), now);
        return true;
    }
    batch.lookup = {}; // only a batch whose id was lost is looked up by its lines
    if (batch.tasks.isEmpty()) {
        m_store->updateBatch(record.id, u"ended"_s, QString(), now);
        return true;
    }
    m_rowByProvider.insert(batch.providerBatchId, batch.rowId);
    m_live.insert(batch.rowId, batch);
    schedulePoll(batch.rowId);
    return true;
}

BatchLane::Sending BatchLane::send(const QList<ClaimedTask> &tasks, qint64 now)
{
    QList<providers::ChatRequest> requests;
    requests.reserve(tasks.size());
    double reservation = 0.0;
    QHash<qint64, double> reservationOf; // by task: a tiered job's batches split by model
    QList<TaskTransition> over;          // tasks the budget cannot cover yet
    Sending result;
    for (const ClaimedTask &task : tasks) {
        qint64 promptTokens = 0;
        std::optional<providers::ChatRequest> line = m_host->batchLine(task, &promptTokens);
        if (!line)
            return {Sent::Failed};
        QByteArray key;
        if (m_host->lineCoalesced(task, *line, &key))
            continue;
        const double cost = m_host->lineMaxCostUsd(line->model, promptTokens);
        if (!m_budget->allows(reservation + cost)) {
            result.refusedUsd = result.refusedUsd > 0 ? qMin(result.refusedUsd, cost) : cost;
            over.append(releaseUnsent(task.id, now));
            m_host->lineUnsent(task.id);
            continue;
        }
        reservation += cost;
        reservationOf.insert(task.id, cost);
        m_host->leadLine(key, task.id);
        requests.append(std::move(*line));
    }
    if (!over.isEmpty()) {
        if (!m_store->applyTransitions(m_options.workerId, over, now)) {
            fail(m_store->errorString());
            return {Sent::Failed};
        }
        m_host->linesReturned(int(over.size()));
    }
    if (requests.isEmpty()) {
        result.sent = over.isEmpty() ? Sent::Answered : Sent::OverBudget;
        return result;
    }
    QHash<qint64, ClaimedTask> taskById;
    for (const ClaimedTask &task : tasks)
        taskById.insert(task.id, task);
    const QList<QList<providers::ChatRequest>> perModel = providers::splitIntoBatches(
        requests, {}, [](const providers::ChatRequest &) { return qint64(0); });
    for (const QList<providers::ChatRequest> &part : perModel) {
        double partReservation = 0.0;
        for (const providers::ChatRequest &request : part)
            partReservation += reservationOf.value(request.taskId);
        if (!open(part, taskById, partReservation))
            return {Sent::Failed};
    }
    return result;
}

bool BatchLane::open(const QList<providers::ChatRequest> &requests,
                     const QHash<qint64, ClaimedTask> &tasks, double reservation)
{
    const qint64 now = m_clock->nowMs();
    // Record the batch and hand its lines over before the provider hears of it.
    const qint64 rowId = m_store->createBatch(m_options.jobId, m_provider->id(), kLane,
                                              int(requests.size()), m_options.maxBatchSize,
                                              u"assembling"_s, now);
    if (!rowId) {
        fail(m_store->errorString());
        return false;
    }
    // This worker polls it; created moments ago, it is nobody's orphan meanwhile.
    if (m_registry
        && !m_registry->takeBatch(rowId, m_options.workerId, now - m_options.workerLeaseMs))
        qWarning("job %lld: provider batch %lld not recorded as this worker's: %s",
                 m_options.jobId, rowId, qPrintable(m_registry->errorString()));
    crashPoint("batch.row-created");
    Live batch;
    batch.rowId = rowId;
    batch.owner = batchOwner(rowId);
    batch.submittedAtMs = now;
    batch.reservedUsd = reservation;
    QList<qint64> ids;
    for (const providers::ChatRequest &request : requests) {
        batch.tasks.insert(request.taskId, tasks.value(request.taskId));
        ids.append(request.taskId);
    }
    if (m_store->assignTasksToBatch(rowId, m_options.workerId, ids, batch.owner,
                                    now + m_options.batchLeaseMs) < 0) {
        fail(m_store->errorString());
        return false;
    }
    crashPoint("batch.tasks-handed-over");
    m_budget->reserve(reservation);
    m_host->batchOpened(int(requests.size()), m_options.maxBatchSize);
    m_live.insert(rowId, batch);
    m_provider->submitBatch(QString::number(rowId), requests);
    return true;
}

void BatchLane::failLines(qint64 rowId, ErrorClass error, const QString &message)
{
    QList<providers::ChatReply> replies;
    for (const ClaimedTask &task : std::as_const(m_live[rowId].tasks)) {
        providers::ChatReply reply;
        reply.taskId = task.id;
        reply.error = error;
        reply.errorMessage = message;
        replies.append(reply);
    }
    settle(rowId, replies, u"failed"_s);
}

void BatchLane::handleSubmitted(const QString &reference, const QString &batchId,
                                ErrorClass error, const QString &errorMessage)
{
    const qint64 rowId = reference.toLongLong();
    auto it = m_live.find(rowId);
    if (it == m_live.end())
        return;
    crashPoint("batch.created-id-unstored");
    const qint64 now = m_clock->nowMs();
    if (isOutageError(error)) {
        endpointFailed(rowId, u"batch not accepted: "_s + errorMessage);
        return;
    }
    if (error != ErrorClass::None) {
        // Refused as a whole for the batch's own reasons (validation, enqueued-token
        // limit): every line gets the batch's answer as its own.
        failLines(rowId, error, u"batch not accepted: "_s + errorMessage);
        return;
    }
    m_host->batchEndpointAnswered();
    it->providerBatchId = batchId;
    it->submittedAtMs = now;
    m_rowByProvider.insert(batchId, rowId);
    if (!m_store->updateBatch(rowId, u"submitted"_s, batchId, now)) {
        fail(m_store->errorString());
        return;
    }
    crashPoint("batch.id-stored");
    schedulePoll(rowId);
}

void BatchLane::handleFound(const QString &reference, const QString &batchId, ErrorClass error,
                            const QString &errorMessage)
{
    const qint64 rowId = reference.toLongLong();
    auto it = m_live.find(rowId);
    if (it == m_live.end() || !it->providerBatchId.isEmpty())
        return;
    if (error != ErrorClass::None) {
        // The list could not be read (outage, 429): ask again a few times; after that the
        // lines are sent again, as they were before lookups existed.
        if (++it->lookups < 4) {
            const qint64 delay =
                providers::batchPollDelayMs(it->lookups - 1, m_options.pollFirstMs);
            QTimer::singleShot(int(delay), this, [this, rowId] {
                const auto again = m_live.constFind(rowId);
                if (m_host->laneRunning() && again != m_live.cend()
                    && again->providerBatchId.isEmpty())
                    m_provider->findBatch(QString::number(rowId), again->lookup,
                                          again->createdAtMs);
            });
            return;
        }
        qWarning("job %lld: batch %lld not found at the provider (%s); submitting its lines again",
                 m_options.jobId, rowId, qPrintable(errorMessage));
    }
    if (batchId.isEmpty() || error != ErrorClass::None) {
        handBack(rowId);
        return;
    }
    it->providerBatchId = batchId;
    it->lookup.clear();
    m_rowByProvider.insert(batchId, rowId);
    if (!m_store->updateBatch(rowId, u"submitted"_s, batchId, m_clock->nowMs())) {
        fail(m_store->errorString());
        return;
    }
    schedulePoll(rowId);
}

void BatchLane::handBack(qint64 rowId)
{
    const Live batch = m_live.take(rowId);
    const qint64 now = m_clock->nowMs();
    QList<TaskTransition> releases;
    releases.reserve(batch.tasks.size());
    for (const ClaimedTask &task : batch.tasks) {
        releases.append(releaseUnsent(task.id, now));
        // No longer the leader of its response-cache key: sent again, it must lead again
        // rather than wait for itself; its duplicates go back with it.
        m_host->lineHandedBack(releases.constLast());
    }
    if (!m_store->applyTransitions(batch.owner, releases, now)) {
        fail(m_store->errorString());
        return;
    }
    m_store->updateBatch(rowId, u"failed"_s, QString(), now);
    m_host->linesReturned(int(batch.tasks.size()));
    m_host->batchClosed(false);
}

void BatchLane::endpointFailed(qint64 rowId, const QString &why)
{
    m_host->batchEndpointFailed(why);
    const auto it = m_live.constFind(rowId);
    if (it == m_live.cend())
        return;
    qWarning("job %lld: batch %lld handed back uncharged (%s)", m_options.jobId, rowId,
             qPrintable(why));
    m_rowByProvider.remove(it->providerBatchId);
    m_budget->release(it->reservedUsd);
    handBack(rowId);
}

void BatchLane::schedulePoll(qint64 rowId)
{
    auto it = m_live.find(rowId);
    if (it == m_live.end())
        return;
    const qint64 delay = providers::batchPollDelayMs(
        it->polls++, m_options.pollFirstMs, qMax<qint64>(m_options.pollFirstMs, m_options.pollMaxMs));
    const QString providerId = it->providerBatchId;
    QTimer::singleShot(int(delay), this, [this, providerId] {
        if (m_host->laneRunning() && m_rowByProvider.contains(providerId))
            m_provider->pollBatch(providerId);
    });
}

void BatchLane::handlePolled(const providers::BatchStatus &status)
{
    const qint64 rowId = m_rowByProvider.value(status.batchId);
    auto it = m_live.find(rowId);
    if (it == m_live.end())
        return;
    switch (status.phase) {
    case providers::BatchPhase::Pending:
        schedulePoll(rowId); // also after a failed poll (a 404 right after create)
        return;
    case providers::BatchPhase::Ended:
        crashPoint("batch.polled-ended");
        if (!it->fetching) {
            it->fetching = true;
            m_provider->fetchBatchResults(status.batchId, it->tasks.keys());
        }
        return;
    case providers::BatchPhase::Failed:
        if (isOutageError(status.error)) {
            // Failed without a word about its lines: the provider's trouble, not theirs.
            endpointFailed(rowId, u"batch %1 failed: %2"_s.arg(status.batchId, status.errorMessage));
            return;
        }
        failLines(rowId, status.error == ErrorClass::None ? ErrorClass::ServerError : status.error,
                  u"batch %1 failed: %2"_s.arg(status.batchId, status.errorMessage));
        return;
    }
}

void BatchLane::handleResults(const QString &batchId, const QList<providers::ChatReply> &replies,
                              ErrorClass error, const QString &errorMessage)
{
    const qint64 rowId = m_rowByProvider.value(batchId);
    auto it = m_live.find(rowId);
    if (it == m_live.end())
        return;
    if (error != ErrorClass::None) {
        // The download failed; the results are still there: poll again later.
        qWarning("job %lld: results of batch %s not fetched (%s); retrying", m_options.jobId,
                 qPrintable(batchId), qPrintable(errorMessage));
        it->fetching = false;
        schedulePoll(rowId);
        return;
    }
    crashPoint("batch.results-fetched");
    settle(rowId, replies, u"ended"_s);
}

void BatchLane::handleCharged(const QString &key, const QString &model, double usd,
                              const QString &detail)
{
    // Durable at once and counted once per key: the job's cost and the spend ledger hold it
    // whatever becomes of the batch's lines, and a report repeated after a restart adds
    // nothing.
    store::JobCharge charge;
    charge.key = key;
    charge.kind = u"explicit_cache"_s;
    charge.model = model;
    charge.usd = usd;
    charge.detail = detail;
    double delta = 0.0;
    if (!m_store->recordJobCharge(m_options.jobId, charge, m_clock->nowMs(), &delta)) {
        qWarning("job %lld: charge %s ($%.6f) not recorded: %s", m_options.jobId,
                 qPrintable(key), usd, qPrintable(m_store->errorString()));
        return;
    }
    m_budget->charged(delta);
    m_host->chargeRecorded();
}

void BatchLane::cancelAll()
{
    const qint64 now = m_clock->nowMs();
    const QList<Live> batches = m_live.values();
    m_live.clear();
    m_rowByProvider.clear();
    for (const Live &batch : batches) {
        // Lines the provider already finished are still billed (as with expiry); what it
        // has not started is not. The answers are not fetched: the user cancelled the job.
        if (!batch.providerBatchId.isEmpty())
            m_provider->cancelBatch(batch.providerBatchId);
        QList<TaskTransition> releases;
        releases.reserve(batch.tasks.size());
        for (const ClaimedTask &task : batch.tasks)
            releases.append(releaseUnsent(task.id, now));
        if (!m_store->applyTransitions(batch.owner, releases, now))
            qWarning("job %lld: tasks of batch %lld not handed back: %s", m_options.jobId,
                     batch.rowId, qPrintable(m_store->errorString()));
        m_store->updateBatch(batch.rowId, u"cancelled"_s, QString(), now);
        m_budget->release(batch.reservedUsd);
        m_host->linesReturned(int(batch.tasks.size()));
    }
}

void BatchLane::settle(qint64 rowId, const QList<providers::ChatReply> &replies,
                       const QString &endState)
{
    const Live batch = m_live.take(rowId);
    m_rowByProvider.remove(batch.providerBatchId);
    m_budget->release(batch.reservedUsd);

    QList<TaskTransition> transitions;
    transitions.reserve(batch.tasks.size());
    QSet<qint64> answered;
    for (const providers::ChatReply &reply : replies) {
        const auto task = batch.tasks.constFind(reply.taskId);
        if (task == batch.tasks.constEnd() || answered.contains(reply.taskId))
            continue; // not ours, or a duplicate line: the first answer counts
        answered.insert(reply.taskId);
        transitions.append(m_host->settleLine(*task, reply, batch.submittedAtMs));
    }
    // A line the provider never returned is treated like an expired one.
    for (const ClaimedTask &task : batch.tasks) {
        if (answered.contains(task.id))
            continue;
        providers::ChatReply missing;
        missing.taskId = task.id;
        missing.error = ErrorClass::Timeout;
        missing.errorMessage =
            u"no result line for this task in batch %1"_s.arg(batch.providerBatchId);
        transitions.append(m_host->settleLine(task, missing, batch.submittedAtMs));
    }
    int skipped = 0;
    if (!m_store->applyTransitions(batch.owner, transitions, m_clock->nowMs(), &skipped)) {
        fail(m_store->errorString());
        return;
    }
    m_host->linesWritten(transitions, skipped); // settled above: stored now, not counted twice
    crashPoint("batch.results-stored");
    // Only now: a batch marked ended with its results unstored would leave its lines
    // leased to it, which no restart looks at again. The other way round, a restart finds
    // the batch open with none of its lines left and closes it.
    m_store->updateBatch(rowId, endState, QString(), m_clock->nowMs());
    m_host->batchClosed(true);
}

} // namespace bd::dispatch
