// The batch-API lane of JobRunner: tasks go to the provider as batch jobs (half price,
// results within 24 h). The provider's batch id is stored the moment it exists, and the
// tasks stay leased under the batch's own owner name while the provider holds them, so a
// restarted engine polls the batch instead of submitting its tasks again.

#include "dispatcher.h"

#include "core/clock.h"
#include "providers/batchplanner.h"
#include "metrics/metricsrecorder.h"
#include "store/store.h"

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
        LiveBatch batch;
        batch.rowId = record.id;
        batch.providerBatchId = record.providerBatchId;
        batch.owner = batchOwner(record.id);
        batch.submittedAtMs = record.updatedAtMs;
        for (const ClaimedTask &task : m_store->leasedTasksOfBatch(record.id)) {
            batch.tasks.insert(task.id, task);
            if (m_tiering) {
                // The rules decide the same way again: the route is known after a restart.
                const QString prompt = m_template.render(task.values);
                routeFor(task, prompt, (m_job.spec.systemPrompt.size() + prompt.size() + 3) / 4);
            }
        }
        if (record.state == u"assembling"_s || record.providerBatchId.isEmpty()) {
            // Interrupted between hand-over and the provider's answer: the provider may or
            // may not have it. Without an id there is nothing to poll, so the tasks go back.
            QList<TaskTransition> releases;
            for (const ClaimedTask &task : std::as_const(batch.tasks)) {
                const TaskTransition release = releaseUnsent(task.id, now);
                releases.append(release);
            }
            m_store->applyTransitions(batch.owner, releases, now);
            m_store->updateBatch(record.id, u"failed"_s, QString(), now);
            continue;
        }
        if (batch.tasks.isEmpty()) {
            m_store->updateBatch(record.id, u"ended"_s, QString(), now);
            continue;
        }
        m_batchRowByProviderId.insert(batch.providerBatchId, batch.rowId);
        m_liveBatches.insert(batch.rowId, batch);
        schedulePoll(batch.rowId);
    }
    m_counts = m_store->taskCounts(m_job.id);
}

