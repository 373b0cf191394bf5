#include "sqlintake.h"

#include "core/jsonutil.h"

#include <QHash>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

constexpr int kIdsPerStatement = 500;

QString compactJson(const QJsonObject &object)
{
    return object.isEmpty()
               ? u""_s
               : QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact));
}

QJsonObject parseObject(const QString &text)
{
    return text.isEmpty() ? QJsonObject() : QJsonDocument::fromJson(text.toUtf8()).object();
}

// The columns every read of a queue's task takes, in the order taskFrom() reads them.
const QString kTaskColumns =
    u"t.id, t.job_id, i.key, t.state, t.priority, t.attempts, t.output, t.error_class, "
    "t.error_message, COALESCE(t.routed_model, t.model), t.input_tokens, t.output_tokens, "
    "t.cached_tokens, t.cache_write_tokens, t.cost_usd"_s;

QueueTaskRecord taskFrom(const QSqlQuery &query)
{
    QueueTaskRecord task;
    task.taskId = query.value(0).toLongLong();
    task.jobId = query.value(1).toLongLong();
    task.key = query.value(2).toString();
    task.state = TaskState(query.value(3).toInt());
    task.priority = query.value(4).toInt();
    task.attempts = query.value(5).toInt();
    task.output = query.value(6).toString();
    task.errorClass = query.value(7).toString();
    task.errorMessage = query.value(8).toString();
    task.model = query.value(9).toString();
    task.usage.inputTokens = query.value(10).toLongLong();
    task.usage.outputTokens = query.value(11).toLongLong();
    task.usage.cachedTokens = query.value(12).toLongLong();
    task.usage.cacheWriteTokens = query.value(13).toLongLong();
    if (!query.value(14).isNull())
        task.costUsd = query.value(14).toDouble();
    return task;
}

QString placeholders(qsizetype count)
{
    QString text;
    text.reserve(count * 2);
    for (qsizetype i = 0; i < count; ++i)
        text += i ? u",?"_s : u"?"_s;
    return text;
}

} // namespace

SqlIntake::SqlIntake(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive)
    : m_db(std::move(db))
    , m_dialect(dialect)
    , m_keepAlive(std::move(keepAlive))
{
}

SqlIntake::~SqlIntake() = default;

bool SqlIntake::fail(const QSqlQuery &query, const QString &what)
{
    m_error = what + u": "_s + query.lastError().text();
    return false;
}

bool SqlIntake::begin()
{
    QSqlQuery query(m_db);
    // SQLite: the write lock now, so two submitters never both read the old count.
    if (!query.exec(m_dialect == SqlDialect::Sqlite ? u"BEGIN IMMEDIATE"_s : u"BEGIN"_s))
        return fail(query, u"cannot begin a transaction"_s);
    return true;
}

bool SqlIntake::commit()
{
    QSqlQuery query(m_db);
    if (!query.exec(u"COMMIT"_s)) {
        fail(query, u"cannot commit"_s);
        rollback();
        return false;
    }
    return true;
}

void SqlIntake::rollback()
{
    QSqlQuery query(m_db);
    query.exec(u"ROLLBACK"_s);
}

bool SqlIntake::addQueue(const QueueRecord &queue, qint64 nowMs,
                         std::optional<QueueRecord> *existing)
{
    m_error.clear();
    QSqlQuery insert(m_db);
    insert.prepare(
        u"INSERT INTO intake_queues (name, job_id, definition, max_pending, webhook, "
        "schema_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING"_s);
    insert.addBindValue(queue.name);
    insert.addBindValue(queue.jobId);
    insert.addBindValue(compactJson(queue.definition));
    insert.addBindValue(queue.maxPending);
    insert.addBindValue(queue.webhook.isNull() ? u""_s : queue.webhook); // a null QString binds NULL
    insert.addBindValue(compactJson(queue.schema));
    insert.addBindValue(nowMs);
    if (!insert.exec())
        return fail(insert, u"cannot record queue %1"_s.arg(queue.name));
    if (insert.numRowsAffected() == 1)
        return true;
    if (existing)
        *existing = this->queue(queue.name);
    return false;
}

