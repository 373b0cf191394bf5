#pragma once

#include "api/credentials.h"
#include "api/engine.h"
#include "cli.h"
#include "keystore.h"
#include "terminalprogress.h"

#include <QElapsedTimer>
#include <QEventLoop>
#include <QHash>

#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>

namespace batchctl {

struct JobOutcome
{
    qint64 jobId = 0;
    bool failed = false;
    QString error;
};

// One command's engine and what it keeps around it: the keys it resolved, the progress
// line, the clock for elapsed_s. The engine answers every call by signal; ask() issues a
// call and waits for the matching answer in a local event loop, which a headless program
// may do on its main thread (nothing else is waiting on it).
class Session final
{
public:
    // ReadOnly: status, export, listings: the engine only reads (nothing written, no
    // leases released), so a look at a database changes nothing in it.
    enum class Access
    {
        ReadWrite,
        ReadOnly,
        WriteOnce, // writes and runs nothing (submit, job, budget): not in the worker list
    };
    // runner: the engine's lease, heartbeat and runner tuning (worker's hidden options).
    Session(const QString &database, bool json, const QJsonObject &monitoring = {},
            Access access = Access::ReadWrite, const bd::RunnerDefaults &runner = {});
    ~Session();
    Q_DISABLE_COPY_MOVE(Session)

    bd::Engine &engine() { return *m_engine; }
    bool json() const { return m_json; }
    double elapsedSeconds() const { return double(m_timer.elapsed()) / 1000.0; }
    TerminalProgress &progress() { return m_progress; }

    // Issues call(), then waits until signal is emitted with arguments match() accepts;
    // returns them. nullopt when the engine reported a read failure first (printed).
    template<typename... Args, typename Call, typename Match>
    std::optional<std::tuple<std::decay_t<Args>...>> ask(void (bd::Engine::*signal)(Args...),
                                                         Call call, Match match)
    {
        std::optional<std::tuple<std::decay_t<Args>...>> answer;
        bool done = false;
        QEventLoop loop;
        QObject::connect(m_engine.get(), signal, &loop, [&](Args... args) {
            if (done || !match(args...))
                return;
            answer.emplace(args...);
            done = true;
            loop.quit();
        });
        QObject::connect(m_engine.get(), &bd::Engine::readFailed, &loop,
                         [&](quint64, const QString &error) {
                             if (done)
                                 return;
                             printErr(error);
                             done = true;
                             loop.quit();
                         });
        call();
        if (!done)
            loop.exec();
        return answer;
    }
    template<typename... Args, typename Call>
    std::optional<std::tuple<std::decay_t<Args>...>> ask(void (bd::Engine::*signal)(Args...),
                                                         Call call)
    {
        return ask(signal, std::move(call), [](const auto &...) { return true; });
    }

    // Opens (and if need be creates) the database; prints why not.
    bool open();

    // The draft checked by the engine's rules; a refusal is a UsageError.
    bd::JobCheck check(const bd::JobDraft &draft);
    // What a checked job would cost; a refusal is a UsageError.
    bd::JobEstimate estimate(const bd::JobSpec &spec);
    // Every job of the database, or nullopt when they cannot be read (printed).
    std::optional<QList<bd::JobInfo>> jobs();
    std::optional<bd::JobInfo> job(qint64 jobId);
    // Imports with a progress line; Ctrl-C, SIGTERM or SIGHUP stop it (nothing is kept)
    // and importInterrupted() says so.
    bd::ImportResult import(const bd::JobSpec &spec);
    // The same for a job a crash left importing (Engine::finishInterruptedImport).
    bd::ImportResult finishInterruptedImport(qint64 jobId);
    bool importInterrupted() const { return m_importInterrupted; }

    // The endpoint the job would be started with (its base URL, else the variable) is one
    // its provider accepts; else a UsageError. Unknown providers are left to check().
    void checkEndpoint(const bd::JobSpec &spec);

    // The key each of these providers needs, settled before any job starts: a required key
    // found nowhere is a UsageError naming both places. Keys stay in memory.
    void resolveKeys(const QStringList &providers);

    // How a job on this provider is started: its endpoint (the job's, else the variable), the
    // key resolved before (resolveKeys) and the settings.
    bd::ProviderConfig providerConfig(const QString &provider, const QString &baseUrl,
                                      const QJsonObject &settings) const;

    // Runs the jobs to rest (finished, paused or failed), all at once; Ctrl-C pauses them.
    QList<JobOutcome> runJobs(const QList<bd::JobInfo> &jobs, const QJsonObject &runtimeSettings);

    // Prints one job (run) or several (resume) and returns the combined exit code.
    int report(const QList<JobOutcome> &outcomes, const QList<qint64> &jobIds, bool forceList);

    // Writes the job's rows on the engine's reader thread, with a progress line.
    bool exportJob(qint64 jobId, const QString &path, QString *error);

private:
    bd::ImportResult runImport(const std::function<void()> &start);

    std::unique_ptr<bd::Engine> m_engine;
    bool m_json;
    QElapsedTimer m_timer;
    bd::secrets::KeyStore m_keyStore;
    bd::CredentialResolver m_credentials;
    QHash<QString, QString> m_apiKeys; // provider -> key, in memory only
    TerminalProgress m_progress;
    bool m_importInterrupted = false;
};

} // namespace batchctl