void JobRunner::pumpBatches()
{
    const qint64 now = m_clock->nowMs();
    while (m_liveBatches.size() < m_options.maxConcurrentBatches) {
        // Assemble one batch: it closes when it is full or when nothing more is pending.
        QList<ClaimedTask> tasks;
        bool exhausted = false;
        while (tasks.size() < m_options.maxBatchSize) {
            const int want = qMin(m_options.maxBatchSize - int(tasks.size()), 4'096);
            QList<ClaimedTask> claimed;
            if (!m_store->claimTasks(m_job.id, m_workerId, want, now, now + m_options.leaseMs,
                                     &claimed)) {
                fatal(m_store->errorString());
                return;
            }
            tasks += claimed;
            if (claimed.size() < want) {
                exhausted = true;
                break;
            }
        }
        if (tasks.isEmpty())
            break;

        QList<providers::ChatRequest> requests;
        requests.reserve(tasks.size());
        double reservation = 0.0;
        QHash<qint64, double> reservationOf; // by task: a tiered job's batches split by model
        QList<TaskTransition> over; // tasks the budget cannot cover yet
        QHash<qint64, QByteArray> keys; // leaders of this batch -> response cache key
        int hits = 0;                   // answered from the response cache
        int followers = 0;              // duplicates waiting for their leader's answer
        for (const ClaimedTask &task : std::as_const(tasks)) {
            providers::ChatRequest request;
            request.taskId = task.id;
            request.attempt = task.attempts + 1;
            request.systemPrompt = m_job.spec.systemPrompt;
            request.prompt = m_template.render(task.values);
            const qint64 promptTokens = (m_job.spec.systemPrompt.size() + request.prompt.size() + 3) / 4;
            request.model = routeFor(task, request.prompt, promptTokens); // the job's, or its tier's
            QByteArray cacheKey;
            if (m_responseCache) {
                cacheKey = cacheKeyFor(request.prompt, request.model);
                if (m_leaderOfKey.contains(cacheKey)) {
                    m_followersOfKey[cacheKey].append(task);
                    ++followers;
                    continue;
                }
                if (const auto hit = lookupCache(cacheKey)) {
                    m_counts.pending -= 1;
                    m_counts.leased += 1; // settleFromCache moves it on to completed
                    settleFromCache(task, hit->output, hit->model);
                    ++hits;
                    continue;
                }
            }
            request.maxOutputTokens = m_job.spec.maxOutputTokens;
            request.cacheKey = u"batchdesk-job-"_s + QString::number(m_job.id);
            const double cost = maxCostUsd(request.model, promptTokens);
            if (m_budgetUsd > 0 && m_costUsd + m_reservedUsd + reservation + cost > m_budgetUsd) {
                const TaskTransition release = releaseUnsent(task.id, now);
                over.append(release);
                m_routeOfTask.remove(task.id);
                continue;
            }
            reservation += cost;
            reservationOf.insert(task.id, cost);
            if (!cacheKey.isEmpty()) {
                m_leaderOfKey.insert(cacheKey, task.id);
                m_keyOfTask.insert(task.id, cacheKey);
            }
            requests.append(std::move(request));
        }
        if (!over.isEmpty()) {
            m_store->applyTransitions(m_workerId, over, now);
            m_counts.pending += over.size();
        }
        m_counts.pending -= tasks.size() - hits;
        m_counts.leased += requests.size() + followers;
        if (requests.isEmpty() && over.isEmpty()) {
            // Everything claimed was answered from the cache or waits for a leader.
            flush();
            if (exhausted)
                break;
            continue;
        }
        if (requests.isEmpty()) {
            if (m_liveBatches.isEmpty()) {
                const QString why = u"budget of $%1 reached ($%2 spent)"_s.arg(
                    QString::number(m_budgetUsd, 'f', 2), QString::number(m_costUsd, 'f', 4));
                Q_EMIT alertRaised(m_job.id, u"budget_exhausted"_s, why);
                stop(JobState::Paused, why, false);
            }
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
    if (m_liveBatches.isEmpty())
        checkIdle();
    else if (m_counts.pending > 0)
        m_wakeTimer.start(int(m_options.idlePollMs)); // retries that come due
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
    m_reservedUsd += reservation;
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
    const qint64 now = m_clock->nowMs();
    if (error != ErrorClass::None) {
        // Refused as a whole (enqueued-token limit, validation, outage): every line gets
        // the batch's answer as its own.
        QList<providers::ChatReply> replies;
        for (const ClaimedTask &task : std::as_const(it->tasks)) {
            providers::ChatReply reply;
            reply.taskId = task.id;
            reply.error = error;
            reply.errorMessage = u"batch not accepted: "_s + errorMessage;
            replies.append(reply);
        }
        m_store->updateBatch(rowId, u"failed"_s, QString(), now);
        settleBatch(rowId, replies);
        return;
    }
    it->providerBatchId = batchId;
    it->submittedAtMs = now;
    m_batchRowByProviderId.insert(batchId, rowId);
    if (!m_store->updateBatch(rowId, u"submitted"_s, batchId, now)) {
        fatal(m_store->errorString());
        return;
    }
    schedulePoll(rowId);
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
        if (!it->fetching) {
            it->fetching = true;
            m_provider->fetchBatchResults(status.batchId, it->tasks.keys());
        }
        return;
    case providers::BatchPhase::Failed: {
        QList<providers::ChatReply> replies;
        for (const ClaimedTask &task : std::as_const(it->tasks)) {
            providers::ChatReply reply;
            reply.taskId = task.id;
            reply.error = status.error == ErrorClass::None ? ErrorClass::ServerError : status.error;
            reply.errorMessage = u"batch %1 failed: %2"_s.arg(status.batchId, status.errorMessage);
            replies.append(reply);
        }
        m_store->updateBatch(rowId, u"failed"_s, QString(), m_clock->nowMs());
        settleBatch(rowId, replies);
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
    m_store->updateBatch(rowId, u"ended"_s, QString(), m_clock->nowMs());
    settleBatch(rowId, replies);
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
        m_reservedUsd = qMax(0.0, m_reservedUsd - batch.reservedUsd);
        m_counts.leased -= batch.tasks.size();
        m_counts.pending += batch.tasks.size();
    }
}

void JobRunner::settleBatch(qint64 batchRowId, const QList<providers::ChatReply> &replies)
{
    const LiveBatch batch = m_liveBatches.take(batchRowId);
    m_batchRowByProviderId.remove(batch.providerBatchId);
    m_reservedUsd = qMax(0.0, m_reservedUsd - batch.reservedUsd);

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
    if (!m_store->applyTransitions(batch.owner, transitions, m_clock->nowMs())) {
        fatal(m_store->errorString());
        return;
    }
    emitProgress(true);
    if (m_stopping) {
        if (m_inFlight.isEmpty())
            finishIfDrained();
        return;
    }
    pump();
}

} // namespace bd::dispatch
