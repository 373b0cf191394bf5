#include "intakeconformance.h"

#include "store/database.h"
#include "store/intake.h"
#include "store/store.h"

#include <atomic>
#include <QTest>
#include <QThread>

namespace bd::storetest {

using namespace Qt::StringLiterals;
using store::Database;
using store::NewQueueTask;
using store::QueueRecord;

namespace {

constexpr qint64 kT0 = 1'700'000'000'000;
const QString kOwner = u"host-a:1:aaaaaa"_s;

std::unique_ptr<Database> openDatabase(const QString &location, bool readOnly = false)
{
    QString error;
    auto database = Database::open(
        location, readOnly ? Database::Access::ReadOnly : Database::Access::ReadWrite, &error);
    if (!database)
        qWarning("cannot open %s: %s", qPrintable(location), qPrintable(error));
    return database;
}

// A queue's job as the engine makes it, and its record.
QueueRecord makeQueue(Database &db, const QString &name, qint64 maxPending,
                      const QString &webhook = {})
{
    JobSpec spec;
    spec.sourcePath = u"queue:"_s + name;
    spec.sourceSha256 = QByteArray("ab").repeated(32);
    spec.templateText = u"Answer: {{question}}"_s;
    spec.provider = u"simulator"_s;
    spec.mode = u"grouped"_s;
    QueueRecord queue;
    queue.name = name;
    queue.jobId = db.queue().createJob(spec, {u"question"_s}, kT0);
    queue.definition = QJsonObject{{u"name"_s, name}, {u"template"_s, spec.templateText}};
    queue.maxPending = maxPending;
    queue.webhook = webhook;
    queue.schema = QJsonObject{{u"type"_s, u"object"_s}};
    return queue;
}

NewQueueTask task(const QString &question, const QString &key = {}, int priority = 2)
{
    return NewQueueTask{key, {question}, priority};
}

TaskTransition finished(qint64 taskId, OutcomeAction action)
{
    TaskTransition t;
    t.outcome.taskId = taskId;
    t.action = action;
    if (action == OutcomeAction::Complete) {
        t.outcome.output = u"answer %1"_s.arg(taskId);
        t.outcome.model = u"sim-1"_s;
        t.outcome.usage.inputTokens = 12;
        t.outcome.usage.outputTokens = 3;
        t.outcome.costUsd = 0.5;
    } else {
        t.outcome.error = ErrorClass::InvalidRequest;
        t.outcome.errorMessage = u"refused"_s;
        t.outcome.httpStatus = 400;
    }
    return t;
}

} // namespace

IntakeConformance::IntakeConformance(Backend backend, QObject *parent)
    : QObject(parent)
    , m_backend(std::move(backend))
{
}

IntakeConformance::~IntakeConformance() = default;

void IntakeConformance::init()
{
    m_location = m_backend.newLocation();
}

void IntakeConformance::queuesRecordedOnceByName()
{
    auto db = openDatabase(m_location);
    QVERIFY(db);
    const QueueRecord support = makeQueue(*db, u"support"_s, 100, u"http://127.0.0.1:9/done"_s);
    QVERIFY(support.jobId > 0);
    std::optional<QueueRecord> existing;
    QVERIFY2(db->intake().addQueue(support, kT0, &existing), qPrintable(db->intake().errorString()));
    QVERIFY(!existing);

    const auto read = db->intake().queue(u"support"_s);
    QVERIFY(read);
    QCOMPARE(read->jobId, support.jobId);
    QCOMPARE(read->definition, support.definition);
    QCOMPARE(read->maxPending, 100);
    QCOMPARE(read->webhook, u"http://127.0.0.1:9/done"_s);
    QCOMPARE(read->schema, support.schema);
    QCOMPARE(read->createdAtMs, kT0);
    QVERIFY(!db->intake().queue(u"nothing"_s));
    QVERIFY2(db->intake().errorString().isEmpty(), qPrintable(db->intake().errorString()));

    // The name is taken: nothing written, the holder answered, no error.
    QueueRecord again = makeQueue(*db, u"support"_s, 5);
    QVERIFY(!db->intake().addQueue(again, kT0 + 1, &existing));
    QVERIFY2(db->intake().errorString().isEmpty(), qPrintable(db->intake().errorString()));
    QVERIFY(existing);
    QCOMPARE(existing->jobId, support.jobId);
    QCOMPARE(existing->maxPending, 100);

    QVERIFY2(db->intake().addQueue(makeQueue(*db, u"billing"_s, 7), kT0, nullptr), qPrintable(db->intake().errorString()));
    const QList<QueueRecord> all = db->intake().queues();
    QCOMPARE(all.size(), 2);
    QCOMPARE(all.at(0).name, u"billing"_s);
    QCOMPARE(all.at(1).name, u"support"_s);
}

void IntakeConformance::submissionKeysDuplicatesAndPriorities()
{
    auto db = openDatabase(m_location);
    QVERIFY(db);
    const QueueRecord queue = makeQueue(*db, u"q"_s, 1000);
    QVERIFY2(db->intake().addQueue(queue, kT0, nullptr), qPrintable(db->intake().errorString()));

    // A key repeated inside one submission is one task.
    const auto first =
        db->intake().submit(queue,
                            {task(u"a"_s, u"k-a"_s, 3), task(u"b"_s, u"k-b"_s, 3),
                             task(u"a again"_s, u"k-a"_s, 3), task(u"no key"_s, {}, 3)},
                            kT0);
    QVERIFY2(first.ok, qPrintable(db->intake().errorString()));
    QCOMPARE(first.accepted, 3);
    QCOMPARE(first.duplicates, 1);
    QCOMPARE(first.taskIds.size(), 4);
    QCOMPARE(first.taskIds.at(2), first.taskIds.at(0));
    QCOMPARE(first.unfinished, 0);

    // Keys already in the queue answer with the existing task; a new priority-1 task is
    // claimed before the older priority-3 ones.
    const auto second = db->intake().submit(
        queue, {task(u"b?"_s, u"k-b"_s, 1), task(u"urgent"_s, u"k-u"_s, 1)}, kT0 + 1);
    QVERIFY(second.ok);
    QCOMPARE(second.accepted, 1);
    QCOMPARE(second.duplicates, 1);
    QCOMPARE(second.taskIds.at(0), first.taskIds.at(1));
    QCOMPARE(second.unfinished, 3);

    QList<ClaimedTask> claimed;
    QVERIFY(db->queue().claimTasks(queue.jobId, kOwner, 10, kT0 + 2, kT0 + 60'000, &claimed));
    QCOMPARE(claimed.size(), 4);
    QCOMPARE(claimed.at(0).id, second.taskIds.at(1));
    QCOMPARE(claimed.at(0).values, QStringList{u"urgent"_s});
    QCOMPARE(claimed.at(0).priority, 1);
    QCOMPARE(claimed.at(1).values, QStringList{u"a"_s});
    // Row numbers follow submission order across submissions.
    QVERIFY(claimed.at(0).rowNumber > claimed.at(3).rowNumber);
    QCOMPARE(db->queue().taskCounts(queue.jobId).leased, 4);
}

void IntakeConformance::backpressureRefusesWholeSubmissions()
{
    auto db = openDatabase(m_location);
    QVERIFY(db);
    const QueueRecord queue = makeQueue(*db, u"small"_s, 5);
    QVERIFY2(db->intake().addQueue(queue, kT0, nullptr), qPrintable(db->intake().errorString()));
    const auto four = db->intake().submit(
        queue, {task(u"1"_s, u"k1"_s), task(u"2"_s), task(u"3"_s), task(u"4"_s)}, kT0);
    QVERIFY(four.ok);

    const auto tooMany = db->intake().submit(queue, {task(u"5"_s), task(u"6"_s, u"k6"_s)}, kT0);
    QVERIFY(!tooMany.ok);
    QVERIFY(tooMany.full);
    QCOMPARE(tooMany.unfinished, 4);
    QVERIFY2(db->intake().errorString().isEmpty(), qPrintable(db->intake().errorString()));
    QCOMPARE(db->queue().taskCounts(queue.jobId).pending, 4);
    // Nothing of the refused submission stayed: its key is still free.
    const auto fits = db->intake().submit(queue, {task(u"6"_s, u"k6"_s)}, kT0);
    QVERIFY(fits.ok);
    QCOMPARE(fits.accepted, 1);
    // Full, but duplicates add nothing and so are not refused.
    const auto duplicates = db->intake().submit(queue, {task(u"1"_s, u"k1"_s)}, kT0);
    QVERIFY(duplicates.ok);
    QCOMPARE(duplicates.duplicates, 1);
    QCOMPARE(duplicates.taskIds.at(0), four.taskIds.at(0));

    // Finished tasks make room again.
    QList<ClaimedTask> claimed;
    QVERIFY(db->queue().claimTasks(queue.jobId, kOwner, 2, kT0, kT0 + 60'000, &claimed));
    QVERIFY(db->queue().applyTransitions(kOwner,
                                         {finished(claimed.at(0).id, OutcomeAction::Complete),
                                          finished(claimed.at(1).id, OutcomeAction::Complete)},
                                         kT0 + 1));
    const auto room = db->intake().submit(queue, {task(u"7"_s), task(u"8"_s)}, kT0 + 2);
    QVERIFY(room.ok);
    QCOMPARE(room.unfinished, 3);
    QCOMPARE(db->queue().taskCounts(queue.jobId).unfinished(), 5);
}

void IntakeConformance::resultsAndWebhookOutbox()
{
    auto db = openDatabase(m_location);
    QVERIFY(db);
    const QueueRecord hooked = makeQueue(*db, u"hooked"_s, 100, u"http://127.0.0.1:9/done"_s);
    QVERIFY2(db->intake().addQueue(hooked, kT0, nullptr), qPrintable(db->intake().errorString()));
    const QueueRecord plain = makeQueue(*db, u"plain"_s, 100);
    QVERIFY2(db->intake().addQueue(plain, kT0, nullptr), qPrintable(db->intake().errorString()));
    const auto submitted =
        db->intake().submit(hooked, {task(u"x"_s, u"kx"_s), task(u"y"_s), task(u"z"_s)}, kT0);
    QVERIFY(submitted.ok);
    const auto plainSubmitted = db->intake().submit(plain, {task(u"p"_s)}, kT0);
    QVERIFY(plainSubmitted.ok);

    QList<ClaimedTask> claimed;
    QVERIFY(db->queue().claimTasks(hooked.jobId, kOwner, 2, kT0, kT0 + 60'000, &claimed));
    QCOMPARE(claimed.size(), 2);
    QVERIFY(db->queue().applyTransitions(kOwner,
                                         {finished(claimed.at(0).id, OutcomeAction::Complete),
                                          finished(claimed.at(1).id, OutcomeAction::DeadLetter)},
                                         kT0 + 5));
    QList<ClaimedTask> plainClaimed;
    QVERIFY(db->queue().claimTasks(plain.jobId, kOwner, 1, kT0, kT0 + 60'000, &plainClaimed));
    QVERIFY(db->queue().applyTransitions(
        kOwner, {finished(plainClaimed.at(0).id, OutcomeAction::Complete)}, kT0 + 5));

    // Results read from another (read-only) connection.
    auto reader = openDatabase(m_location, true);
    QVERIFY(reader);
    const auto results = reader->intake().results(submitted.taskIds + plainSubmitted.taskIds +
                                                  QList<qint64>{999'999});
    QCOMPARE(results.size(), 4);
    QCOMPARE(results.at(0).taskId, submitted.taskIds.at(0));
    QCOMPARE(results.at(0).key, u"kx"_s);
    QCOMPARE(results.at(0).state, TaskState::Completed);
    QCOMPARE(results.at(0).output, u"answer %1"_s.arg(submitted.taskIds.at(0)));
    QCOMPARE(results.at(0).usage.inputTokens, 12);
    QCOMPARE(results.at(0).costUsd.value_or(-1), 0.5);
    QCOMPARE(results.at(0).attempts, 1);
    QCOMPARE(results.at(1).state, TaskState::Dead);
    QCOMPARE(results.at(1).errorClass, u"invalid_request"_s);
    QCOMPARE(results.at(1).errorMessage, u"refused"_s);
    QVERIFY(results.at(1).key.isEmpty());
    QCOMPARE(results.at(2).state, TaskState::Pending);
    QCOMPARE(results.at(3).jobId, plain.jobId);

    // The outbox holds finished tasks of queues with a webhook until they are acknowledged.
    auto outbox = reader->intake().undelivered(hooked.jobId, 10);
    QCOMPARE(outbox.size(), 2);
    QCOMPARE(outbox.at(0).taskId, submitted.taskIds.at(0));
    QCOMPARE(outbox.at(1).taskId, submitted.taskIds.at(1));
    QVERIFY(reader->intake().undelivered(plain.jobId, 10).isEmpty());
    QVERIFY(db->intake().markDelivered({submitted.taskIds.at(0)}));
    outbox = reader->intake().undelivered(hooked.jobId, 10);
    QCOMPARE(outbox.size(), 1);
    QCOMPARE(outbox.at(0).taskId, submitted.taskIds.at(1));
    QCOMPARE(reader->intake().undelivered(hooked.jobId, 0).size(), 0);
}

void IntakeConformance::concurrentSubmittersShareKeys()
{
    QueueRecord queue;
    {
        auto db = openDatabase(m_location);
        QVERIFY(db);
        queue = makeQueue(*db, u"shared"_s, 100'000);
        QVERIFY2(db->intake().addQueue(queue, kT0, nullptr), qPrintable(db->intake().errorString()));
    }
    // Two connections (as two serve processes would) submit the same keys at once: each key
    // becomes one task, and both are told its id.
    constexpr int kKeys = 200;
    QList<qint64> ids[2];
    std::atomic<int> failures = 0;
    const auto submitter = [&](int which) {
        return QThread::create([&, which] {
            auto db = openDatabase(m_location);
            if (!db) {
                ++failures;
                return;
            }
            for (int i = 0; i < kKeys; i += 20) {
                QList<NewQueueTask> tasks;
                for (int k = i; k < i + 20; ++k)
                    tasks.append(task(u"q%1"_s.arg(k), u"key-%1"_s.arg(k)));
                const auto outcome = db->intake().submit(queue, tasks, kT0);
                if (!outcome.ok) {
                    qWarning("%s", qPrintable(db->intake().errorString()));
                    ++failures;
                    return;
                }
                ids[which] += outcome.taskIds;
            }
        });
    };
    std::unique_ptr<QThread> a(submitter(0));
    std::unique_ptr<QThread> b(submitter(1));
    a->start();
    b->start();
    QVERIFY(a->wait(60'000));
    QVERIFY(b->wait(60'000));
    QCOMPARE(failures.load(), 0);
    QCOMPARE(ids[0], ids[1]);
    auto db = openDatabase(m_location);
    QCOMPARE(db->queue().taskCounts(queue.jobId).pending, kKeys);
}

} // namespace bd::storetest
