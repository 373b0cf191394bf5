#pragma once

// Fakes for tests of the batch-API lane (BatchLane, BatchApiDispatch): a provider whose
// batch answers the test gives, and a BatchLane::Host that records what the lane asks of
// its runner.

#include "core/tasktypes.h"
#include "dispatch/batchlane.h"
#include "providers/provider.h"

#include <QHash>
#include <QSet>
#include <QStringList>

namespace bd::testing {

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::TaskTransition;
using bd::providers::ChatReply;
using bd::providers::ChatRequest;

// A provider batch API whose answers the test emits itself.
class ScriptedBatches final : public bd::providers::Provider
{
public:
    QString id() const override { return u"scripted"_s; }
    QString displayName() const override { return u"Scripted"_s; }
    QString defaultModel() const override { return u"m-1"_s; }
    bool hasBatchApi() const override { return true; }
    bool canFindBatches() const override { return findable; }
    void send(const ChatRequest &) override {}
    void cancelAll() override {}
    int inFlight() const override { return 0; }
    void submitBatch(const QString &reference, const QList<ChatRequest> &requests) override
    {
        submitted.append({reference, requests});
    }
    void pollBatch(const QString &batchId) override { polled.append(batchId); }
    void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds) override
    {
        fetched.append(batchId);
        fetchedIds = taskIds;
    }
    void cancelBatch(const QString &batchId) override { cancelled.append(batchId); }
    void findBatch(const QString &reference, const QList<ChatRequest> &requests, qint64) override
    {
        lookups.append({reference, requests});
    }

    bool findable = false;
    QList<std::pair<QString, QList<ChatRequest>>> submitted;
    QList<std::pair<QString, QList<ChatRequest>>> lookups;
    QStringList polled;
    QStringList fetched;
    QList<qint64> fetchedIds;
    QStringList cancelled;
};

// The runner's side of a BatchLane, recorded.
class RecordingLaneHost final : public bd::dispatch::BatchLane::Host
{
public:
    bool laneRunning() const override { return true; }
    std::optional<ChatRequest> batchLine(const ClaimedTask &task, qint64 *promptTokens) override
    {
        ChatRequest request;
        request.taskId = task.id;
        request.model = modelOf.value(task.id, u"m-1"_s);
        request.prompt = u"line "_s + task.values.value(0);
        *promptTokens = 3;
        return request;
    }
    bool lineCoalesced(const ClaimedTask &task, const ChatRequest &, QByteArray *key) override
    {
        *key = "key-" + QByteArray::number(task.id);
        return coalescedIds.contains(task.id);
    }
    void leadLine(const QByteArray &key, qint64) override { led.append(key); }
    double lineMaxCostUsd(const QString &, qint64) const override { return lineCostUsd; }
    void lineUnsent(qint64 taskId) override { unsent.append(taskId); }
    TaskTransition settleLine(const ClaimedTask &task, const ChatReply &reply, qint64) override
    {
        settledReplies.append(reply);
        bd::TaskOutcome outcome;
        outcome.taskId = task.id;
        outcome.output = reply.text;
        outcome.error = reply.error;
        outcome.errorMessage = reply.errorMessage;
        outcome.costUsd = reply.ok() ? std::optional(0.25) : std::nullopt;
        TaskTransition transition;
        transition.outcome = outcome;
        transition.action =
            reply.ok() ? bd::OutcomeAction::Complete : bd::OutcomeAction::DeadLetter;
        return transition;
    }
    void lineHandedBack(const TaskTransition &release) override
    {
        handedBack.append(release.outcome.taskId);
    }
    void linesReturned(int count) override { returned += count; }
    void linesWritten(const QList<TaskTransition> &transitions, int skipped) override
    {
        written += int(transitions.size()) - skipped;
    }
    void batchEndpointFailed(const QString &why) override { outages.append(why); }
    void batchEndpointAnswered() override { ++answered; }
    void batchClosed(bool settled) override { closed.append(settled); }
    void batchOpened(int lines, int capacity) override { opened.append({lines, capacity}); }
    void chargeRecorded() override { ++charges; }
    void laneFailed(const QString &error) override { failures.append(error); }

    QHash<qint64, QString> modelOf; // a tiered job's lines (default m-1)
    QSet<qint64> coalescedIds;      // lines answered without a request
    QList<QByteArray> led;
    double lineCostUsd = 0.25;
    QList<qint64> unsent;
    QList<ChatReply> settledReplies;
    QList<qint64> handedBack;
    int returned = 0;
    int written = 0;
    QStringList outages;
    int answered = 0;
    QList<bool> closed;
    QList<std::pair<int, int>> opened;
    int charges = 0;
    QStringList failures;
};

} // namespace bd::testing
