// The engine thread's side of standing queues (the intake API): defining a queue over a job
// of its own, and submissions with keys, priorities and backpressure.
#include "api/jobsettings.h"
#include "core/clock.h"
#include "engineworker.h"
#include "queueinfo.h"
#include "ingest/outputschema.h"
#include "ingest/prompttemplate.h"
#include "metrics/alertcenter.h"
#include "metrics/monitoring.h"
#include "store/database.h"
#include "store/store.h"

#include <QCryptographicHash>
#include <QJsonArray>
#include <QJsonDocument>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

constexpr int kMaxKeyLength = 256;

// A value of "vars" as the template gets it: strings as they are, other JSON as its text.
QString varText(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::String:
        return value.toString();
    case QJsonValue::Bool:
        return value.toBool() ? u"true"_s : u"false"_s;
    case QJsonValue::Double:
        return QString::fromUtf8(QJsonDocument(QJsonArray{value}).toJson(QJsonDocument::Compact))
            .mid(1)
            .chopped(1);
    case QJsonValue::Array:
        return QString::fromUtf8(QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact));
    case QJsonValue::Object:
        return QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact));
    default:
        return {};
    }
}

// The job a queue runs as: found again by nothing but its queue (never continued by `run`).
// Its answer schema is the job's output schema, so its tasks get structured answers, their
// validation and invalid_output like a job run with --schema.
JobSpec queueJobSpec(const QueueSpec &spec, const std::optional<ingest::OutputSchema> &schema)
{
    JobSpec job;
    job.sourcePath = u"queue:"_s + spec.name;
    job.sourceSha256 =
        QCryptographicHash::hash(job.sourcePath.toUtf8(), QCryptographicHash::Sha256).toHex();
    job.templateText = spec.templateText;
    job.systemPrompt = spec.systemPrompt;
    job.provider = spec.provider;
    job.model = spec.model;
    job.baseUrl = spec.baseUrl;
    job.priority = spec.priority;
    // Tasks of every priority share the queue, so its lane is a sync one: a provider batch
    // would hold a priority-1 task for hours.
    job.mode = spec.priority == 1 ? u"realtime"_s : u"grouped"_s;
    job.maxRetries = spec.maxRetries;
    job.maxOutputTokens = spec.maxOutputTokens;
    job.settings = spec.settings;
    job.settings.insert(settingkeys::intakeQueue, spec.name);
    if (schema)
        job.settings.insert(settingkeys::outputSchema, QString::fromUtf8(schema->text()));
    return job;
}

} // namespace

const EngineWorker::ServedQueue *EngineWorker::servedQueue(const QString &name)
{
    if (const auto it = m_queues.constFind(name); it != m_queues.cend())
        return &it.value();
    const auto record = m_database->intake().queue(name);
    if (!record)
        return nullptr;
    const auto job = m_store->job(record->jobId);
    if (!job)
        return nullptr;
    return &m_queues.insert(name, ServedQueue{*record, job->columns, job->spec.priority}).value();
}

