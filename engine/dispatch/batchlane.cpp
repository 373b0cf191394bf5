// The batch-API lane of JobRunner: tasks go to the provider as batch jobs (half price,
// results within 24 h). The provider's batch id is stored the moment it exists, and the
// tasks stay leased under the batch's own owner name while the provider holds them, so a
// restarted engine polls the batch instead of submitting its tasks again.

#include "jobrunner.h"

#include "core/clock.h"
#include "core/crashpoint.h"
#include "providers/batchplanner.h"
#include "metrics/metricsrecorder.h"
#include "store/store.h"
#include "store/workerregistry.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

namespace {

QString batchOwner(qint64 batchRowId)
{
    return u"batch:"_s + QString::number(batchRowId);
}

const QString kLane = u"batch-api"_s;

} // namespace

void JobRunner::recoverBatches()
{
    const qint64 now = m_clock->nowMs();
    const QList<ProviderBatchRecord> open =
        m_store->batches(m_job.id, {u"assembling"_s, u"submitted"_s});
    for (const ProviderBatchRecord &record : open) {
        // Another live worker polls it: not ours to poll too (adopted if that one dies).
        if (m_registry && !m_registry->takeBatch(record.id, m_workerId, now - m_options.leaseMs))
            continue;
        if (!adoptBatch(record, now))
            return;
    }
    m_counts = m_store->taskCounts(m_job.id);
}

void JobRunner::adoptOrphanedBatches()
{
    if (!m_running || !m_registry || !m_provider->hasBatchApi())
        return;
    const qint64 now = m_clock->nowMs();
    const QList<qint64> orphans = m_registry->orphanedBatches(m_job.id, m_workerId, now - m_options.leaseMs);
    if (orphans.isEmpty())
        return;
    const QList<ProviderBatchRecord> open =
        m_store->batches(m_job.id, {u"assembling"_s, u"submitted"_s});
    for (const ProviderBatchRecord &record : open) {
        if (!orphans.contains(record.id) || m_liveBatches.contains(record.id)
            || !m_registry->takeBatch(record.id, m_workerId, now - m_options.leaseMs))
            continue;
        qInfo("job %lld: adopting provider batch %lld of a worker that stopped answering",
              m_job.id, record.id);
        if (!adoptBatch(record, now))
            return;
    }
    m_counts = m_store->taskCounts(m_job.id);
}

bool JobRunner::adoptBatch(const ProviderBatchRecord &record, qint64 now)
{
    LiveBatch batch;
    batch.rowId = record.id;
    batch.providerBatchId = record.providerBatchId;
    batch.owner = batchOwner(record.id);
    batch.submittedAtMs = record.updatedAtMs;
    for (const ClaimedTask &task : m_store->leasedTasksOfBatch(record.id)) {
        batch.tasks.insert(task.id, task);
        // The line as it was sent; for a tiered job the rules decide the same way again,
        // so the route is known after a restart.
        qint64 promptTokens = 0;
        std::optional<providers::ChatRequest> line = batchRequestFor(task, &promptTokens);
        if (!line)
            return false;
        batch.lookup.append(std::move(*line));
    }
    if (record.state == u"assembling"_s || record.providerBatchId.isEmpty()) {
        // Interrupted between hand-over and the provider's answer: the provider may or
        // may not have it. Where the API can tell, look for the batch created with this
        // row's reference and exactly these lines, and adopt it (handleBatchFound).
        if (!batch.tasks.isEmpty() && m_provider->canFindBatches()) {
            batch.createdAtMs = record.createdAtMs;
            batch.submittedAtMs = record.createdAtMs;
            m_liveBatches.insert(batch.rowId, batch);
            m_provider->findBatch(QString::number(batch.rowId), batch.lookup,
                                  batch.createdAtMs);
            return true;
        }
        // Without an id there is nothing to poll, so the tasks go back.
        QList<TaskTransition> releases;
        for (const ClaimedTask &task : std::as_const(batch.tasks)) {
            const TaskTransition release = releaseUnsent(task.id, now);
            releases.append(release);
        }
        m_store->applyTransitions(batch.owner, releases, now);
        m_store->updateBatch(record.id, u"failed"_s, QString(), now);
        return true;
    }
    batch.lookup = {}; // only a batch whose id was lost is looked up by its lines
    if (batch.tasks.isEmpty()) {
        m_store->updateBatch(record.id, u"ended"_s, QString(), now);
        return true;
    }
    m_batchRowByProviderId.insert(batch.providerBatchId, batch.rowId);
    m_liveBatches.insert(batch.rowId, batch);
    schedulePoll(batch.rowId);
    return true;
}

