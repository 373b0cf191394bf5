#pragma once

#include "core/tasktypes.h"
#include "providers/provider.h"

#include <optional>
#include <QHash>
#include <QList>
#include <QObject>
#include <QString>

namespace bd {
class Clock;
}
namespace bd::store {
class Store;
class WorkerRegistry;
}

namespace bd::dispatch {

class BudgetGate;

// The provider batches of one job (the batch-API lane: half price, results within 24 h):
// opening them, polling them with backoff, fetching and settling their results, looking up
// one whose id was lost, adopting those of a worker that died, handing their lines back
// when the provider fails a batch as a whole, and cancelling them. The provider's batch id
// is stored the moment it exists and the lines stay leased under the batch's own owner
// name while the provider holds them, so a restarted engine polls the batch instead of
// submitting its lines again. What becomes of each line (its transition, cost, cache
// entry, followers) and when to pump again are the runner's: it is this lane's Host.
// Engine-thread only; timers for the polls.
class BatchLane final : public QObject
{
    Q_OBJECT

public:
    class Host
    {
    public:
        virtual ~Host() = default;
        virtual bool laneRunning() const = 0;
        // A task's provider-batch line, as sent; nullopt when it cannot be built (the
        // runner has failed then).
        virtual std::optional<providers::ChatRequest> batchLine(const ClaimedTask &task,
                                                                qint64 *promptTokens) = 0;
        // Response cache: true when the line needs no request of its own (it waits for the
        // same request in flight, or was answered from the cache); else *key is the key it
        // leads once it goes (leadLine()).
        virtual bool lineCoalesced(const ClaimedTask &task, const providers::ChatRequest &line,
                                   QByteArray *key) = 0;
        virtual void leadLine(const QByteArray &key, qint64 taskId) = 0;
        // The most a line can cost at the batch price.
        virtual double lineMaxCostUsd(const QString &model, qint64 promptTokens) const = 0;
        // A claimed line goes back unsent (its route is forgotten).
        virtual void lineUnsent(qint64 taskId) = 0;
        // One line's answer (or failure) as its task's transition; the task's duplicates
        // waiting for it follow.
        virtual TaskTransition settleLine(const ClaimedTask &task,
                                          const providers::ChatReply &reply, qint64 sentAtMs) = 0;
        // A line handed back to pending unsent: its duplicates waiting for it follow.
        virtual void lineHandedBack(const TaskTransition &release) = 0;
        // `count` lines went from leased to pending.
        virtual void linesReturned(int count) = 0;
        // Settled lines were written (skipped: answers whose lease had ended).
        virtual void linesWritten(const QList<TaskTransition> &transitions, int skipped) = 0;
        // The batch endpoints failed for the provider's reasons, or answered again.
        virtual void batchEndpointFailed(const QString &why) = 0;
        virtual void batchEndpointAnswered() = 0;
        // A batch settled or went back (settled: its results are stored): work may go on.
        virtual void batchClosed(bool settled) = 0;
        virtual void batchOpened(int lines, int capacity) = 0;
        virtual void chargeRecorded() = 0;
        virtual void laneFailed(const QString &error) = 0;
    };

    struct Options
    {
        qint64 jobId = 0;
        QString workerId;
        int maxBatchSize = 10'000;
        qint64 pollFirstMs = 5'000;         // first poll of a batch; later ones back off
        qint64 pollMaxMs = 300'000;         // ... up to this
        qint64 batchLeaseMs = 26LL * 3600 * 1000; // lines' lease while the provider holds them
        qint64 workerLeaseMs = 30'000;      // a worker this long silent has its batches adopted
    };

    BatchLane(Host *host, store::Store *store, providers::Provider *provider, Clock *clock,
              BudgetGate *budget, const Options &options, QObject *parent = nullptr);

    // Provider batches are polled by one worker at a time (see JobRunner).
    void setWorkerRegistry(store::WorkerRegistry *registry) { m_registry = registry; }
    void setMaxBatchSize(int size) { m_options.maxBatchSize = size; }

    int openCount() const { return int(m_live.size()); }
    bool isEmpty() const { return m_live.isEmpty(); }

    // Takes up the job's open batches (at start): polls those with an id, looks up those
    // without; false when the runner failed meanwhile.
    bool recover();
    // Adopts the open batches of workers whose heartbeat is older than the lease; the
    // number of such batches seen (-1: the runner failed meanwhile).
    int adoptOrphans();
    enum class Sent
    {
        Opened,     // one provider batch per model (over-budget lines went back pending)
        Answered,   // every line was answered from the cache or waits for its leader
        OverBudget, // no line fits the budget: all went back pending (refusedUsd)
        Failed,     // a line could not be built, or the store failed: the runner failed
    };
    struct Sending
    {
        Sent sent = Sent::Opened;
        double refusedUsd = 0.0; // the cheapest line the budget could not cover
    };
    // A closed batch's claimed tasks: their lines are built, coalesced through the response
    // cache and reserved against the budget (the lines it cannot cover go back pending,
    // uncharged), then opened as one provider batch per model.
    Sending send(const QList<ClaimedTask> &tasks, qint64 now);
    // Records one batch of `requests` (one model), hands its lines over and submits it.
    // reservation: the most its lines can cost (held until it settles). False: failed.
    bool open(const QList<providers::ChatRequest> &requests,
              const QHash<qint64, ClaimedTask> &tasks, double reservation);
    // The job is cancelled: asks the provider to stop every open batch, hands the lines
    // back uncharged.
    void cancelAll();

private:
    struct Live
    {
        qint64 rowId = 0;
        QString providerBatchId;
        QString owner; // lease owner of its lines while the provider holds them
        QHash<qint64, ClaimedTask> tasks;
        qint64 submittedAtMs = 0;
        double reservedUsd = 0.0;
        int polls = 0;
        bool fetching = false;
        // Recovered without a provider id: the requests the lookup matches on (findBatch).
        QList<providers::ChatRequest> lookup;
        qint64 createdAtMs = 0;
        int lookups = 0;
    };

    bool adopt(const ProviderBatchRecord &record, qint64 now);
    void handleSubmitted(const QString &reference, const QString &batchId, ErrorClass error,
                         const QString &errorMessage);
    void handlePolled(const providers::BatchStatus &status);
    void handleFound(const QString &reference, const QString &batchId, ErrorClass error,
                     const QString &errorMessage);
    void handleResults(const QString &batchId, const QList<providers::ChatReply> &replies,
                       ErrorClass error, const QString &errorMessage);
    void handleCharged(const QString &key, const QString &model, double usd,
                       const QString &detail);
    // A batch the provider does not have, or failed as a whole for the provider's
    // reasons: its lines go back to pending uncharged.
    void handBack(qint64 rowId);
    void endpointFailed(qint64 rowId, const QString &why);
    // Every line gets the batch's answer as its own (refused or failed for its own reasons).
    void failLines(qint64 rowId, ErrorClass error, const QString &message);
    // Stores the replies as the lines' outcomes (a line without one: expired), then marks
    // the batch endState.
    void settle(qint64 rowId, const QList<providers::ChatReply> &replies, const QString &endState);
    void schedulePoll(qint64 rowId);
    void fail(const QString &error);

    Host *m_host;
    store::Store *m_store;
    providers::Provider *m_provider;
    Clock *m_clock;
    BudgetGate *m_budget;
    Options m_options;
    store::WorkerRegistry *m_registry = nullptr;
    QHash<qint64, Live> m_live;             // by batch row id
    QHash<QString, qint64> m_rowByProvider; // provider batch id -> row id
};

} // namespace bd::dispatch
