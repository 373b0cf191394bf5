#pragma once

#include <QJsonObject>
#include <QLatin1String>
#include <QString>

#include <optional>

// A job's settings: what a front end may set, by name, in one place. They are stored with
// the job as JSON (JobSpec::settings) under these keys; JobSettings reads and writes that
// object so that no layer spells a key itself.
namespace bd {

namespace settingkeys {
inline constexpr QLatin1String concurrency{"concurrency"};     // requests in flight
inline constexpr QLatin1String rpm{"rpm"};                     // requests per minute, paced
inline constexpr QLatin1String tpm{"tpm"};                     // tokens per minute
inline constexpr QLatin1String budgetUsd{"budget_usd"};        // the job's own cap
inline constexpr QLatin1String batchSize{"batch_size"};        // lines per provider batch
inline constexpr QLatin1String batchPollMs{"batch_poll_ms"};   // first poll of a provider batch
// Deadline of the batch API's calls (uploads, creates, polls, result downloads): a call that
// hangs is an outage of the batch endpoints once it passes (providers/httpchatprovider.h).
inline constexpr QLatin1String apiDeadlineMs{"api_deadline_ms"};
inline constexpr QLatin1String batchMaxWaitMs{"batch_max_wait_ms"};
inline constexpr QLatin1String maxConcurrentBatches{"max_concurrent_batches"};
inline constexpr QLatin1String groupSizes{"group_sizes"};      // [small, medium, large]
inline constexpr QLatin1String mediumDepth{"medium_depth"};
inline constexpr QLatin1String largeDepth{"large_depth"};
inline constexpr QLatin1String offpeak{"offpeak"};             // {start, end, timezone}
inline constexpr QLatin1String offpeakRunNow{"offpeak_run_now"};
inline constexpr QLatin1String responseCache{"response_cache"}; // false: off for the job
inline constexpr QLatin1String tiering{"tiering"};             // the bound tiering config
inline constexpr QLatin1String csvDelimiter{"csv_delimiter"};
inline constexpr QLatin1String csvEncoding{"csv_encoding"};
// Structured answers: the JSON Schema as compact text in its own key order (Qt's objects
// would sort the fields), checked at import (ingest/outputschema.h).
inline constexpr QLatin1String outputSchema{"output_schema"};
// How an OpenAI-compatible server is asked for structured answers: "json_schema" (the
// default) or "json_object" (JSON mode, the schema told in the system prompt) for servers
// without json_schema support.
inline constexpr QLatin1String structuredOutput{"structured_output"};
// The standing queue (intake API) a job is: its name. Such a job never finishes by itself.
inline constexpr QLatin1String intakeQueue{"intake_queue"};
// Where queues of earlier versions kept their answer schema (an object): read as an alias of
// outputSchema and moved there when the queue's job next runs (dispatch/jobrunner.cpp). A
// queue's schema is its job's outputSchema now.
inline constexpr QLatin1String legacyQueueSchema{"schema"};
// A sample job (CLI.md --sample N): only this many rows of the input, spread evenly over it,
// as a job of its own; the import adds how many data rows the whole input has.
inline constexpr QLatin1String sampleRows{"sample_rows"};
inline constexpr QLatin1String sampleOfRows{"sample_of_rows"};
// Finish by (CLI.md --deadline), ms since the epoch: the engine picks the lane itself and
// re-plans while the job runs.
inline constexpr QLatin1String deadlineMs{"deadline_ms"};
// Simulator knobs, for demos and tests.
inline constexpr QLatin1String simLatencyMs{"latency_ms"};
inline constexpr QLatin1String simFailureRate{"failure_rate"};
inline constexpr QLatin1String simRpm{"sim_rpm"};
} // namespace settingkeys

// Keys of the settings every process on a database shares (Store::setting).
namespace databasekeys {
inline constexpr QLatin1String globalBudgetUsd{"global_budget_usd"};
inline constexpr QLatin1String globalBudgetPeriod{"global_budget_period"};
} // namespace databasekeys

// The typed view of a job's settings. Unset fields are absent from the JSON, so a job's own
// settings can be merged over defaults key by key (defaults fill only what a job lacks).
struct JobSettings
{
    std::optional<int> concurrency;
    std::optional<int> rpm;
    std::optional<int> tpm;
    std::optional<double> budgetUsd;
    std::optional<int> batchSize;
    std::optional<int> batchPollMs;
    std::optional<int> apiDeadlineMs;
    std::optional<qint64> batchMaxWaitMs;
    std::optional<int> maxConcurrentBatches;
    std::optional<QJsonObject> offpeak;
    bool offpeakRunNow = false;
    std::optional<bool> responseCache;
    std::optional<QJsonObject> tiering;
    QString csvDelimiter;
    QString csvEncoding;
    QString outputSchema; // empty: free-text answers
    std::optional<int> simLatencyMs;
    std::optional<double> simFailureRate;
    std::optional<int> simRpm;
    // Keys this struct does not model (group sizes, depths ...) are carried through.
    QJsonObject other;

    static JobSettings fromJson(const QJsonObject &json);
    QJsonObject toJson() const;
};

// Why a job stopped, for front ends that must tell the causes apart. Stored as the job's
// state reason text; stopCauseOf() reads it back.
enum class StopCause : int
{
    Other = 0,      // a reason without a cause of its own (the text says it)
    User,           // paused by the user
    EngineShutdown, // the process that ran it closed: resumable as it was
    Imported,       // imported, not started yet
    Budget,         // the job's own budget is spent
    GlobalBudget,   // the database's global budget is reached
    Quota,          // the provider's quota is exhausted
    Auth,           // the provider refused the key
    MissingKey,     // no key for a provider that needs one
    DiskFull,       // the database's disk refused a write: resumable once there is room
};

// The state reason text a cause is stored as.
QString stopCauseReason(StopCause cause);
StopCause stopCauseOf(const QString &stateReason);

enum class JobState : int; // types.h

// A paused job nobody has stopped on purpose: imported and not started yet, or handed back
// by a process that closed. Any worker, serve or console on the database may take it up.
bool waitsForAWorker(JobState state, const QString &stateReason);

} // namespace bd
