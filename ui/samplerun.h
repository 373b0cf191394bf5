#pragma once

#include "api/engine.h"

#include <optional>
#include <QObject>
#include <QPointer>

namespace bd::ui {

// One candidate of a sample: how the whole file would run (a checked draft as the import
// wizard builds it: provider, model, template, fields), under a short label ("A", "B", "C").
struct SampleCandidate
{
    QString label;
    JobDraft draft;
};

// What became of one candidate's sample job.
struct SampleOutcome
{
    QString label;
    JobSpec spec;           // as the engine checked it (the model resolved)
    qint64 jobId = 0;       // 0 until imported
    bool continued = false; // the same sample ran before: its answers are shown again
    QString error;          // why it did not run or stopped early (check, import, key, budget ...)
    bool stopped = false;   // the job came to rest (finished, paused or failed)
    TaskCounts counts;
    Usage usage;
    double costUsd = 0;
    std::optional<JobInfo> job; // read back once it stopped
    std::optional<SampleProjection> projection;
    QList<TaskRow> rows; // the sample's rows in input order
    bool rowsRead = false;
    qint64 meanLatencyMs = -1; // of the rows sent (cache hits left out)

    bool isDone() const { return jobId == 0 ? !error.isEmpty() : stopped && job && rowsRead; }
};

// How long the whole file would take on synchronous calls, from the sample's mean latency:
// rows / concurrency round trips, or rows / rpm minutes when a rate is set and slower. -1
// when the sample gives no latency.
qint64 projectedSeconds(qint64 rows, qint64 meanLatencyMs, int concurrency, int rpm = 0);

// Runs a sample (CLI.md --sample N) of one input for up to three candidates through the
// facade, as real jobs: each is checked, imported (one after the other: the engine's
// import answers carry no ticket) and started on synchronous calls at priority 1 whatever
// lane the whole file would take, so the user waits seconds, not the batch window; the
// lane is not part of the response cache's key, so the whole file's run still reuses the
// answers. Once every candidate's job stops, its rows and totals are read back and, for
// two or three candidates, compared (Engine::compareSamples). Everything is asynchronous:
// the GUI thread never waits.
class SampleRun final : public QObject
{
    Q_OBJECT

public:
    explicit SampleRun(Engine *engine, QObject *parent = nullptr);
    ~SampleRun() override;

    static constexpr int kMaxCandidates = 3;

    // Starts a new run; false while one is under way (isRunning()).
    bool start(const QList<SampleCandidate> &candidates, int rows);
    // Pauses the jobs still running and imports or starts nothing more (the user went
    // back or closed the window); finished() follows once everything came to rest.
    void stop();
    bool isRunning() const { return m_running; }
    int sampleRows() const { return m_rows; }

    const QList<SampleOutcome> &outcomes() const { return m_outcomes; }
    // Two or three candidates answered: how often they agree, field by field.
    const std::optional<SampleComparison> &comparison() const { return m_comparison; }

Q_SIGNALS:
    // Something moved: a candidate was checked, imported, answered rows, or stopped.
    void progressed();
    void finished();

private:
    void checkNext();
    void handleChecked(quint64 ticket, const JobCheck &check);
    void handleImported(const ImportResult &result);
    void handleProgress(qint64 jobId, const TaskCounts &counts, const Usage &usage, double costUsd);
    void handleStopped(qint64 jobId, JobState state, const QString &reason);
    void handleFailed(qint64 jobId, const QString &error);
    void handleJobs(const QList<JobInfo> &jobs);
    void handleRows(quint64 ticket, qint64 offset, const QList<TaskRow> &rows);
    void handleCompared(quint64 ticket, const SampleComparison &comparison);
    void handleReadFailed(quint64 ticket, const QString &error);
    void readBack(SampleOutcome &outcome);
    void checkFinished();
    SampleOutcome *outcomeOfJob(qint64 jobId);

    QPointer<Engine> m_engine;
    QList<SampleCandidate> m_candidates;
    QList<SampleOutcome> m_outcomes;
    std::optional<SampleComparison> m_comparison;
    int m_rows = 10;
    int m_next = 0; // the candidate being checked and imported
    quint64 m_checkTicket = 0;
    bool m_importing = false;
    bool m_running = false;
    bool m_stopRequested = false; // stop(): nothing more is imported or started
    quint64 m_compareTicket = 0;
    QHash<quint64, qint64> m_rowTickets; // task page requests: ticket -> job
};

} // namespace bd::ui