void JobRunner::pumpBatches()
{
    const qint64 now = m_clock->nowMs();
    if (m_held)
        return; // the lane is paused: open batches go on at the provider, no new ones
    if (m_claimRaised) {
        claimRaised(now);
        if (!m_running)
            return;
    }
    while (m_liveBatches.size() < m_options.maxConcurrentBatches) {
        // Assemble one batch: it closes when it is full, when it has waited its maximum, or
        // when nothing else of the job is pending. Claims go in slices of at most 4,096.
        bool exhausted = false;
        if (m_assembly.isEmpty()) {
            m_assemblyMax = m_options.maxBatchSize;
            m_assemblyOpenedAtMs = now;
        }
        while (m_assembly.size() < m_assemblyMax) {
            const int want = qMin(m_assemblyMax - int(m_assembly.size()), 4'096);
            QList<ClaimedTask> claimed;
            if (!m_store->claimTasks(m_job.id, m_workerId, want, now, now + m_options.leaseMs,
                                     &claimed)) {
                fatal(m_store->errorString());
                return;
            }
            m_counts.pending -= claimed.size();
            m_counts.leased += claimed.size();
            for (ClaimedTask &task : claimed) {
                // Raised above the job on their own: sync calls now, not 24 h away.
                if (task.priority < m_job.spec.priority)
                    m_ready.enqueue(std::move(task));
                else
                    m_assembly.append(std::move(task));
            }
            if (claimed.size() < want) {
                exhausted = true;
                break;
            }
        }
        if (m_assembly.isEmpty())
            break;
        const qint64 waited = now - m_assemblyOpenedAtMs;
        if (m_assembly.size() < m_assemblyMax && waited < m_batchMaxWaitMs && m_counts.pending > 0) {
            // Still filling: come back when the wait is over (or sooner, for new arrivals).
            m_wakeTimer.start(int(qBound<qint64>(1, m_batchMaxWaitMs - waited, m_options.idlePollMs)));
            emitProgress(false);
            return;
        }
        // The batch endpoints are down: the closed batch waits, claimed, for the breaker's
        // next probe (a half-open breaker lets one batch through).
        CircuitBreaker &breaker = m_router.guardFor(m_job.spec.model).batchBreaker;
        if (!breaker.allowRequest(now)) {
            m_wakeTimer.start(int(qBound<qint64>(1, breaker.waitMs(now), m_options.idlePollMs)));
            emitProgress(false);
            return;
        }
        const QList<ClaimedTask> tasks = std::exchange(m_assembly, {});

        QList<providers::ChatRequest> requests;
        requests.reserve(tasks.size());
        double reservation = 0.0;
        QHash<qint64, double> reservationOf; // by task: a tiered job's batches split by model
        QList<TaskTransition> over; // tasks the budget cannot cover yet
        double refusedUsd = 0.0;        // the cheapest line the budget could not cover
        for (const ClaimedTask &task : std::as_const(tasks)) {
            qint64 promptTokens = 0;
            std::optional<providers::ChatRequest> line = batchRequestFor(task, &promptTokens);
            if (!line)
                return;
            providers::ChatRequest request = std::move(*line);
            QByteArray cacheKey;
            if (m_cache.isEnabled()) {
                cacheKey = cacheKeyFor(request.prompt, request.model, request.systemPrompt);
                if (coalesce(cacheKey, task))
                    continue;
            }
            const double cost = maxCostUsd(request.model, promptTokens, true);
            if (!m_budget.allows(reservation + cost)) {
                refusedUsd = refusedUsd > 0 ? qMin(refusedUsd, cost) : cost;
                const TaskTransition release = releaseUnsent(task.id, now);
                over.append(release);
                m_router.forget(task.id);
                continue;
            }
            reservation += cost;
            reservationOf.insert(task.id, cost);
            m_cache.lead(cacheKey, task.id);
            requests.append(std::move(request));
        }
        if (!over.isEmpty()) {
            m_store->applyTransitions(m_workerId, over, now);
            m_counts.pending += over.size();
            m_counts.leased -= over.size();
        }
        if (requests.isEmpty() && over.isEmpty()) {
            // Everything claimed was answered from the cache or waits for a leader.
            flush();
            if (exhausted)
                break;
            continue;
        }
        if (requests.isEmpty()) {
            budgetRefused(refusedUsd, !m_liveBatches.isEmpty());
            return;
        }

        // One model per provider batch: a tiered job's lines go out as a batch per model.
        QHash<qint64, ClaimedTask> taskById;
        for (const ClaimedTask &task : std::as_const(tasks))
            taskById.insert(task.id, task);
        const QList<QList<providers::ChatRequest>> perModel = providers::splitIntoBatches(
            requests, {}, [](const providers::ChatRequest &) { return qint64(0); });
        for (const QList<providers::ChatRequest> &part : perModel) {
            double partReservation = 0.0;
            for (const providers::ChatRequest &request : part)
                partReservation += reservationOf.value(request.taskId);
            if (!openBatch(part, taskById, partReservation, now))
                return;
        }
        emitProgress(false);
        if (exhausted)
            break;
    }
    if (m_liveBatches.isEmpty() && m_assembly.isEmpty())
        checkIdle();
    else if (m_counts.pending > 0)
        m_wakeTimer.start(int(m_options.idlePollMs)); // retries that come due
}

void JobRunner::claimRaised(qint64 now)
{
    // Claims come best priority first, so raised tasks are at the head: slices are taken
    // until one holds a task at the job's own priority. Those join the batch being assembled when a batch
    // slot is free, else go back uncharged.
    m_claimRaised = false;
    constexpr int kSlice = 64;
    const bool batchSlotFree = m_liveBatches.size() < m_options.maxConcurrentBatches;
    for (;;) {
        QList<ClaimedTask> claimed;
        if (!m_store->claimTasks(m_job.id, m_workerId, kSlice, now, now + m_options.leaseMs,
                                 &claimed)) {
            fatal(m_store->errorString());
            return;
        }
        m_counts.pending -= claimed.size();
        m_counts.leased += claimed.size();
        bool reachedBulk = false;
        for (ClaimedTask &task : claimed) {
            if (task.priority < m_job.spec.priority) {
                m_ready.enqueue(std::move(task));
                continue;
            }
            reachedBulk = true;
            if (m_assembly.isEmpty()) {
                m_assemblyMax = m_options.maxBatchSize;
                m_assemblyOpenedAtMs = now;
            }
            if (batchSlotFree && m_assembly.size() < m_assemblyMax) {
                m_assembly.append(std::move(task));
                continue;
            }
            m_toWrite.append(releaseUnsent(task.id, now));
            m_counts.leased -= 1;
            m_counts.pending += 1;
        }
        if (reachedBulk || claimed.size() < kSlice)
            break;
    }
    if (!m_toWrite.isEmpty())
        flush();
}

std::optional<providers::ChatRequest> JobRunner::batchRequestFor(const ClaimedTask &task,
                                                                 qint64 *promptTokens)
{
    const TemplateRevision *revision = templateFor(task.templateRevision);
    if (!revision)
        return std::nullopt;
    providers::ChatRequest request;
    request.taskId = task.id;
    request.attempt = task.attempts + 1;
    request.systemPrompt = revision->systemPrompt;
    request.prompt = revision->prompt.render(task.values);
    *promptTokens = (request.systemPrompt.size() + request.prompt.size() + 3) / 4;
    request.model = m_router.route(task, request.prompt, *promptTokens); // the job's, or its tier's
    request.maxOutputTokens = m_job.spec.maxOutputTokens;
    request.cacheKey = u"batchdesk-job-"_s + QString::number(m_job.id);
    request.outputSchema = m_outputSchema;
    return request;
}

bool JobRunner::openBatch(const QList<providers::ChatRequest> &requests,
                          const QHash<qint64, ClaimedTask> &tasks, double reservation, qint64 now)
{
    // Record the batch and hand its tasks over before the provider hears of it.
    const qint64 rowId = m_store->createBatch(m_job.id, m_provider->id(), kLane,
                                              int(requests.size()), m_options.maxBatchSize,
                                              u"assembling"_s, now);
    if (!rowId) {
        fatal(m_store->errorString());
        return false;
    }
    // This worker polls it; created moments ago, it is nobody's orphan meanwhile.
    if (m_registry && !m_registry->takeBatch(rowId, m_workerId, now - m_options.leaseMs))
        qWarning("job %lld: provider batch %lld not recorded as this worker's: %s", m_job.id,
                 rowId, qPrintable(m_registry->errorString()));
    crashPoint("batch.row-created");
    LiveBatch batch;
    batch.rowId = rowId;
    batch.owner = batchOwner(rowId);
    batch.submittedAtMs = now;
    batch.reservedUsd = reservation;
    QList<qint64> ids;
    for (const providers::ChatRequest &request : requests) {
        batch.tasks.insert(request.taskId, tasks.value(request.taskId));
        ids.append(request.taskId);
    }
    if (m_store->assignTasksToBatch(rowId, m_workerId, ids, batch.owner,
                                    now + m_options.batchLeaseMs) < 0) {
        fatal(m_store->errorString());
        return false;
    }
    crashPoint("batch.tasks-handed-over");
    m_budget.reserve(reservation);
    if (m_metrics)
        m_metrics->recordBatch(m_laneName, int(requests.size()), m_options.maxBatchSize);
    m_liveBatches.insert(rowId, batch);
    m_provider->submitBatch(QString::number(rowId), requests);
    return true;
}

void JobRunner::handleBatchSubmitted(const QString &reference, const QString &batchId,
                                     ErrorClass error, const QString &errorMessage)
{
    const qint64 rowId = reference.toLongLong();
    auto it = m_liveBatches.find(rowId);
    if (it == m_liveBatches.end())
        return;
    crashPoint("batch.created-id-unstored");
    const qint64 now = m_clock->nowMs();
    if (isOutageError(error)) {
        batchEndpointFailed(rowId, u"batch not accepted: "_s + errorMessage);
        return;
    }
    if (error != ErrorClass::None) {
        // Refused as a whole for the batch's own reasons (validation, enqueued-token
        // limit): every line gets the batch's answer as its own.
        QList<providers::ChatReply> replies;
        for (const ClaimedTask &task : std::as_const(it->tasks)) {
            providers::ChatReply reply;
            reply.taskId = task.id;
            reply.error = error;
            reply.errorMessage = u"batch not accepted: "_s + errorMessage;
            replies.append(reply);
        }
        settleBatch(rowId, replies, u"failed"_s);
        return;
    }
    recordRecovery(m_router.guardFor(m_job.spec.model).batchBreaker, now);
    it->providerBatchId = batchId;
    it->submittedAtMs = now;
    m_batchRowByProviderId.insert(batchId, rowId);
    if (!m_store->updateBatch(rowId, u"submitted"_s, batchId, now)) {
        fatal(m_store->errorString());
        return;
    }
    crashPoint("batch.id-stored");
    schedulePoll(rowId);
}

void JobRunner::handleBatchFound(const QString &reference, const QString &batchId, ErrorClass error,
                                 const QString &errorMessage)
{
    const qint64 rowId = reference.toLongLong();
    auto it = m_liveBatches.find(rowId);
    if (it == m_liveBatches.end() || !it->providerBatchId.isEmpty())
        return;
    if (error != ErrorClass::None) {
        // The list could not be read (outage, 429): ask again a few times; after that the
        // lines are sent again, as they were before lookups existed.
        if (++it->lookups < 4) {
            const qint64 delay =
                providers::batchPollDelayMs(it->lookups - 1, m_options.batchPollFirstMs);
            QTimer::singleShot(int(delay), this, [this, rowId] {
                const auto again = m_liveBatches.constFind(rowId);
                if (m_running && again != m_liveBatches.cend() && again->providerBatchId.isEmpty())
                    m_provider->findBatch(QString::number(rowId), again->lookup,
                                          again->createdAtMs);
            });
            return;
        }
        qWarning("job %lld: batch %lld not found at the provider (%s); submitting its tasks again",
                 m_job.id, rowId, qPrintable(errorMessage));
    }
    if (batchId.isEmpty() || error != ErrorClass::None) {
        handBackUnsubmitted(rowId);
        return;
    }
    it->providerBatchId = batchId;
    it->lookup.clear();
    m_batchRowByProviderId.insert(batchId, rowId);
    if (!m_store->updateBatch(rowId, u"submitted"_s, batchId, m_clock->nowMs())) {
        fatal(m_store->errorString());
        return;
    }
    schedulePoll(rowId);
}

void JobRunner::handBackUnsubmitted(qint64 batchRowId)
{
    const LiveBatch batch = m_liveBatches.take(batchRowId);
    const qint64 now = m_clock->nowMs();
    QList<TaskTransition> releases;
    releases.reserve(batch.tasks.size());
    for (const ClaimedTask &task : batch.tasks) {
        releases.append(releaseUnsent(task.id, now));
        // No longer the leader of its response-cache key: sent again, it must lead again
        // rather than wait for itself; its duplicates go back with it.
        resolveFollowers(task.id, releases.constLast());
    }
    if (!m_store->applyTransitions(batch.owner, releases, now)) {
        fatal(m_store->errorString());
        return;
    }
    m_store->updateBatch(batchRowId, u"failed"_s, QString(), now);
    m_counts.leased -= batch.tasks.size();
    m_counts.pending += batch.tasks.size();
    pump();
}

void JobRunner::batchEndpointFailed(qint64 batchRowId, const QString &why)
{
    const qint64 now = m_clock->nowMs();
    recordOutage(m_router.guardFor(m_job.spec.model).batchBreaker, why, now);
    const auto it = m_liveBatches.constFind(batchRowId);
    if (it == m_liveBatches.cend())
        return;
    qWarning("job %lld: batch %lld handed back uncharged (%s)", m_job.id, batchRowId,
             qPrintable(why));
    m_batchRowByProviderId.remove(it->providerBatchId);
    m_budget.release(it->reservedUsd);
    handBackUnsubmitted(batchRowId);
}

void JobRunner::schedulePoll(qint64 batchRowId)
{
    auto it = m_liveBatches.find(batchRowId);
    if (it == m_liveBatches.end())
        return;
    const qint64 delay = providers::batchPollDelayMs(it->polls++, m_options.batchPollFirstMs,
                                                     qMax<qint64>(m_options.batchPollFirstMs, 300'000));
    const QString providerId = it->providerBatchId;
    QTimer::singleShot(int(delay), this, [this, providerId] {
        if (m_running && m_batchRowByProviderId.contains(providerId))
            m_provider->pollBatch(providerId);
    });
}

void JobRunner::handleBatchPolled(const providers::BatchStatus &status)
{
    const qint64 rowId = m_batchRowByProviderId.value(status.batchId);
    auto it = m_liveBatches.find(rowId);
    if (it == m_liveBatches.end())
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
    case providers::BatchPhase::Failed: {
        if (isOutageError(status.error)) {
            // Failed without a word about its lines: the provider's trouble, not theirs.
            batchEndpointFailed(rowId,
                                u"batch %1 failed: %2"_s.arg(status.batchId, status.errorMessage));
            return;
        }
        QList<providers::ChatReply> replies;
        for (const ClaimedTask &task : std::as_const(it->tasks)) {
            providers::ChatReply reply;
            reply.taskId = task.id;
            reply.error = status.error == ErrorClass::None ? ErrorClass::ServerError : status.error;
            reply.errorMessage = u"batch %1 failed: %2"_s.arg(status.batchId, status.errorMessage);
            replies.append(reply);
        }
        settleBatch(rowId, replies, u"failed"_s);
        return;
    }
    }
}

void JobRunner::handleBatchResults(const QString &batchId, const QList<providers::ChatReply> &replies,
                                   ErrorClass error, const QString &errorMessage)
{
    const qint64 rowId = m_batchRowByProviderId.value(batchId);
    auto it = m_liveBatches.find(rowId);
    if (it == m_liveBatches.end())
        return;
    if (error != ErrorClass::None) {
        // The download failed; the results are still there: poll again later.
        qWarning("job %lld: results of batch %s not fetched (%s); retrying", m_job.id,
                 qPrintable(batchId), qPrintable(errorMessage));
        it->fetching = false;
        schedulePoll(rowId);
        return;
    }
    crashPoint("batch.results-fetched");
    settleBatch(rowId, replies, u"ended"_s);
}

void JobRunner::handleBatchCharged(const QString &key, const QString &model, double usd,
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
    if (!m_store->recordJobCharge(m_job.id, charge, m_clock->nowMs(), &delta)) {
        qWarning("job %lld: charge %s ($%.6f) not recorded: %s", m_job.id, qPrintable(key), usd,
                 qPrintable(m_store->errorString()));
        return;
    }
    m_budget.charged(delta);
    emitProgress(true);
}

void JobRunner::cancelBatches()
{
    const qint64 now = m_clock->nowMs();
    const QList<LiveBatch> batches = m_liveBatches.values();
    m_liveBatches.clear();
    m_batchRowByProviderId.clear();
    for (const LiveBatch &batch : batches) {
        // Lines the provider already finished are still billed (as with expiry); what it
        // has not started is not. The answers are not fetched: the user cancelled the job.
        if (!batch.providerBatchId.isEmpty())
            m_provider->cancelBatch(batch.providerBatchId);
        QList<TaskTransition> releases;
        releases.reserve(batch.tasks.size());
        for (const ClaimedTask &task : batch.tasks)
            releases.append(releaseUnsent(task.id, now));
        if (!m_store->applyTransitions(batch.owner, releases, now))
            qWarning("job %lld: tasks of batch %lld not handed back: %s", m_job.id, batch.rowId,
                     qPrintable(m_store->errorString()));
        m_store->updateBatch(batch.rowId, u"cancelled"_s, QString(), now);
        m_budget.release(batch.reservedUsd);
        m_counts.leased -= batch.tasks.size();
        m_counts.pending += batch.tasks.size();
    }
}

void JobRunner::settleBatch(qint64 batchRowId, const QList<providers::ChatReply> &replies,
                            const QString &endState)
{
    const LiveBatch batch = m_liveBatches.take(batchRowId);
    m_batchRowByProviderId.remove(batch.providerBatchId);
    m_budget.release(batch.reservedUsd);

    QList<TaskTransition> transitions;
    transitions.reserve(batch.tasks.size());
    QSet<qint64> answered;
    for (const providers::ChatReply &reply : replies) {
        const auto task = batch.tasks.constFind(reply.taskId);
        if (task == batch.tasks.constEnd() || answered.contains(reply.taskId))
            continue; // not ours, or a duplicate line: the first answer counts
        answered.insert(reply.taskId);
        transitions.append(settle(*task, reply, batch.submittedAtMs, true));
        resolveFollowers(task->id, transitions.constLast());
    }
    // A line the provider never returned is treated like an expired one.
    for (const ClaimedTask &task : batch.tasks) {
        if (answered.contains(task.id))
            continue;
        providers::ChatReply missing;
        missing.taskId = task.id;
        missing.error = ErrorClass::Timeout;
        missing.errorMessage = u"no result line for this task in batch %1"_s.arg(batch.providerBatchId);
        transitions.append(settle(task, missing, batch.submittedAtMs, true));
        resolveFollowers(task.id, transitions.constLast());
    }
    int skipped = 0;
    if (!m_store->applyTransitions(batch.owner, transitions, m_clock->nowMs(), &skipped)) {
        fatal(m_store->errorString());
        return;
    }
    noteWritten(transitions, skipped); // settled above: stored now, not counted twice
    crashPoint("batch.results-stored");
    // Only now: a batch marked ended with its results unstored would leave its tasks
    // leased to it, which no restart looks at again. The other way round, a restart finds
    // the batch open with none of its tasks left and closes it.
    m_store->updateBatch(batchRowId, endState, QString(), m_clock->nowMs());
    emitProgress(true);
    if (m_stopping) {
        if (m_inFlight.isEmpty())
            finishIfDrained();
        return;
    }
    pump();
}

} // namespace bd::dispatch