void EngineWorker::defineQueue(quint64 ticket, const QueueSpec &asked)
{
    QueueDefinition result;
    result.name = asked.name;
    const auto answer = [&](QueueDefinition::Outcome outcome, const QString &error = {}) {
        result.outcome = outcome;
        result.error = error;
        Q_EMIT queueDefined(ticket, result);
    };
    if (!m_store)
        return answer(QueueDefinition::Outcome::Failed, u"the database is not open"_s);
    const auto provider = providerInfo(asked.provider);
    if (!provider) {
        QStringList known;
        for (const ProviderInfo &info : availableProviders())
            known.append(info.id);
        return answer(QueueDefinition::Outcome::Invalid,
                      u"field \"provider\": unknown provider %1 (known: %2)"_s.arg(
                          asked.provider, known.join(u", "_s)));
    }
    QueueSpec spec = asked;
    if (spec.model.isEmpty()) {
        if (provider->needsModelName)
            return answer(QueueDefinition::Outcome::Invalid,
                          u"field \"model\": provider %1 needs a model name"_s.arg(spec.provider));
        spec.model = provider->defaultModel;
    }
    const ingest::PromptTemplate prompt(spec.templateText);
    if (!prompt.syntaxError().isEmpty())
        return answer(QueueDefinition::Outcome::Invalid,
                      u"field \"template\": "_s + prompt.syntaxError());
    // Checked as a job's --schema is (the same rules, the same refusal of the simulator).
    std::optional<ingest::OutputSchema> schema;
    if (!spec.schema.isEmpty()) {
        if (spec.provider == u"simulator"_s)
            return answer(QueueDefinition::Outcome::Invalid,
                          u"field \"schema\": structured answers need a real provider: the "
                          "simulator answers free text"_s);
        QString schemaError;
        schema =
            ingest::OutputSchema::parse(QJsonDocument(spec.schema).toJson(QJsonDocument::Compact),
                                        u"field \"schema\""_s, &schemaError);
        if (!schema)
            return answer(QueueDefinition::Outcome::Invalid, schemaError);
    }

    store::Intake &intake = m_database->intake();
    const QJsonObject definition = spec.toJson();
    const auto settle = [&](const store::QueueRecord &existing) {
        result.jobId = existing.jobId;
        if (existing.definition == definition)
            return answer(QueueDefinition::Outcome::Existing);
        answer(QueueDefinition::Outcome::Conflict,
               u"queue %1 exists with another definition"_s.arg(spec.name));
    };
    if (const auto existing = intake.queue(spec.name))
        return settle(*existing);
    if (!intake.errorString().isEmpty())
        return answer(QueueDefinition::Outcome::Failed, intake.errorString());

    const qint64 now = m_clock->nowMs();
    const qint64 jobId = m_store->createJob(queueJobSpec(spec, schema), prompt.placeholders(), now);
    if (jobId <= 0)
        return answer(QueueDefinition::Outcome::Failed, m_store->errorString());
    store::QueueRecord record;
    record.name = spec.name;
    record.jobId = jobId;
    record.definition = definition;
    record.maxPending = spec.maxPending;
    record.webhook = spec.webhook;
    record.schema = spec.schema;
    std::optional<store::QueueRecord> existing;
    if (!intake.addQueue(record, now, &existing)) {
        // Another process named a queue so in the meantime: its queue stands, ours goes.
        m_store->deleteJob(jobId);
        if (existing)
            return settle(*existing);
        return answer(QueueDefinition::Outcome::Failed, intake.errorString());
    }
    // Paused until a front end starts it (batchctl serve starts every queue it serves).
    m_store->setJobState(jobId, JobState::Paused, stopCauseReason(StopCause::Imported), now);
    refreshSnapshot(jobId);
    result.jobId = jobId;
    answer(QueueDefinition::Outcome::Created);
}

