// The reader's side of standing queues: queue figures, task results and the webhook
// outbox, read on the reader thread's own connection.
#include "queueinfo.h"
#include "readerworker.h"
#include "store/database.h"
#include "store/intake.h"
#include "store/store.h"

#include <QJsonDocument>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

QueueSpec specOf(const store::QueueRecord &record)
{
    QString error;
    QueueSpec spec = QueueSpec::fromJson(record.definition, &error).value_or(QueueSpec{});
    spec.name = record.name;
    return spec;
}

// The schema's top-level properties as the answer gives them (absent when the answer is not
// a JSON object).
QJsonObject fieldsOf(const QString &output, const QJsonObject &schema)
{
    QJsonObject fields;
    const QJsonObject answer = QJsonDocument::fromJson(output.toUtf8()).object();
    const QJsonObject properties = schema.value(u"properties"_s).toObject();
    for (auto it = properties.begin(); it != properties.end(); ++it) {
        if (answer.contains(it.key()))
            fields.insert(it.key(), answer.value(it.key()));
    }
    return fields;
}

} // namespace

QueueInfo describeQueue(const store::QueueRecord &record, store::Store &store)
{
    QueueInfo info;
    info.name = record.name;
    info.jobId = record.jobId;
    info.spec = specOf(record);
    if (const auto job = store.job(record.jobId)) {
        info.state = job->state;
        info.stateReason = job->stateReason;
    }
    return info;
}

QueueInfo ReaderWorker::queueInfo(const QString &name)
{
    QueueInfo info;
    const auto record = m_database->intake().queue(name);
    if (!record)
        return info;
    info = describeQueue(*record, *m_store);
    info.counts = m_store->taskCounts(record->jobId);
    m_store->jobTotals(record->jobId, nullptr, &info.costUsd, nullptr);
    return info;
}

void ReaderWorker::readQueue(quint64 ticket, const QString &name)
{
    if (!ensureOpen())
        return;
    const QueueInfo info = queueInfo(name);
    if (!info.jobId && !m_database->intake().errorString().isEmpty()) {
        Q_EMIT readFailed(0, m_database->intake().errorString());
        return;
    }
    Q_EMIT queueRead(ticket, info);
}

void ReaderWorker::listQueues()
{
    if (!ensureOpen())
        return;
    QList<QueueInfo> queues;
    for (const store::QueueRecord &record : m_database->intake().queues())
        queues.append(describeQueue(record, *m_store));
    Q_EMIT queuesListed(queues);
}

QList<QueueTaskResult> ReaderWorker::asResults(QList<QueueTaskResult> records)
{
    QHash<qint64, store::QueueRecord> queueOfJob;
    if (!records.isEmpty()) {
        for (const store::QueueRecord &queue : m_database->intake().queues())
            queueOfJob.insert(queue.jobId, queue);
    }
    for (QueueTaskResult &result : records) {
        const store::QueueRecord queue = queueOfJob.value(result.jobId);
        result.queue = queue.name;
        result.hasSchema = !queue.schema.isEmpty();
        if (result.hasSchema && result.state == TaskState::Completed)
            result.fields = fieldsOf(result.output, queue.schema);
    }
    return records;
}

void ReaderWorker::readQueueTasks(quint64 ticket, const QList<qint64> &taskIds)
{
    if (!ensureOpen())
        return;
    const auto records = m_database->intake().results(taskIds);
    if (records.isEmpty() && !m_database->intake().errorString().isEmpty()) {
        Q_EMIT readFailed(0, m_database->intake().errorString());
        return;
    }
    Q_EMIT queueTasksRead(ticket, asResults(records));
}

void ReaderWorker::readUndelivered(quint64 ticket, qint64 jobId, int limit)
{
    if (!ensureOpen())
        return;
    Q_EMIT queueTasksRead(ticket, asResults(m_database->intake().undelivered(jobId, limit)));
}

} // namespace bd