QList<QueueRecord> SqlIntake::readQueues(const QString &where, const QVariant &value)
{
    m_error.clear();
    QSqlQuery query(m_db);
    query.prepare(u"SELECT name, job_id, definition, max_pending, webhook, schema_json, created_at "
                  "FROM intake_queues "_s +
                  where + u" ORDER BY name"_s);
    if (value.isValid())
        query.addBindValue(value);
    QList<QueueRecord> queues;
    if (!query.exec()) {
        fail(query, u"cannot read the queues"_s);
        return queues;
    }
    while (query.next()) {
        QueueRecord queue;
        queue.name = query.value(0).toString();
        queue.jobId = query.value(1).toLongLong();
        queue.definition = parseObject(query.value(2).toString());
        queue.maxPending = query.value(3).toLongLong();
        queue.webhook = query.value(4).toString();
        queue.schema = parseObject(query.value(5).toString());
        queue.createdAtMs = query.value(6).toLongLong();
        queues.append(queue);
    }
    return queues;
}

std::optional<QueueRecord> SqlIntake::queue(const QString &name)
{
    const QList<QueueRecord> found = readQueues(u"WHERE name = ?"_s, name);
    if (found.isEmpty())
        return std::nullopt;
    return found.constFirst();
}

QList<QueueRecord> SqlIntake::queues()
{
    return readQueues({}, {});
}

SubmitOutcome SqlIntake::submit(const QueueRecord &queue, const QList<NewQueueTask> &tasks,
                                qint64 nowMs)
{
    m_error.clear();
    SubmitOutcome outcome;
    if (!begin())
        return outcome;
    // Row numbers for the new tasks, and on PostgreSQL the queue row's lock: concurrent
    // submitters to one queue take turns from here to the commit.
    QSqlQuery reserve(m_db);
    reserve.prepare(
        u"UPDATE intake_queues SET next_row = next_row + ? WHERE job_id = ? RETURNING next_row"_s);
    reserve.addBindValue(qint64(tasks.size()));
    reserve.addBindValue(queue.jobId);
    if (!reserve.exec() || !reserve.next()) {
        fail(reserve, u"no queue %1 to submit to"_s.arg(queue.name));
        rollback();
        return outcome;
    }
    qint64 rowNumber = reserve.value(0).toLongLong() - tasks.size();
    reserve.finish();

    QSqlQuery count(m_db);
    // SQLite: pending in tasks_claim, leased in tasks_active (its partial indexes; the
    // planner would rather walk the whole job in tasks_job).
    const QString claimIndex = claimIndexHint(m_dialect);
    count.prepare(u"SELECT (SELECT COUNT(*) FROM tasks%1 WHERE job_id = ? AND state = 0) + "
                  "(SELECT COUNT(*) FROM tasks WHERE state = 1 AND state NOT IN (0, 2) AND "
                  "job_id = ?)"_s.arg(claimIndex));
    count.addBindValue(queue.jobId);
    count.addBindValue(queue.jobId);
    if (!count.exec() || !count.next()) {
        fail(count, u"cannot count the tasks of queue %1"_s.arg(queue.name));
        rollback();
        return outcome;
    }
    outcome.unfinished = count.value(0).toLongLong();
    count.finish();

    // Keys already in the queue, then keys repeated within this submission.
    QSqlQuery findKey(m_db);
    findKey.prepare(u"SELECT task_id FROM intake_tasks WHERE job_id = ? AND key = ?"_s);
    QHash<QString, qint64> existingByKey;
    QHash<QString, int> firstInRequest; // key -> index of its first new task
    QList<int> newTasks;
    outcome.taskIds.resize(tasks.size());
    for (int i = 0; i < tasks.size(); ++i) {
        const QString &key = tasks.at(i).key;
        if (!key.isEmpty()) {
            if (firstInRequest.contains(key) || existingByKey.contains(key))
                continue;
            findKey.addBindValue(queue.jobId);
            findKey.addBindValue(key);
            if (!findKey.exec()) {
                fail(findKey, u"cannot look up key %1"_s.arg(key));
                rollback();
                return outcome;
            }
            if (findKey.next()) {
                existingByKey.insert(key, findKey.value(0).toLongLong());
                findKey.finish();
                continue;
            }
            findKey.finish();
            firstInRequest.insert(key, i);
        }
        newTasks.append(i);
    }
    if (outcome.unfinished + newTasks.size() > queue.maxPending) {
        rollback();
        outcome.full = true;
        return outcome;
    }

    QSqlQuery insertTask(m_db);
    insertTask.prepare(u"INSERT INTO tasks (job_id, row_no, vals, priority, created_at) "
                       "VALUES (?, ?, ?, ?, ?) RETURNING id"_s);
    QSqlQuery insertIntake(m_db);
    insertIntake.prepare(
        u"INSERT INTO intake_tasks (task_id, job_id, key, delivered) VALUES (?, ?, ?, ?)"_s);
    const bool outbox = !queue.webhook.isEmpty();
    for (const int index : std::as_const(newTasks)) {
        const NewQueueTask &task = tasks.at(index);
        insertTask.addBindValue(queue.jobId);
        insertTask.addBindValue(rowNumber++);
        insertTask.addBindValue(QString::fromUtf8(json::encodeStringArray(task.values)));
        insertTask.addBindValue(task.priority);
        insertTask.addBindValue(nowMs);
        if (!insertTask.exec() || !insertTask.next()) {
            fail(insertTask, u"cannot store task %1 of the submission"_s.arg(index + 1));
            rollback();
            return outcome;
        }
        const qint64 taskId = insertTask.value(0).toLongLong();
        insertTask.finish();
        outcome.taskIds[index] = taskId;
        if (task.key.isEmpty() && !outbox)
            continue;
        insertIntake.addBindValue(taskId);
        insertIntake.addBindValue(queue.jobId);
        insertIntake.addBindValue(task.key.isEmpty() ? QVariant(QMetaType(QMetaType::QString))
                                                     : QVariant(task.key));
        insertIntake.addBindValue(outbox ? 0 : 1);
        if (!insertIntake.exec()) {
            fail(insertIntake, u"cannot record task %1 of the submission"_s.arg(index + 1));
            rollback();
            return outcome;
        }
    }
    if (!commit())
        return outcome;
    for (int i = 0; i < tasks.size(); ++i) {
        if (outcome.taskIds.at(i) != 0)
            continue;
        const QString &key = tasks.at(i).key;
        outcome.taskIds[i] = existingByKey.contains(key)
                                 ? existingByKey.value(key)
                                 : outcome.taskIds.at(firstInRequest.value(key));
    }
    outcome.accepted = int(newTasks.size());
    outcome.duplicates = int(tasks.size() - newTasks.size());
    outcome.ok = true;
    return outcome;
}