void EngineWorker::submitToQueue(quint64 ticket, const QString &name, const QList<QueueTask> &tasks)
{
    SubmitResult result;
    const auto answer = [&](SubmitResult::Outcome outcome, const QString &error = {}) {
        result.outcome = outcome;
        result.error = error;
        Q_EMIT tasksSubmitted(ticket, result);
    };
    if (!m_store)
        return answer(SubmitResult::Outcome::Failed, u"the database is not open"_s);
    if (tasks.size() > kMaxTasksPerSubmission)
        return answer(
            SubmitResult::Outcome::TooMany,
            u"%1 tasks in one request; at most %2"_s.arg(tasks.size()).arg(kMaxTasksPerSubmission));
    const ServedQueue *queue = servedQueue(name);
    if (!queue) {
        const QString error = m_database->intake().errorString();
        return answer(error.isEmpty() ? SubmitResult::Outcome::UnknownQueue
                                      : SubmitResult::Outcome::Failed,
                      error.isEmpty() ? u"no queue %1"_s.arg(name) : error);
    }
    result.jobId = queue->record.jobId;
    result.maxPending = queue->record.maxPending;

    QList<store::NewQueueTask> rows;
    rows.reserve(tasks.size());
    int bestPriority = 3;
    int urgent = 0;
    for (qsizetype i = 0; i < tasks.size(); ++i) {
        const QueueTask &task = tasks.at(i);
        store::NewQueueTask row;
        row.priority = task.priority == 0 ? queue->priority : task.priority;
        if (row.priority < 1 || row.priority > 3)
            return answer(SubmitResult::Outcome::Invalid,
                          u"tasks[%1].priority: 1, 2 or 3"_s.arg(i));
        if (task.key.size() > kMaxKeyLength)
            return answer(SubmitResult::Outcome::Invalid,
                          u"tasks[%1].key: at most %2 characters"_s.arg(i).arg(kMaxKeyLength));
        row.key = task.key;
        row.values.reserve(queue->columns.size());
        for (const QString &column : queue->columns) {
            const QJsonValue value = task.vars.value(column);
            if (value.isUndefined() || value.isNull())
                return answer(
                    SubmitResult::Outcome::Invalid,
                    u"tasks[%1].vars: no value for the placeholder {{%2}}"_s.arg(i).arg(column));
            row.values.append(varText(value));
        }
        bestPriority = qMin(bestPriority, row.priority);
        rows.append(std::move(row));
    }

    const store::SubmitOutcome outcome =
        m_database->intake().submit(queue->record, rows, m_clock->nowMs());
    result.pending = outcome.unfinished;
    const qint64 jobId = queue->record.jobId;
    if (outcome.full) {
        const QString message =
            u"queue %1 refused %2 task(s): %3 unfinished of at most %4"_s.arg(name)
                .arg(rows.size())
                .arg(outcome.unfinished)
                .arg(queue->record.maxPending);
        if (m_monitoring)
            m_monitoring->alerts()->raise(
                jobId, u"queue_full"_s, message,
                QJsonObject{{u"value"_s, double(outcome.unfinished + rows.size())},
                            {u"threshold"_s, double(queue->record.maxPending)}});
        return answer(SubmitResult::Outcome::Full, message);
    }
    if (!outcome.ok)
        return answer(SubmitResult::Outcome::Failed, m_database->intake().errorString());
    result.accepted = outcome.accepted;
    result.duplicates = outcome.duplicates;
    result.taskIds = outcome.taskIds;
    if (m_monitoring && m_monitoring->alerts()->isOpen(u"queue_full"_s, jobId))
        m_monitoring->alerts()->clear(jobId, u"queue_full"_s);
    if (outcome.accepted > 0) {
        for (const store::NewQueueTask &row : std::as_const(rows))
            urgent += row.priority == 1 ? 1 : 0;
        if (auto *runner = m_runners.value(jobId)) {
            // Duplicates are counted too: an overestimate only makes the runner look again.
            runner->tasksArrived(outcome.accepted, bestPriority, qMin(urgent, outcome.accepted));
            if (urgent > 0)
                updatePreemption(); // bulk work elsewhere yields now, not at the next tick
        }
    }
    answer(SubmitResult::Outcome::Accepted);
}

void EngineWorker::readQueue(quint64 ticket, const QString &name)
{
    const ServedQueue *queue = m_store ? servedQueue(name) : nullptr;
    const dispatch::JobRunner *runner = queue ? m_runners.value(queue->record.jobId) : nullptr;
    if (!runner) {
        Q_EMIT queueNotServedHere(ticket, name);
        return;
    }
    // The runner's counts are what the console shows for jobs running here: kept as tasks
    // arrive and settle, and read again from the database whenever the runner idles.
    QueueInfo info = describeQueue(queue->record, *m_store);
    info.counts = runner->counts();
    info.costUsd = runner->spentUsd();
    Q_EMIT queueRead(ticket, info);
}

void EngineWorker::markDelivered(const QList<qint64> &taskIds)
{
    if (m_store && !m_database->intake().markDelivered(taskIds))
        qWarning("webhook deliveries not recorded: %s",
                 qPrintable(m_database->intake().errorString()));
}

} // namespace bd
