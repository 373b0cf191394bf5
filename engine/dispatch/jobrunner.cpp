#include "jobrunner.h"

#include "api/jobsettings.h"
#include "core/clock.h"
#include "core/crashpoint.h"
#include "cost/responsecache.h"
#include "store/store.h"

#include <algorithm>
#include <QJsonDocument>

namespace bd::dispatch {

using namespace Qt::StringLiterals;

JobRunner::JobRunner(store::Store *store, std::unique_ptr<providers::Provider> provider,
                     const JobInfo &job, const cost::PriceTable &prices, Clock *clock,
                     const QString &workerId, const Options &options, QObject *parent)
    : QObject(parent)
    , m_store(store)
    , m_provider(std::move(provider))
    , m_circuitAlerts(job.id, m_provider->displayName())
    , m_job(job)
    , m_prices(prices)
    , m_settlement(m_prices, m_provider->isLocalServer())
    , m_clock(clock)
    , m_workerId(workerId)
    , m_options(options)
    , m_retry(RetryPolicy::Options{.maxRetries = job.spec.maxRetries})
    , m_concurrencyLimiter(options.concurrency)
    , m_backPressure(&m_concurrencyLimiter)
    , m_prompts(store, job)
    , m_offPeak(this, clock)
    , m_budget(job.spec.settings.value(settingkeys::budgetUsd).toDouble(0.0))
    , m_accounting(job.id, &m_budget)
    , m_cache(cost::responseCacheEnabled(job.spec.settings))
    , m_coalescing(this, TaskCoalescing::Parts{.cache = &m_cache,
                                               .router = &m_router,
                                               .retry = &m_retry,
                                               .lanes = &m_taskLanes,
                                               .spec = &m_job.spec,
                                               .work = &m_work,
                                               .clock = clock,
                                               .flushMaxTransitions = options.flushMaxTransitions})
    , m_router(job.spec.model.isEmpty() ? m_provider->defaultModel() : job.spec.model,
               job.spec.settings, job.columns)
    , m_classifier(job.id, &m_router, &m_budget, &m_prices)
{
    m_cache.setStore(m_store);
    const QJsonObject &settings = job.spec.settings;
    if (settings.value(settingkeys::concurrency).toInt() > 0)
        m_options.concurrency = settings.value(settingkeys::concurrency).toInt();
    // Queue depths at which groups grow (group_sizes itself is read per claim).
    if (settings.value(settingkeys::mediumDepth).toInteger() > 0)
        m_options.mediumDepth = settings.value(settingkeys::mediumDepth).toInteger();
    if (settings.value(settingkeys::largeDepth).toInteger() > 0)
        m_options.largeDepth = settings.value(settingkeys::largeDepth).toInteger();
    if (settings.value(settingkeys::maxConcurrentBatches).toInt() > 0)
        m_options.maxConcurrentBatches = settings.value(settingkeys::maxConcurrentBatches).toInt();
    m_concurrencyLimiter.setCeiling(m_options.concurrency);
    GroupSizer::Profile groups;
    groups.claimBatch = m_options.claimBatch;
    std::copy(std::begin(m_options.groupSizes), std::end(m_options.groupSizes), groups.sizes);
    groups.mediumDepth = m_options.mediumDepth;
    groups.largeDepth = m_options.largeDepth;
    m_groupSizer = GroupSizer(m_provider->id(), groups, settings);
    m_offPeak.setRunNow(settings.value(settingkeys::offpeakRunNow).toBool());
    m_standing = !settings.value(settingkeys::intakeQueue).toString().isEmpty();
    m_provider->setPriceTable(m_prices);
    if (m_job.spec.model.isEmpty())
        m_job.spec.model = m_provider->defaultModel();
    m_tieringError = m_router.error(); // start() reports it
    QString schemaText = settings.value(settingkeys::outputSchema).toString();
    if (schemaText.isEmpty() && m_standing &&
        settings.value(settingkeys::legacyQueueSchema).isObject()) {
        // A queue defined by an earlier version: its schema moves to the one key.
        schemaText = QString::fromUtf8(
            QJsonDocument(settings.value(settingkeys::legacyQueueSchema).toObject())
                .toJson(QJsonDocument::Compact));
        QJsonObject moved = settings;
        moved.remove(settingkeys::legacyQueueSchema);
        moved.insert(settingkeys::outputSchema, schemaText);
        if (m_store->setJobSettings(m_job.id, moved))
            m_job.spec.settings = moved;
    }
    if (!schemaText.isEmpty()) {
        QString schemaError;
        m_outputSchema = ingest::OutputSchema::parse(schemaText.toUtf8(),
                                                     u"the job's output schema"_s, &schemaError);
        if (!m_outputSchema)
            m_outputSchemaError = schemaError; // checked at import; a stored job parses again
        m_prompts.setOutputSchema(m_outputSchema);
    }
    configureLane();
    if (m_batchMode && m_router.usesClassifier())
        m_tieringError =
            u"model tiering: a classifier needs a sync lane (use rules for the batch API)"_s;
    if (m_provider->hasBatchApi()) {
        // Whatever the job's lane now: a job reprioritised away from the batch API still has
        // its submitted batches to finish, and one reprioritised onto it needs them.
        const qint64 apiLimit = m_provider->batchLimits().maxRequests;
        int size = settings.value(settingkeys::batchSize).toInt(m_options.maxBatchSize);
        if (size <= 0 || (apiLimit > 0 && size > apiLimit))
            size = apiLimit > 0 ? int(apiLimit) : 10'000;
        m_options.maxBatchSize = size;
        // First poll of a provider batch (later ones back off); tests and demos shorten it.
        if (settings.value(settingkeys::batchPollMs).toInteger() > 0)
            m_options.batchPollFirstMs = settings.value(settingkeys::batchPollMs).toInteger();
        BatchLane::Options lane;
        lane.jobId = m_job.id;
        lane.workerId = m_workerId;
        lane.maxBatchSize = m_options.maxBatchSize;
        lane.pollFirstMs = m_options.batchPollFirstMs;
        lane.batchLeaseMs = m_options.batchLeaseMs;
        lane.workerLeaseMs = m_options.leaseMs;
        BatchLane::Host *host = this; // a private base: converted here, not in make_unique
        m_batches =
            std::make_unique<BatchLane>(host, m_store, m_provider.get(), m_clock, &m_budget, lane);
        BatchApiDispatch::Options dispatch;
        dispatch.jobId = m_job.id;
        dispatch.workerId = m_workerId;
        dispatch.leaseMs = m_options.leaseMs;
        dispatch.maxBatchSize = m_options.maxBatchSize;
        dispatch.maxConcurrentBatches = m_options.maxConcurrentBatches;
        dispatch.idlePollMs = m_options.idlePollMs;
        dispatch.maxWaitMs = m_batchMaxWaitMs;
        dispatch.loweredMaxWaitMs = m_options.batchApiMaxWaitMs;
        BatchApiDispatch::Host *dispatchHost = this;
        m_batchApi = std::make_unique<BatchApiDispatch>(
            dispatchHost, m_store, m_batches.get(), &m_taskLanes, &m_work, &m_wakeTimer, dispatch);
    }

    connect(m_provider.get(), &providers::Provider::replied, this, &JobRunner::handleReply);
    m_flushTimer.setSingleShot(true);
    connect(&m_flushTimer, &QTimer::timeout, this, &JobRunner::flushBehind);
    m_wakeTimer.setSingleShot(true);
    connect(&m_wakeTimer, &QTimer::timeout, this, &JobRunner::pump);
    connect(&m_leaseTimer, &QTimer::timeout, this, [this] {
        if (!m_databaseAway)
            m_store->renewLeases(m_workerId, m_clock->nowMs() + m_options.leaseMs);
    });
}

JobRunner::~JobRunner()
{
    // Groups still being written are the store's now; nothing here is left to settle.
    if (m_writeBehind && m_groupsBehind > 0) {
        m_writeBehind->waitUntilWritten();
        m_writeBehind->takeWritten(m_job.id);
    }
}

void JobRunner::configureLane()
{
    const QJsonObject &settings = m_job.spec.settings;
    m_batchMode = m_job.spec.mode == u"batch-api"_s && m_provider->hasBatchApi();
    m_batchMaxWaitMs =
        settings.value(settingkeys::batchMaxWaitMs)
            .toInteger(m_batchMode ? m_options.batchApiMaxWaitMs : m_options.groupMaxWaitMs);
    if (m_batchApi)
        m_batchApi->setMaxWaitMs(m_batchMaxWaitMs);
    m_accounting.setLane(m_job.spec.priority, m_job.spec.mode, m_batchMode);
    // A classifier answers first, so a job using one stays on sync calls (laneFor()).
    m_taskLanes.configure(m_job.spec.priority, m_batchMode,
                          m_provider->hasBatchApi() && !m_router.usesClassifier());
    m_offPeak.configure(m_job.spec.priority, settings);
}

void JobRunner::handBackUnsent()
{
    if (!m_running)
        return;
    releaseReady();
    flush();
    if (m_batchApi)
        m_batchApi->lookForRaised();
    // Claimed again after the caller's change to the store (a new priority) has been made.
    QMetaObject::invokeMethod(this, &JobRunner::pump, Qt::QueuedConnection);
}

void JobRunner::setLane(int priority, const QString &mode)
{
    if (priority == m_job.spec.priority && mode == m_job.spec.mode)
        return;
    handBackUnsent();
    m_job.spec.priority = priority;
    m_job.spec.mode = mode;
    configureLane();
    if (!m_running)
        return;
    if (!m_offPeak.error().isEmpty()) {
        fatal(u"job %1: %2"_s.arg(m_job.id).arg(m_offPeak.error()));
        return;
    }
    m_wakeTimer.stop();
    m_offPeak.stop();
    if (m_stopping)
        return;
    pump(); // off the window, the waiting state clears here
}

void JobRunner::start()
{
    if (m_running)
        return;
    m_running = true;
    m_stopping = false;
    m_work.claimedEverything = false;
    m_offPeak.restart();
    m_work.counts = m_store->taskCounts(m_job.id);
    readTotals();
    if (!m_offPeak.error().isEmpty()) {
        fatal(u"job %1: %2"_s.arg(m_job.id).arg(m_offPeak.error()));
        return;
    }
    if (!m_tieringError.isEmpty()) {
        fatal(m_tieringError);
        return;
    }
    if (!m_outputSchemaError.isEmpty()) {
        fatal(m_outputSchemaError);
        return;
    }
    for (const QString &model : m_router.models()) {
        if (m_budget.capUsd() > 0 && !m_prices.price(model) && !m_provider->isLocalServer()) {
            fatal(
                u"cannot keep to a budget: model %1 has no price in the price table"_s.arg(model));
            return;
        }
    }
    if (m_budget.jobCapReached()) {
        m_running = false;
        m_store->setJobState(m_job.id, JobState::Paused, stopCauseReason(StopCause::Budget),
                             m_clock->nowMs());
        Q_EMIT finished(m_job.id, JobState::Paused, stopCauseReason(StopCause::Budget));
        return;
    }
    if (m_budget.globalCapReached()) {
        m_running = false;
        const QString why = stopCauseReason(StopCause::GlobalBudget);
        m_store->setJobState(m_job.id, JobState::Paused, why, m_clock->nowMs());
        Q_EMIT finished(m_job.id, JobState::Paused, why);
        return;
    }
    if (!m_store->setJobState(m_job.id, JobState::Running, QString(), m_clock->nowMs()) ||
        !m_store->setJobRunner(m_job.id, m_workerId, m_clock->nowMs())) {
        fatal(m_store->errorString());
        return;
    }
    m_leaseTimer.start(int(qMax<qint64>(1'000, m_options.leaseMs / 3)));
    m_sinceProgress.start();
    if (m_batches) {
        // Submitted batches finish whatever the job's lane is now.
        if (!m_batches->recover())
            return;
        m_work.counts = m_store->taskCounts(m_job.id);
    }
    emitProgress(true);
    pump();
}

void JobRunner::pump()
{
    if (!m_running || m_stopping || databaseAwayNow())
        return;
    const qint64 now = m_clock->nowMs();
    // Answers already in flight still settle; nothing new goes out.
    if (m_offPeak.holds(now, m_work.counts.unfinished() > 0,
                        !m_work.ready.isEmpty() || !m_work.assembly.isEmpty() ||
                            !m_work.lowered.isEmpty()))
        return;
    if (m_batchMode) {
        m_batchApi->pumpBatches(now);
        if (m_work.ready.isEmpty() || !m_running || m_stopping)
            return;
    }
    pumpSync(now);
    if (!m_batchMode && m_batchApi && m_running && !m_stopping)
        m_batchApi->pumpLowered(now);
}

void JobRunner::pumpSync(qint64 now)
{
    // Held: only the trickle that ages it; else what the provider has shown it takes.
    const int limit = m_held ? qMin(m_heldConcurrency, m_concurrencyLimiter.limit())
                             : m_concurrencyLimiter.limit();
    const int cooling = m_backPressure.coolingSlots(now);
    const int concurrency = qMax(0, limit - cooling);
    if (cooling > 0 && !m_work.ready.isEmpty()) {
        // Come back when the first refused slot may be used again.
        const qint64 wait = m_backPressure.msUntilSlotFrees(now);
        if (!m_wakeTimer.isActive() || m_wakeTimer.remainingTime() > wait)
            m_wakeTimer.start(int(qMin(wait, m_options.idlePollMs)));
    }
    while (int(m_inFlight.size()) + m_classifier.inFlight() < concurrency) {
        if (m_work.ready.isEmpty()) {
            if (m_batchMode || (m_work.claimedEverything && m_work.assembly.isEmpty()))
                break;
            const GroupClaim claim = claimGroup(concurrency, now);
            if (claim == GroupClaim::Failed)
                return;
            if (claim == GroupClaim::Filling)
                break; // the wake timer comes back for it
        }
        // Pacing and budget are checked against the task about to go, which stays first in
        // the queue when it has to wait.
        ClaimedTask &next = m_work.ready.head();
        const TaskPrompts::Revision *revision = templateFor(next.templateRevision);
        if (!revision)
            return;
        const std::optional<ResponseCoalescer::Rendered> ahead = m_cache.lookedAhead(next);
        const QString prompt = ahead ? ahead->prompt : revision->prompt.render(next.values);
        const qint64 promptTokens = TaskPrompts::promptTokens(*revision, prompt);
        if (m_router.needsClassification(next.id)) { // classifier tiering: the label comes first
            if (!sendClassification(prompt, promptTokens, now))
                return;
            continue;
        }
        const QString model =
            m_router.route(next, prompt, promptTokens); // the job's, or its tier's
        ProviderGuard &guard = m_router.guardFor(model);
        QByteArray cacheKey;
        if (m_cache.isEnabled()) {
            cacheKey = ahead ? ahead->key
                             : m_cache.keyFor(m_job.spec, model, revision->systemPrompt, prompt);
            if (m_coalescing.coalesce(cacheKey, next)) {
                m_work.ready.dequeue();
                continue;
            }
        }
        if (!guard.breaker.allowRequest(now)) {
            m_wakeTimer.start(
                int(qBound<qint64>(1, guard.breaker.waitMs(now), m_options.idlePollMs)));
            return;
        }
        const qint64 paceDelay =
            guard.limiter.delayMs(promptTokens + m_job.spec.maxOutputTokens, now);
        if (paceDelay > 0) {
            m_wakeTimer.start(int(qMin<qint64>(paceDelay, m_options.idlePollMs)));
            return;
        }
        const double reservation = maxCostUsd(model, promptTokens, false);
        if (!m_budget.allows(reservation)) {
            budgetRefused(reservation, !m_inFlight.isEmpty());
            return;
        }
        guard.limiter.consume(promptTokens + m_job.spec.maxOutputTokens, now);
        m_budget.reserve(reservation);
        ClaimedTask task = m_work.ready.dequeue();
        const providers::ChatRequest request =
            m_prompts.request(task, model, revision->systemPrompt, prompt);
        m_sent.insert(task.id, Sent{now, reservation, promptTokens + m_job.spec.maxOutputTokens});
        m_lastRequestTokens = promptTokens + m_job.spec.maxOutputTokens;
        m_cache.lead(cacheKey, task.id);
        m_inFlight.insert(task.id, std::move(task));
        m_sentAtMs.enqueue(now);
        m_heldByBudget = false;
        crashPoint("dispatch.claimed-unsent");
        m_provider->send(request);
        crashPoint("dispatch.sent");
    }
    if (!m_work.toWrite.isEmpty())
        scheduleFlush(); // cache hits
    if (m_inFlight.isEmpty() && m_classifier.isEmpty() && m_work.ready.isEmpty() &&
        m_work.assembly.isEmpty() && m_work.lowered.isEmpty() && !m_held &&
        !m_batchMode) // the batch lane looks for idleness itself
        checkIdle();
}

JobRunner::GroupClaim JobRunner::claimGroup(int concurrency, qint64 now)
{
    const double apiLoadShare =
        double(m_concurrencyLimiter.limit()) / m_concurrencyLimiter.ceiling();
    // Rows are not rendered yet: the last request's size stands for theirs.
    const qint64 paceCap = m_router.requestsWithin(
        m_options.claimHorizonMs, qMax(m_lastRequestTokens, m_job.spec.maxOutputTokens));
    // Claims run ahead only for a lane that is paced by nothing and turns its groups over
    // faster than a claim's wait would be worth: there the leases held ahead are a few
    // milliseconds of work, and other workers lose nothing they could have sent sooner.
    m_claimAheadPays = paceCap < 0 && now - m_lastGroupAtMs < m_options.claimAheadBelowMs;
    m_lastGroupAtMs = now;
    const int groupSize =
        m_groupSizer.size(m_work.counts.pending, concurrency, m_job.spec.mode == u"realtime"_s,
                          apiLoadShare, paceCap);
    if (!assemble(groupSize, now))
        return m_running ? GroupClaim::Filling : GroupClaim::Failed;
    if (m_job.spec.mode != u"realtime"_s) {
        // A group of sync calls is a batch too: its fill rate is recorded.
        const store::WriteBehind::Group::SentBatch sent{
            m_provider->id(), m_accounting.laneName(), int(m_work.assembly.size()),
            int(m_work.assembly.capacity()), now};
        if (m_writeBehind) {
            m_sentBatches.append(sent); // recorded with the next group written behind
            scheduleFlush();
        } else {
            m_store->createBatch(m_job.id, sent.provider, sent.lane, sent.size, sent.maxSize,
                                 u"dispatched"_s, sent.atMs);
        }
        m_accounting.groupSent(m_work.assembly.size(), m_work.assembly.capacity());
    }
    const QList<ClaimedTask> group = m_work.assembly.take();
    for (const ClaimedTask &task : group)
        m_work.ready.enqueue(task);
    m_coalescing.lookAhead(group);
    if (!m_running)
        return GroupClaim::Failed; // a template that cannot be read
    return m_work.ready.isEmpty() ? GroupClaim::Filling : GroupClaim::Ready;
}

bool JobRunner::assemble(int maxSize, qint64 now)
{
    m_work.assembly.open(maxSize, now);
    // Tasks lowered to the batch API on their own leave the group for a provider batch:
    // claims go on until the group is full or nothing more is due. While that batch is full
    // and waits (for a slot, its window, an outage's end) one task at a time is claimed:
    // claims come best priority first, so a lowered one means no sync task is due, and it
    // goes back; a sync task never waits behind the batch lane.
    bool syncDue = false;
    while (m_work.assembly.room() > 0 && !m_work.claimedEverything) {
        const bool probe = m_work.lowered.isFull() && !syncDue;
        const int want = probe ? 1 : m_work.assembly.room();
        QList<ClaimedTask> claimed;
        if (!claimTasks(want, now, &claimed))
            return false;
        m_work.claimed(claimed.size());
        bool loweredBack = false;
        for (ClaimedTask &task : claimed) {
            if (m_taskLanes.laneOf(task) == TaskLanes::Lane::Sync) {
                m_work.assembly.add(std::move(task));
                syncDue = true;
                continue;
            }
            m_work.lowered.open(m_options.maxBatchSize, now);
            if (!m_work.lowered.isFull()) {
                m_work.lowered.add(std::move(task));
                continue;
            }
            m_work.handBack(task.id, now); // the next provider batch takes it
            loweredBack = true;
        }
        // Nothing more is due now (for the sync lane); a retry or a release that comes due,
        // or the poll while lowered tasks wait (BatchApiDispatch::pumpLowered()), clears this.
        if (claimed.size() < want || loweredBack)
            m_work.claimedEverything = true;
    }
    if (!m_work.toWrite.isEmpty())
        scheduleFlush();
    if (m_work.assembly.isEmpty())
        return false;
    // Realtime calls are single: nothing to wait for. Otherwise a batch waits to fill up to
    // its maximum wait, unless no other task of the job could still join it.
    const qint64 wait = m_work.assembly.msUntilClose(
        now, m_batchMaxWaitMs, m_job.spec.mode != u"realtime"_s && m_work.counts.pending > 0);
    if (wait <= 0)
        return true;
    m_work.claimedEverything = false; // look again when the timer fires
    m_wakeTimer.start(int(qBound<qint64>(1, wait, m_options.idlePollMs)));
    return false;
}

bool JobRunner::claimTasks(int want, qint64 now, QList<ClaimedTask> *claimed)
{
    if (!m_writeBehind) {
        if (m_store->claimTasks(m_job.id, m_workerId, want, now, now + m_options.leaseMs,
                                claimed))
            return true;
        fatal(m_store->errorString());
        return false;
    }
    // Every claim is made on the write-behind's connection: two connections writing in
    // turn would each find its page cache stale at every transaction.
    const auto claimAndWait = [&](int limit) {
        claimAhead(limit, now);
        m_writeBehind->waitUntilClaimed();
        takeWrittenBehind();
        return m_running;
    };
    // One asked earlier comes first; what it could not see (tasks due since) is asked now.
    if (m_claimedAhead.tasks.size() < want && m_claimedAhead.asked && !claimAndWait(0))
        return false;
    if (m_claimedAhead.tasks.size() < want &&
        !claimAndWait(int(want - m_claimedAhead.tasks.size())))
        return false;
    const qsizetype taken = qMin<qsizetype>(want, m_claimedAhead.tasks.size());
    *claimed = m_claimedAhead.tasks.mid(0, taken);
    m_claimedAhead.tasks.remove(0, taken);
    // A full claim says more may be due: the next group's is made behind, while this one
    // is sent. A probe (one task) or a short claim asks for nothing.
    if (want > 1 && claimed->size() == want && m_claimedAhead.tasks.size() < want &&
        m_claimAheadPays && !m_held && !m_stopping)
        claimAhead(m_options.claimAheadGroups * qMax(want, int(m_work.assembly.capacity())), now);
    return true;
}

void JobRunner::claimAhead(int limit, qint64 now)
{
    if (limit <= 0 || !m_writeBehind || m_claimedAhead.asked || !m_running || m_databaseAway)
        return;
    store::WriteBehind::Group group;
    group.jobId = m_job.id;
    group.owner = m_workerId;
    group.nowMs = now;
    group.claimLimit = limit;
    group.leaseUntilMs = now + m_options.leaseMs;
    m_claimedAhead.asked = true;
    ++m_groupsBehind;
    m_writeBehind->post(std::move(group));
}

bool JobRunner::hasDispatchableWork() const
{
    return m_running && !m_stopping &&
           (m_work.counts.pending > 0 || !m_work.ready.isEmpty() || !m_inFlight.isEmpty() ||
            !m_work.assembly.isEmpty() || !m_work.lowered.isEmpty());
}

void JobRunner::setConcurrency(int concurrency)
{
    m_options.concurrency = qMax(1, concurrency);
    m_concurrencyLimiter.setCeiling(m_options.concurrency);
    pump();
}

void JobRunner::setMaxConcurrentBatches(int batches)
{
    m_options.maxConcurrentBatches = qMax(1, batches);
    if (m_batchApi)
        m_batchApi->setMaxConcurrentBatches(m_options.maxConcurrentBatches);
    pump();
}

void JobRunner::offPeakHandBack()
{
    releaseReady();
    flush();
}

void JobRunner::offPeakWaitingChanged(const QString &reason)
{
    m_store->setJobState(m_job.id, JobState::Running, reason, m_clock->nowMs());
    Q_EMIT waitingChanged(m_job.id, reason);
}

QString JobRunner::waitingFor() const
{
    return m_offPeak.waitingFor(m_clock->nowMs());
}

void JobRunner::runNow()
{
    m_offPeak.setRunNow(true);
    m_job.spec.settings.insert(settingkeys::offpeakRunNow, true);
    if (m_running && !m_stopping)
        pump();
}

void JobRunner::setHeld(bool held, int trickle)
{
    const bool changed = held != m_held || trickle != m_heldConcurrency;
    m_held = held;
    m_heldConcurrency = held ? qMax(0, trickle) : 0;
    if (!changed || !m_running)
        return;
    if (held) {
        releaseReady(); // the checkpoint: what was claimed but not sent waits unharmed
        flush();
    }
    pump();
}

void JobRunner::releaseReady()
{
    const qint64 now = m_clock->nowMs();
    // Tasks claimed ahead go back too (counted pending here all along).
    if (m_claimedAhead.asked)
        waitForWritesBehind();
    for (const ClaimedTask &task : std::exchange(m_claimedAhead.tasks, {}))
        m_work.toWrite.append(releaseUnsent(task.id, now));
    for (ClaimedTask &task : m_work.assembly.take())
        m_work.ready.enqueue(std::move(task));
    for (ClaimedTask &task : m_work.lowered.take())
        m_work.ready.enqueue(std::move(task));
    while (!m_work.ready.isEmpty()) {
        const ClaimedTask task = m_work.ready.dequeue();
        TaskTransition release = releaseUnsent(task.id, now);
        m_router.takeRoute(task.id, &release.outcome); // a classification it had is billed now
        m_work.toWrite.append(release);
        m_work.counts.leased -= 1;
        m_work.counts.pending += 1;
    }
    m_work.claimedEverything = false;
    m_coalescing.releaseFollowers();
}

void JobRunner::handleReply(const providers::ChatReply &reply)
{
    if (handleClassified(reply))
        return;
    const auto it = m_inFlight.find(reply.taskId);
    if (it == m_inFlight.end())
        return;
    const ClaimedTask task = std::move(it.value());
    m_inFlight.erase(it);
    const Sent sent = m_sent.take(task.id);
    m_budget.release(sent.reservedUsd);
    const Refusal refusal =
        m_backPressure.refusalOf(m_router.guardFor(m_router.modelOf(task.id)), reply, sent.tokens);
    m_backPressure.answered(reply, sent.atMs, int(m_inFlight.size()), refusal, m_clock->nowMs());
    const TaskTransition transition = settle(task, reply, sent.atMs, false, sent.tokens);
    m_work.toWrite.append(transition);
    m_coalescing.resolveFollowers(task.id, transition);
    crashPoint("dispatch.answered-unstored");
    // A standing queue's priority-1 answer is waited for by its submitter: stored at once.
    const bool urgentSettled = m_standing && task.priority == 1 &&
                               (transition.action == OutcomeAction::Complete ||
                                transition.action == OutcomeAction::DeadLetter);
    if (urgentSettled)
        m_urgentTasks = qMax(0, m_urgentTasks - 1);

    const int flushAt =
        m_writeBehind ? m_options.flushMaxTransitionsBehind : m_options.flushMaxTransitions;
    if (m_work.toWrite.size() >= flushAt || urgentSettled)
        flushBehind();
    else
        scheduleFlush();
    if (m_stopping) {
        // Provider batches go on at the provider (a cancelled job's were cancelled at once).
        if (m_inFlight.isEmpty() && m_classifier.isEmpty())
            finishIfDrained();
        return;
    }
    pump();
}

TaskTransition JobRunner::settle(const ClaimedTask &task, const providers::ChatReply &reply,
                                 qint64 sentAtMs, bool viaBatchApi, qint64 requestTokens)
{
    const qint64 now = m_clock->nowMs();
    TaskOutcome outcome =
        ReplySettlement::outcomeOf(task, reply, m_router.modelOf(task.id), viaBatchApi);
    ProviderGuard &guard = m_router.guardFor(m_router.modelOf(task.id));
    m_router.takeRoute(task.id, &outcome);
    outcome.startedAtMs = sentAtMs;
    outcome.finishedAtMs = now;
    if (reply.ok()) {
        checkStructuredAnswer(&outcome);
        if (const auto unpriced = m_settlement.price(&outcome, viaBatchApi)) {
            Q_EMIT alertRaised(m_job.id, u"model_unpriced"_s,
                               u"cost unknown: model %1 has no price in the price table (add it "
                               "under Settings › Prices or in prices.json)"_s.arg(*unpriced),
                               QJsonObject{{u"model"_s, *unpriced}});
        }
    }

    bool providerDown = false;
    if (!viaBatchApi) {
        // Lines of a provider batch say nothing about the sync endpoint's health or limits.
        guard.limiter.observe(reply.rateLimits, now);
        m_backPressure.observe(reply.rateLimits);
        if (reply.ok()) {
            guard.limiter.handleSuccess(now);
            recordRecovery(guard.breaker, now);
        } else if (isOutageError(reply.error)) {
            recordOutage(guard.breaker, reply.errorMessage, now);
            // Failures while the provider is down are not the task's fault.
            providerDown = guard.breaker.state(now) != CircuitBreaker::State::Closed;
        }
    }

    TaskTransition transition = m_retry.decide(outcome, task.attempts, now, reply.retryAfterMs);
    ReplySettlement::forgiveProviderFailures(&transition, task, reply, viaBatchApi, providerDown,
                                             now);
    m_work.counts.leased -= 1;
    switch (transition.action) {
    case OutcomeAction::Complete:
        m_work.counts.completed += 1;
        m_usage += reply.usage;
        m_cache.remember(task.id, outcome.output, outcome.model, reply.usage, now);
        break;
    case OutcomeAction::DeadLetter:
        m_work.counts.dead += 1;
        break;
    case OutcomeAction::Retry:
    case OutcomeAction::Release:
        m_work.counts.pending += 1;
        m_work.claimedEverything = false; // it will be claimable again
        break;
    }
    if (const auto warning = m_accounting.settled(task, transition, outcome.costUsd.value_or(0.0),
                                                  reply.error, sentAtMs, viaBatchApi))
        Q_EMIT alertRaised(warning->jobId, warning->kind, warning->message, warning->figures);
    if (reply.error == ErrorClass::RateLimited && !viaBatchApi) {
        m_backPressure.rateLimited(guard, reply, requestTokens, sentAtMs, now);
    } else if (reply.error == ErrorClass::QuotaExhausted || reply.error == ErrorClass::Auth) {
        pauseForAccount(reply);
    }
    return transition;
}

void JobRunner::pauseForAccount(const providers::ChatReply &reply)
{
    const bool auth = reply.error == ErrorClass::Auth;
    const QString why =
        stopCauseReason(auth ? StopCause::Auth : StopCause::Quota) + u": "_s + reply.errorMessage;
    Q_EMIT alertRaised(m_job.id, auth ? u"auth"_s : u"quota_exhausted"_s, why,
                       QJsonObject{{u"value"_s, 1},
                                   {u"threshold"_s, 0},
                                   {u"http_status"_s, reply.httpStatus},
                                   {u"provider"_s, m_provider->displayName()}});
    stop(JobState::Paused, why, false);
}

bool JobRunner::sendClassification(const QString &prompt, qint64 promptTokens, qint64 now)
{
    ClassifierCalls::Step step =
        m_classifier.prepare(m_work.ready.head(), prompt, promptTokens, now);
    switch (step.kind) {
    case ClassifierCalls::Step::Kind::Wait:
        m_wakeTimer.start(int(qBound<qint64>(1, step.waitMs, m_options.idlePollMs)));
        return false;
    case ClassifierCalls::Step::Kind::OverBudget:
        budgetRefused(step.extraUsd, !m_inFlight.isEmpty() || !m_classifier.isEmpty());
        return false;
    case ClassifierCalls::Step::Kind::Send:
        break;
    }
    m_work.ready.dequeue();
    m_provider->send(step.request);
    return true;
}

bool JobRunner::handleClassified(const providers::ChatReply &reply)
{
    const qint64 now = m_clock->nowMs();
    const std::optional<ClassifierCalls::Answered> answered = m_classifier.answer(reply, now);
    if (!answered)
        return false;
    if (answered->rateLimited)
        m_backPressure.rateLimited(m_router.guardFor(m_router.classifierModel()), reply, 0, now,
                                   now);
    m_work.ready.prepend(answered->task);
    if (m_stopping) {
        if (m_inFlight.isEmpty() && m_classifier.isEmpty())
            finishIfDrained();
        return true;
    }
    pump();
    return true;
}

std::optional<providers::ChatRequest> JobRunner::batchLine(const ClaimedTask &task,
                                                           qint64 *promptTokens)
{
    const TaskPrompts::Revision *revision = templateFor(task.templateRevision);
    if (!revision)
        return std::nullopt;
    const QString prompt = revision->prompt.render(task.values);
    *promptTokens = TaskPrompts::promptTokens(*revision, prompt);
    const QString model = m_router.route(task, prompt, *promptTokens); // the job's, or its tier's
    return m_prompts.request(task, model, revision->systemPrompt, prompt);
}

void JobRunner::setWorkerRegistry(store::WorkerRegistry *registry)
{
    m_registry = registry;
    if (m_batches)
        m_batches->setWorkerRegistry(registry);
}

void JobRunner::adoptOrphanedBatches()
{
    if (!m_running || !m_registry || !m_batches)
        return;
    const int seen = m_batches->adoptOrphans();
    if (seen > 0)
        m_work.counts = m_store->taskCounts(m_job.id);
}

TaskTransition JobRunner::settleLine(const ClaimedTask &task, const providers::ChatReply &reply,
                                     qint64 sentAtMs)
{
    const TaskTransition transition = settle(task, reply, sentAtMs, true);
    m_coalescing.resolveFollowers(task.id, transition);
    return transition;
}

void JobRunner::lineHandedBack(const TaskTransition &release)
{
    m_coalescing.resolveFollowers(release.outcome.taskId, release);
}

void JobRunner::linesReturned(int count)
{
    m_work.counts.leased -= count;
    m_work.counts.pending += count;
}

void JobRunner::linesWritten(const QList<TaskTransition> &transitions, int skipped)
{
    noteWritten(transitions, skipped);
}

void JobRunner::batchEndpointFailed(const QString &why)
{
    recordOutage(batchBreaker(), why, m_clock->nowMs());
}

void JobRunner::batchEndpointAnswered()
{
    recordRecovery(batchBreaker(), m_clock->nowMs());
}

void JobRunner::batchOpened(int lines, int capacity)
{
    m_accounting.providerBatchOpened(lines, capacity);
}

void JobRunner::chargeRecorded()
{
    emitProgress(true);
}

void JobRunner::batchClosed(bool settled)
{
    if (!settled) {
        pump();
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

void JobRunner::checkStructuredAnswer(TaskOutcome *outcome) const
{
    if (!m_outputSchema)
        return;
    QString why;
    if (m_outputSchema->validate(outcome->output, nullptr, &why))
        return;
    // The dead-letter page shows why, and the start of what came back.
    constexpr qsizetype kShownAnswer = 300;
    const QString shown = outcome->output.size() > kShownAnswer
                              ? QString(outcome->output.left(kShownAnswer) + u"…"_s)
                              : outcome->output;
    outcome->error = ErrorClass::InvalidOutput;
    outcome->errorMessage = why + u"; the answer was: "_s + shown;
    outcome->output.clear();
}

void JobRunner::recordOutage(CircuitBreaker &breaker, const QString &why, qint64 now)
{
    if (const auto alert = m_circuitAlerts.outage(breaker, why, now))
        Q_EMIT alertRaised(alert->jobId, alert->kind, alert->message, alert->figures);
}

void JobRunner::recordRecovery(CircuitBreaker &breaker, qint64 now)
{
    if (m_circuitAlerts.recovery(breaker, now))
        Q_EMIT alertCleared(m_job.id, CircuitAlerts::kKind.toString());
}

void JobRunner::scheduleFlush()
{
    if (!m_flushTimer.isActive())
        m_flushTimer.start(m_options.flushIntervalMs);
}

void JobRunner::flush()
{
    m_flushTimer.stop();
    if (databaseAwayNow())
        return; // kept for databaseBack()
    if (!waitForWritesBehind())
        return;
    for (const auto &sent : std::exchange(m_sentBatches, {}))
        m_store->createBatch(m_job.id, sent.provider, sent.lane, sent.size, sent.maxSize,
                             u"dispatched"_s, sent.atMs);
    // Cache entries go to disk in large groups (a crash only loses hits). A lookup joins on
    // the task's completion, so writing them before it is harmless.
    const qint64 now = m_clock->nowMs();
    if (m_cache.writeDue(now, !m_running || m_stopping)) {
        if (!m_store->storeCachedResponses(m_cache.takeUnstored(now)))
            qWarning("job %lld: response cache not updated: %s", m_job.id,
                     qPrintable(m_store->errorString()));
        m_cache.takenStored();
    }
    if (m_work.toWrite.isEmpty())
        return;
    int skipped = 0;
    if (!m_store->applyTransitions(m_workerId, m_work.toWrite, m_clock->nowMs(), &skipped)) {
        fatal(m_store->errorString());
        return;
    }
    crashPoint("dispatch.answers-stored");
    afterWrite(std::exchange(m_work.toWrite, {}), skipped);
}

void JobRunner::setWriteBehind(store::WriteBehind *writer)
{
    m_writeBehind = writer;
    if (writer)
        connect(writer, &store::WriteBehind::written, this, &JobRunner::takeWrittenBehind);
}

void JobRunner::flushBehind()
{
    if (!m_writeBehind || !m_running || m_stopping) {
        flush();
        return;
    }
    m_flushTimer.stop();
    const qint64 now = m_clock->nowMs();
    store::WriteBehind::Group group;
    if (m_cache.writeDue(now, false))
        group.cacheEntries = m_cache.takeUnstored(now);
    group.sentBatches = std::exchange(m_sentBatches, {});
    if (m_work.toWrite.isEmpty() && group.cacheEntries.isEmpty() && group.sentBatches.isEmpty())
        return;
    group.jobId = m_job.id;
    group.owner = m_workerId;
    group.transitions = std::exchange(m_work.toWrite, {});
    group.nowMs = now;
    ++m_groupsBehind;
    m_writeBehind->post(std::move(group));
}

void JobRunner::takeWrittenBehind()
{
    if (!m_writeBehind || m_groupsBehind == 0)
        return; // another job's groups
    const QList<store::WriteBehind::Written> groups = m_writeBehind->takeWritten(m_job.id);
    for (const store::WriteBehind::Written &written : groups) {
        --m_groupsBehind;
        if (written.cacheEntries)
            m_cache.takenStored(); // the write groups keep their order
        if (written.claimLimit > 0) {
            m_claimedAhead.asked = false;
            m_claimedAhead.tasks += written.claimed;
        }
        if (!m_running)
            continue; // failed already: said once
        if (!written.error.isEmpty() || !written.claimError.isEmpty()) {
            fatal(written.error.isEmpty() ? written.claimError : written.error);
            continue;
        }
        if (!written.transitions.isEmpty()) {
            crashPoint("dispatch.answers-stored");
            afterWrite(written.transitions, written.skipped);
        }
    }
}

bool JobRunner::waitForWritesBehind()
{
    if (m_groupsBehind == 0)
        return true;
    const bool wasRunning = m_running;
    m_writeBehind->waitUntilWritten();
    takeWrittenBehind();
    return m_running || !wasRunning;
}

void JobRunner::afterWrite(const QList<TaskTransition> &written, int skipped)
{
    noteWritten(written, skipped);
    if (skipped > 0)
        qWarning("job %lld: %d answers arrived after their lease had ended and were dropped",
                 m_job.id, skipped);
    emitProgress(false);
    if (!m_standing)
        return;
    QList<qint64> settledIds;
    for (const TaskTransition &transition : written) {
        if (transition.action == OutcomeAction::Complete ||
            transition.action == OutcomeAction::DeadLetter)
            settledIds.append(transition.outcome.taskId);
    }
    if (!settledIds.isEmpty())
        Q_EMIT settled(m_job.id, settledIds);
}

void JobRunner::tasksArrived(int count, int bestPriority, int urgentCount)
{
    m_urgentTasks += urgentCount;
    if (!m_running || m_stopping)
        return;
    m_work.counts.pending += count;
    m_work.claimedEverything = false;
    if (m_claimedAhead.asked && !waitForWritesBehind())
        return;
    const auto worse = [bestPriority](const ClaimedTask &task) {
        return task.priority > bestPriority;
    };
    const bool overtaken = std::any_of(m_work.ready.cbegin(), m_work.ready.cend(), worse) ||
                           std::any_of(m_claimedAhead.tasks.cbegin(),
                                       m_claimedAhead.tasks.cend(), worse) ||
                           m_work.assembly.holdsWorseThan(bestPriority);
    if (overtaken) {
        releaseReady();
        flush();
    }
    m_wakeTimer.stop();
    pump();
}

void JobRunner::checkIdle()
{
    flush();
    if (!m_running || m_databaseAway)
        return;
    // Tasks leased by a worker that vanished come back once their lease has run out; this
    // worker holds nothing right now, so none of them are its own.
    m_store->releaseExpiredLeases(m_clock->nowMs());
    // In-memory counts drift when another worker shares the job: ask the store.
    m_work.counts = m_store->taskCounts(m_job.id);
    // A cache delete still unanswered would leave its whole TTL charged: wait for it.
    if (m_work.counts.pending == 0 && m_work.counts.leased == 0 && !m_standing &&
        !m_provider->chargesSettling()) {
        emitProgress(true);
        stop(JobState::Finished, QString(), false);
        return;
    }
    if (m_work.counts.pending == 0 && m_work.counts.leased == 0)
        m_urgentTasks = 0; // an empty queue has nothing urgent, whoever settled it
    qint64 wait = m_options.idlePollMs;
    if (m_work.counts.pending > 0) {
        const qint64 now = m_clock->nowMs();
        const auto next = m_store->nextPendingAtMs(m_job.id);
        if (next && *next <= now) {
            m_work.claimedEverything = false;
            QMetaObject::invokeMethod(this, &JobRunner::pump, Qt::QueuedConnection);
            return;
        }
        if (next)
            wait = qMin(wait, *next - now);
    }
    m_work.claimedEverything = false;
    emitProgress(false);
    m_wakeTimer.start(int(qMax<qint64>(1, wait)));
}

void JobRunner::stop(JobState state, const QString &reason, bool cancelInFlight)
{
    if (!m_running)
        return;
    if (!m_stopping) {
        m_stopping = true;
        m_stopState = state;
        m_stopReason = reason;
        m_wakeTimer.stop();
        m_offPeak.stop();
    }
    if (cancelInFlight && (!m_inFlight.isEmpty() || !m_classifier.isEmpty()))
        m_provider->cancelAll(); // answers arrive as Cancelled and release their tasks
    if (state == JobState::Cancelled && batchesOpen())
        m_batches
            ->cancelAll(); // a paused job's batches go on at the provider; a cancelled one's stop
    if (m_inFlight.isEmpty() && m_classifier.isEmpty())
        finishIfDrained();
}

void JobRunner::finishIfDrained()
{
    if (!m_running)
        return;
    // Leased but never sent: back to pending without charging an attempt.
    releaseReady();
    flush();
    if (!m_running)
        return;
    m_leaseTimer.stop();
    m_running = false;
    m_stopping = false;
    bool writeState = true;
    if (m_stopState == JobState::Paused && stopCauseOf(m_stopReason) == StopCause::EngineShutdown) {
        // Several workers share the job: one that stops does not pause it for the others.
        // Nothing left: it is finished (whoever settled the last task); another engine
        // started it since this one did: that one keeps it running.
        const auto job = m_store->job(m_job.id);
        // A standing queue never finishes by itself: it waits for the next submission.
        if (job && job->counts.unfinished() == 0 && !m_standing) {
            m_stopState = JobState::Finished;
            m_stopReason.clear();
        } else if (job && job->state == JobState::Running && !job->runner.isEmpty() &&
                   job->runner != m_workerId) {
            writeState = false;
        }
    }
    if (writeState &&
        !m_store->setJobState(m_job.id, m_stopState, m_stopReason, m_clock->nowMs())) {
        Q_EMIT failed(m_job.id, m_store->errorString());
        return;
    }
    m_work.counts = m_store->taskCounts(m_job.id);
    readTotals();
    emitProgress(true);
    Q_EMIT finished(m_job.id, m_stopState, m_stopReason);
}

void JobRunner::emitProgress(bool force)
{
    if (!force && m_sinceProgress.elapsed() < m_options.progressIntervalMs)
        return;
    m_sinceProgress.restart();
    Q_EMIT progressed(m_job.id, m_work.counts, m_usage, m_budget.spentUsd());
}

void JobRunner::readTotals()
{
    double spent = 0.0;
    m_store->jobTotals(m_job.id, &m_usage, &spent, nullptr);
    m_budget.setSpent(spent);
}

double JobRunner::sentPerMinute(qint64 nowMs)
{
    constexpr qint64 kWindowMs = 10'000;
    while (!m_sentAtMs.isEmpty() && m_sentAtMs.head() <= nowMs - kWindowMs)
        m_sentAtMs.dequeue();
    return double(m_sentAtMs.size()) * 60'000.0 / double(kWindowMs);
}

bool JobRunner::isHeldByBreaker(qint64 nowMs)
{
    return m_router.guardFor(m_router.modelOf(0)).breaker.state(nowMs) ==
           CircuitBreaker::State::Open;
}

void JobRunner::budgetRefused(double extraUsd, bool ownWorkInFlight)
{
    m_heldByBudget = true;
    switch (m_budget.refusal(extraUsd, ownWorkInFlight)) {
    case BudgetGate::Refusal::WaitForOwnAnswers:
        return;
    case BudgetGate::Refusal::WaitForOthers:
        m_wakeTimer.start(int(m_options.idlePollMs)); // other jobs' answers free room
        return;
    case BudgetGate::Refusal::PauseForJobCap: {
        // The job's own cap names the job's figures; the global one's alert is the
        // engine's, raised for every job at once.
        const metrics::AlertEvent alert = m_accounting.budgetExhausted();
        Q_EMIT alertRaised(alert.jobId, alert.kind, alert.message, alert.figures);
        stop(JobState::Paused, alert.message, false);
        return;
    }
    case BudgetGate::Refusal::PauseForGlobalCap:
        stop(JobState::Paused, stopCauseReason(StopCause::GlobalBudget), false);
        return;
    }
}

void JobRunner::noteWritten(const QList<TaskTransition> &transitions, int skipped)
{
    double written = 0.0;
    qint64 completed = 0;
    for (const TaskTransition &transition : transitions) {
        written += transition.outcome.rejectedCostUsd;
        if (transition.action == OutcomeAction::Complete) {
            written += transition.outcome.costUsd.value_or(0.0);
            ++completed;
        }
    }
    // Skipped ones (a lease that had ended) were late answers: not completed here.
    m_completedHere += qMax<qint64>(0, completed - skipped);
    m_budget.written(written);
}

double JobRunner::maxCostUsd(const QString &model, qint64 promptTokens, bool viaBatchApi) const
{
    // Every input token at the dearest input kind (a cache write costs more than input).
    return m_prices.maxCost(model, promptTokens, m_job.spec.maxOutputTokens, viaBatchApi)
        .value_or(0.0);
}

const TaskPrompts::Revision *JobRunner::templateFor(int revision)
{
    QString error;
    const TaskPrompts::Revision *parsed = m_prompts.revision(revision, &error);
    if (!parsed)
        fatal(error);
    return parsed;
}

void JobRunner::answeredWithoutRequest(const ClaimedTask &task, const TaskTransition &transition,
                                       qint64 waitMs)
{
    m_accounting.answeredWithoutRequest(task, transition, waitMs);
}

bool JobRunner::databaseAwayNow()
{
    if (m_databaseAway)
        return true;
    if (!m_connectionLost || !m_connectionLost())
        return false;
    databaseAway();
    Q_EMIT databaseUnreachable(u"the server closed the connection"_s);
    return true;
}

void JobRunner::databaseAway()
{
    m_databaseAway = true;
    m_wakeTimer.stop();
}

void JobRunner::databaseBack()
{
    if (!std::exchange(m_databaseAway, false))
        return;
    flush();
    if (!m_running || m_databaseAway)
        return;
    m_store->renewLeases(m_workerId, m_clock->nowMs() + m_options.leaseMs);
    pump();
}

void JobRunner::abandonForLostDatabase(const QString &error)
{
    m_connectionLost = nullptr;
    m_databaseAway = false;
    m_work.toWrite.clear();
    fatal(error);
}

void JobRunner::fatal(const QString &error)
{
    if (m_connectionLost && m_connectionLost()) {
        // The server went (a restart, a network blip): the engine reconnects; the job
        // goes on then.
        databaseAway();
        Q_EMIT databaseUnreachable(error);
        return;
    }
    m_running = false;
    m_stopping = false;
    m_wakeTimer.stop();
    m_leaseTimer.stop();
    m_flushTimer.stop();
    m_offPeak.stop();
    if (m_provider->inFlight() > 0)
        m_provider->cancelAll();
    Q_EMIT failed(m_job.id, error);
}

} // namespace bd::dispatch