QList<QueueTaskRecord> SqlIntake::results(const QList<qint64> &taskIds)
{
    m_error.clear();
    QList<QueueTaskRecord> found;
    for (qsizetype from = 0; from < taskIds.size(); from += kIdsPerStatement) {
        const QList<qint64> chunk = taskIds.mid(from, kIdsPerStatement);
        QSqlQuery query(m_db);
        query.prepare(u"SELECT "_s + kTaskColumns +
                      u" FROM tasks t JOIN intake_queues q ON q.job_id = t.job_id "
                      "LEFT JOIN intake_tasks i ON i.task_id = t.id WHERE t.id IN ("_s +
                      placeholders(chunk.size()) + u") ORDER BY t.id"_s);
        for (const qint64 id : chunk)
            query.addBindValue(id);
        if (!query.exec()) {
            fail(query, u"cannot read tasks"_s);
            return {};
        }
        while (query.next())
            found.append(taskFrom(query));
    }
    return found;
}

QList<QueueTaskRecord> SqlIntake::undelivered(qint64 jobId, int limit)
{
    m_error.clear();
    QSqlQuery query(m_db);
    query.prepare(u"SELECT "_s + kTaskColumns +
                  u" FROM intake_tasks i JOIN tasks t ON t.id = i.task_id "
                  "WHERE i.job_id = ? AND i.delivered = 0 AND t.state IN (2, 3, 4) "
                  "ORDER BY i.task_id LIMIT ?"_s);
    query.addBindValue(jobId);
    query.addBindValue(limit);
    QList<QueueTaskRecord> found;
    if (!query.exec()) {
        fail(query, u"cannot read the webhook outbox"_s);
        return found;
    }
    while (query.next())
        found.append(taskFrom(query));
    return found;
}

bool SqlIntake::markDelivered(const QList<qint64> &taskIds)
{
    m_error.clear();
    if (taskIds.isEmpty())
        return true;
    if (!begin())
        return false;
    for (qsizetype from = 0; from < taskIds.size(); from += kIdsPerStatement) {
        const QList<qint64> chunk = taskIds.mid(from, kIdsPerStatement);
        QSqlQuery query(m_db);
        query.prepare(u"UPDATE intake_tasks SET delivered = 1 WHERE task_id IN ("_s +
                      placeholders(chunk.size()) + u")"_s);
        for (const qint64 id : chunk)
            query.addBindValue(id);
        if (!query.exec()) {
            fail(query, u"cannot record webhook deliveries"_s);
            rollback();
            return false;
        }
    }
    return commit();
}

} // namespace bd::store
