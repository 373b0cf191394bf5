#include "storeconformance.h"

#include "intakeconformance.h"

#include "core/clock.h"
#include "dispatch/circuitbreaker.h"
#include "dispatch/concurrencylimiter.h"
#include "dispatch/ratelimiter.h"
#include "metrics/metricsstore.h"
#include "metrics/queueprobe.h"
#include "store/database.h"
#include "store/store.h"
#include "store/taskactions.h"
#include "store/taskreader.h"
#include "store/sharedlimits.h"
#include "store/workerregistry.h"

#include <algorithm>

#include <QCryptographicHash>
#include <QHash>
#include <QTest>

namespace bd::storetest {

using namespace Qt::StringLiterals;
using store::Database;

namespace {

constexpr qint64 kT0 = 1'700'000'000'000;
constexpr qint64 kLease = 60'000;
const QString kOwnerA = u"host-a:1:aaaaaa"_s;
const QString kOwnerB = u"host-b:2:bbbbbb"_s;

JobSpec makeSpec(const QString &name = u"a"_s)
{
    JobSpec spec;
    spec.sourcePath = u"/data/"_s + name + u".csv"_s;
    spec.sourceSha256 = QByteArray("cd34").repeated(16);
    spec.templateText = u"Classify: {{review}}"_s;
    spec.systemPrompt = u"You are terse."_s;
    spec.provider = u"simulator"_s;
    spec.model = u"sim-1"_s;
    spec.baseUrl = u"http://127.0.0.1:9/v1"_s;
    spec.priority = 2;
    spec.mode = u"grouped"_s;
    spec.maxRetries = 3;
    spec.maxOutputTokens = 200;
    spec.settings = QJsonObject{{u"concurrency"_s, 4}};
    return spec;
}

QList<QStringList> makeRows(int n, int firstNo = 1)
{
    QList<QStringList> rows;
    for (int i = 0; i < n; ++i)
        rows.append({u"R%1"_s.arg(firstNo + i), u"review %1 ü"_s.arg(firstNo + i)});
    return rows;
}

qint64 makeJob(store::Store &store, int rows, const QString &name = u"a"_s, int priority = 2)
{
    const qint64 id = store.createJob(makeSpec(name), {u"id"_s, u"review"_s}, kT0);
    if (id <= 0 || (rows > 0 && !store.appendTasks(id, 1, makeRows(rows), priority, kT0)))
        return 0;
    return id;
}

// An explicit context cache's charge (what a provider bills beside the answers).
store::JobCharge cacheCharge(const QString &key, const QString &model, double usd,
                             const QString &detail)
{
    store::JobCharge charge;
    charge.key = key;
    charge.kind = u"explicit_cache"_s;
    charge.model = model;
    charge.usd = usd;
    charge.detail = detail;
    return charge;
}

TaskTransition transition(qint64 taskId, OutcomeAction action, ErrorClass error = ErrorClass::None,
                          qint64 notBeforeMs = 0)
{
    TaskTransition t;
    t.outcome.taskId = taskId;
    t.outcome.error = error;
    t.action = action;
    t.notBeforeMs = notBeforeMs;
    t.chargeAttempt = action != OutcomeAction::Release;
    if (error == ErrorClass::None) {
        t.outcome.output = u"answer %1"_s.arg(taskId);
        t.outcome.httpStatus = 200;
        t.outcome.model = u"sim-1"_s;
        t.outcome.usage.inputTokens = 10;
        t.outcome.usage.outputTokens = 4;
        t.outcome.costUsd = 0.25;
    } else {
        t.outcome.errorMessage = u"failed %1"_s.arg(taskId);
        t.outcome.httpStatus = error == ErrorClass::InvalidRequest ? 400 : 500;
    }
    return t;
}

QList<qint64> idsOf(const QList<ClaimedTask> &tasks)
{
    QList<qint64> ids;
    for (const ClaimedTask &task : tasks)
        ids.append(task.id);
    return ids;
}

QByteArray cacheKey(const QString &request)
{
    return QCryptographicHash::hash(request.toUtf8(), QCryptographicHash::Sha256).toHex();
}

} // namespace

StoreConformance::StoreConformance(Backend backend, QObject *parent)
    : QObject(parent)
    , m_backend(std::move(backend))
{
}

StoreConformance::~StoreConformance() = default;

std::unique_ptr<Database> StoreConformance::open(const QString &location, bool readOnly)
{
    QString error;
    auto database = Database::open(
        location, readOnly ? Database::Access::ReadOnly : Database::Access::ReadWrite, &error);
    if (!database)
        qWarning("%s: cannot open %s: %s", qPrintable(m_backend.name), qPrintable(location),
                 qPrintable(error));
    return database;
}

void StoreConformance::init()
{
    m_location = m_backend.newLocation();
}

// ---- jobs -------------------------------------------------------------------------------

void StoreConformance::jobsRoundTripAndFingerprintContinue()
{
    const auto db = open(m_location);
    QVERIFY(db);
    QCOMPARE(db->access(), Database::Access::ReadWrite);
    store::Store &store = db->queue();
    const JobSpec spec = makeSpec();
    const qint64 job = store.createJob(spec, {u"id"_s, u"review"_s}, kT0);
    QVERIFY2(job > 0, qPrintable(store.errorString()));
    const auto info = store.job(job);
    QVERIFY(info);
    QCOMPARE(info->state, JobState::Importing);
    QCOMPARE(info->spec.templateText, spec.templateText);
    QCOMPARE(info->spec.settings, spec.settings);
    QCOMPARE(info->columns, (QStringList{u"id"_s, u"review"_s}));

    // An import that stopped half-way is found again by its fingerprint and continued.
    QVERIFY(store.appendTasks(job, 1, makeRows(3), 2, kT0));
    QCOMPARE(store.findJobByFingerprint(spec.fingerprint()).value_or(0), job);
    QVERIFY(store.appendTasks(job, 4, makeRows(2, 4), 2, kT0));
    QCOMPARE(store.taskCounts(job).pending, 5);
    QVERIFY(store.discardTasks(job));
    QCOMPARE(store.taskCounts(job).total(), 0);

    QVERIFY(store.setJobState(job, JobState::Running, QString(), kT0 + 1));
    // Who runs it is kept with the job (and its stamp) until it stops running.
    QVERIFY(store.setJobRunner(job, kOwnerA, kT0 + 1));
    QCOMPARE(store.job(job)->runner, kOwnerA);
    QCOMPARE(store.jobStamps(),
             (QList<store::JobStamp>{{job, JobState::Running, kOwnerA, kT0 + 1}}));
    QVERIFY(store.setJobState(job, JobState::Running, u"waiting for off-peak window"_s, kT0 + 1));
    QCOMPARE(store.job(job)->runner, kOwnerA);
    QVERIFY(store.setJobState(job, JobState::Paused, u"paused by the user"_s, kT0 + 2));
    QCOMPARE(store.job(job)->runner, QString());
    QCOMPARE(store.jobStamps(),
             (QList<store::JobStamp>{{job, JobState::Paused, QString(), kT0 + 2}}));
    QVERIFY(store.setJobState(job, JobState::Running, QString(), kT0 + 1));
    QVERIFY(store.setJobSettings(job, QJsonObject{{u"run_now"_s, true}}));
    QCOMPARE(store.job(job)->state, JobState::Running);
    QCOMPARE(store.job(job)->spec.settings.value(u"run_now"_s).toBool(), true);
    const qint64 other = makeJob(store, 1, u"b"_s);
    QCOMPARE(store.jobs().size(), 2);
    QVERIFY(store.deleteJob(other)); // the same source and settings: the same fingerprint
    QVERIFY(!store.job(other).has_value());
    QCOMPARE(store.jobs().size(), 1);
    // A cancelled job is not continued.
    QVERIFY(store.setJobState(job, JobState::Cancelled, u"by hand"_s, kT0 + 2));
    QVERIFY(!store.findJobByFingerprint(spec.fingerprint()).has_value());
}

// ---- claims and leases ------------------------------------------------------------------

void StoreConformance::appendAndClaimByPriorityWithLimitsAndLeases()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 3, u"a"_s, 3);
    QVERIFY(job > 0);
    QVERIFY(store.appendTasks(job, 4, makeRows(2, 4), 1, kT0)); // urgent rows come later
    const qint64 otherJob = makeJob(store, 2, u"b"_s);

    QList<ClaimedTask> claimed;
    QVERIFY(store.claimTasks(job, kOwnerA, 3, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), 3); // the limit
    QCOMPARE(claimed.at(0).priority, 1);
    QCOMPARE(claimed.at(1).priority, 1);
    QCOMPARE(claimed.at(2).priority, 3);
    QCOMPARE(claimed.at(0).rowNumber, 4); // priority first, then input order
    QCOMPARE(claimed.at(2).rowNumber, 1);
    QCOMPARE(claimed.at(0).jobId, job);
    QCOMPARE(claimed.at(0).values, (QStringList{u"R4"_s, u"review 4 ü"_s}));
    QCOMPARE(claimed.at(0).attempts, 0);
    TaskCounts counts = store.taskCounts(job);
    QCOMPARE(counts.leased, 3);
    QCOMPARE(counts.pending, 2);
    QCOMPARE(store.taskCounts(otherJob).pending, 2); // claims are per job

    // Leased tasks are not handed out again; the rest are.
    QList<ClaimedTask> rest;
    QVERIFY(store.claimTasks(job, kOwnerB, 10, kT0, kT0 + kLease, &rest));
    QCOMPARE(rest.size(), 2);
    for (qint64 id : idsOf(rest))
        QVERIFY(!idsOf(claimed).contains(id));
    QVERIFY(store.claimTasks(job, kOwnerB, 10, kT0, kT0 + kLease, &rest));
    QVERIFY(rest.isEmpty());
    QVERIFY(store.leaseOwners().contains(kOwnerA));
    QVERIFY(store.leaseOwners().contains(kOwnerB));
}

// An import goes many rows per statement (SQLite 32, PostgreSQL 1,000): over several
// statements and a short last one, every value comes back as it went in (quotes,
// backslashes, control characters, JSON-looking text, non-ASCII) under its row number, and
// ids follow the input order.
void StoreConformance::importKeepsValuesAndInputOrderAcrossStatements()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = store.createJob(makeSpec(), {u"id"_s, u"text"_s, u"more"_s}, kT0);
    QVERIFY(job > 0);
    const QStringList awkward{u"say \"hi\", then \\ leave"_s,
                              u"line\nbreak\ttab\r\u0001"_s,
                              u"[\"not\", \"an array\"] {\"k\": 1}"_s,
                              u"ü € 🙂 \u00e9 written out"_s,
                              QString()};
    QList<QStringList> rows;
    for (int i = 0; i < 2'050; ++i)
        rows.append({u"R%1"_s.arg(i + 7), awkward.at(i % awkward.size()), QString::number(i)});
    QVERIFY(store.appendTasks(job, 7, rows, 2, kT0));
    QList<ClaimedTask> claimed;
    QVERIFY(store.claimTasks(job, kOwnerA, 3'000, kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), rows.size());
    for (int i = 0; i < claimed.size(); ++i) {
        const ClaimedTask &task = claimed.at(i);
        QCOMPARE(task.rowNumber, qint64(i + 7));
        QCOMPARE(task.values, rows.at(i));
        QCOMPARE(task.jobId, job);
        QCOMPARE(task.queuedAtMs, kT0);
        QVERIFY(i == 0 || task.id > claimed.at(i - 1).id);
    }
}

void StoreConformance::leasesRenewExpireAndRelease()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 4);
    QList<ClaimedTask> a, b;
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0, kT0 + kLease, &a));
    QVERIFY(store.claimTasks(job, kOwnerB, 2, kT0, kT0 + kLease, &b));

    // A renewed lease outlives the old end; the other owner's does not.
    QVERIFY(store.renewLeases(kOwnerA, kT0 + 3 * kLease));
    QCOMPARE(store.releaseExpiredLeases(kT0 + 2 * kLease), 2);
    TaskCounts counts = store.taskCounts(job);
    QCOMPARE(counts.leased, 2);
    QCOMPARE(counts.pending, 2);
    QCOMPARE(store.leaseOwners(), QStringList{kOwnerA});

    // A dead worker's tasks come back at once.
    QCOMPARE(store.releaseLeasesOf(kOwnerA, kT0 + 2 * kLease), 2);
    QCOMPARE(store.taskCounts(job).pending, 4);
    QVERIFY(store.leaseOwners().isEmpty());
    QCOMPARE(store.releaseExpiredLeases(kT0 + 10 * kLease), 0);
    // Released tasks wait for nothing after their release; with none pending there is no
    // next time.
    QVERIFY(store.nextPendingAtMs(job).value_or(kT0 + 2 * kLease + 1) <= kT0 + 2 * kLease);
    QList<ClaimedTask> all;
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0 + 2 * kLease, kT0 + 3 * kLease, &all));
    QCOMPARE(all.size(), 4);
    QVERIFY(!store.nextPendingAtMs(job).has_value());
}

void StoreConformance::groupedTransitionsCheckTheLeaseOwner()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 4);
    QList<ClaimedTask> claimed;
    QVERIFY(store.claimTasks(job, kOwnerA, 4, kT0, kT0 + kLease, &claimed));
    const QList<qint64> ids = idsOf(claimed);

    // One group: two answers of ours and one for a task whose lease moved to another
    // owner (it expired and was claimed again): that one is skipped, never stored twice.
    QCOMPARE(store.releaseExpiredLeases(kT0 + 2 * kLease), 4);
    QList<ClaimedTask> again;
    QVERIFY(store.claimTasks(job, kOwnerB, 1, kT0 + 2 * kLease, kT0 + 3 * kLease, &again));
    QCOMPARE(again.size(), 1);
    QList<ClaimedTask> mine;
    QVERIFY(store.claimTasks(job, kOwnerA, 3, kT0 + 2 * kLease, kT0 + 3 * kLease, &mine));
    int skipped = -1;
    QVERIFY(store.applyTransitions(kOwnerA,
                                   {transition(mine.at(0).id, OutcomeAction::Complete),
                                    transition(mine.at(1).id, OutcomeAction::Complete),
                                    transition(again.at(0).id, OutcomeAction::Complete)},
                                   kT0 + 2 * kLease, &skipped));
    QCOMPARE(skipped, 1);
    TaskCounts counts = store.taskCounts(job);
    QCOMPARE(counts.completed, 2);
    QCOMPARE(counts.leased, 2);
    // The same answers again are skipped too: a completed task is not leased any more.
    QVERIFY(store.applyTransitions(kOwnerA, {transition(mine.at(0).id, OutcomeAction::Complete)},
                                   kT0 + 2 * kLease, &skipped));
    QCOMPARE(skipped, 1);
    Usage usage;
    double cost = 0;
    qint64 billed = 0;
    QVERIFY(store.jobTotals(job, &usage, &cost, &billed));
    QCOMPARE(cost, 0.5);
    QCOMPARE(usage.inputTokens, 20);
    QCOMPARE(billed, 2);
    QVERIFY(ids.size() == 4);

    // An answer beside a failure (one transaction), and a group naming a task twice (row by
    // row in its order: the second is skipped); the spend ledger counts what was stored.
    const double spentBefore = store.spendSince(0);
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(mine.at(2).id, OutcomeAction::Complete),
         transition(again.at(0).id, OutcomeAction::Retry, ErrorClass::ServerError, kT0)},
        kT0 + 2 * kLease, &skipped));
    QCOMPARE(skipped, 1); // the retry names owner B's task
    QVERIFY(store.applyTransitions(kOwnerB,
                                   {transition(again.at(0).id, OutcomeAction::Complete),
                                    transition(again.at(0).id, OutcomeAction::Complete)},
                                   kT0 + 2 * kLease, &skipped));
    QCOMPARE(skipped, 1);
    QCOMPARE(store.taskCounts(job).completed, 4);
    QCOMPARE(store.spendSince(0) - spentBefore, 0.5);
}

// A group larger than one multi-row statement (SQLite's runs of 32; PostgreSQL's one
// statement per group): every row is still checked against the lease owner, a skipped
// one is counted and adds nothing to the totals, the spend ledger or the cost lines.
void StoreConformance::manyAnswersAtOnceAreCheckedOneByOne()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 75);
    QList<ClaimedTask> mine;
    QList<ClaimedTask> theirs;
    QVERIFY(store.claimTasks(job, kOwnerA, 70, kT0, kT0 + kLease, &mine));
    QVERIFY(store.claimTasks(job, kOwnerB, 5, kT0, kT0 + kLease, &theirs));
    QList<TaskTransition> group;
    for (int i = 0; i < 59; ++i)
        group.append(transition(mine.at(i).id, OutcomeAction::Complete));
    for (const ClaimedTask &task : std::as_const(theirs))
        group.append(transition(task.id, OutcomeAction::Complete));
    int skipped = -1;
    QVERIFY2(store.applyTransitions(kOwnerA, group, kT0 + 50, &skipped),
             qPrintable(store.errorString()));
    QCOMPARE(skipped, 5);
    // Answers stored already, beside new ones: only the new ones count.
    group.clear();
    for (int i = 27; i < 70; ++i)
        group.append(transition(mine.at(i).id, OutcomeAction::Complete));
    QVERIFY2(store.applyTransitions(kOwnerA, group, kT0 + 60, &skipped),
             qPrintable(store.errorString()));
    QCOMPARE(skipped, 32);
    const TaskCounts counts = store.taskCounts(job);
    QCOMPARE(counts.completed, 70);
    QCOMPARE(counts.leased, 5);
    QList<ExportRow> rows;
    QVERIFY(store.forEachExportRow(job, [&](const ExportRow &row) {
        rows.append(row);
        return true;
    }));
    QCOMPARE(rows.size(), 75);
    for (int i = 0; i < 70; ++i) {
        QCOMPARE(rows.at(i).status, u"completed"_s);
        QCOMPARE(rows.at(i).output, u"answer %1"_s.arg(mine.at(i).id));
        QCOMPARE(rows.at(i).attempts, 1);
    }
    Usage usage;
    double cost = 0;
    qint64 billed = 0;
    QVERIFY(store.jobTotals(job, &usage, &cost, &billed));
    QCOMPARE(billed, 70);
    QCOMPARE(usage.inputTokens, 70 * 10);
    QVERIFY(qAbs(cost - 70 * 0.25) < 1e-9);
    QVERIFY(qAbs(store.spendSince(0) - 70 * 0.25) < 1e-9);
    qint64 lineTasks = 0;
    for (const store::CostLine &line : store.costLines(job))
        lineTasks += line.tasks;
    QCOMPARE(lineTasks, 70);
}

void StoreConformance::retryDeadLetterAndReleaseActions()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 3);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 3, kT0, kT0 + kLease, &c));
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(c.at(0).id, OutcomeAction::Retry, ErrorClass::ServerError, kT0 + 5'000),
         transition(c.at(1).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest),
         transition(c.at(2).id, OutcomeAction::Release, ErrorClass::RateLimited, kT0)},
        kT0));
    TaskCounts counts = store.taskCounts(job);
    QCOMPARE(counts.pending, 2);
    QCOMPARE(counts.dead, 1);
    // The retried task waits for its time; the released one goes again at once, uncharged.
    QCOMPARE(store.nextPendingAtMs(job).value_or(-1), kT0);
    QList<ClaimedTask> now;
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0 + 1, kT0 + kLease, &now));
    QCOMPARE(idsOf(now), QList<qint64>{c.at(2).id});
    QCOMPARE(now.at(0).attempts, 0);
    QCOMPARE(store.nextPendingAtMs(job).value_or(-1), kT0 + 5'000);
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0 + 5'000, kT0 + kLease, &now));
    QCOMPARE(idsOf(now), QList<qint64>{c.at(0).id});
    QCOMPARE(now.at(0).attempts, 1);

    const QList<DeadTask> dead = store.deadTasks(job, 10, 0);
    QCOMPARE(dead.size(), 1);
    QCOMPARE(dead.at(0).id, c.at(1).id);
    QCOMPARE(dead.at(0).errorClass, errorClassName(ErrorClass::InvalidRequest));
    QCOMPARE(dead.at(0).errorMessage, u"failed %1"_s.arg(c.at(1).id));
    QVERIFY(store.deadTasks(job, 10, c.at(1).id).isEmpty()); // paged after that id
    const QList<AttemptRecord> attempts = store.attempts(c.at(0).id);
    QCOMPARE(attempts.size(), 1);
    QCOMPARE(attempts.at(0).httpStatus, 500);
}

// ---- batches ----------------------------------------------------------------------------

void StoreConformance::batchesAndAssignment()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 3);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 3, kT0, kT0 + kLease, &c));
    const qint64 batch =
        store.createBatch(job, u"openai"_s, u"batch-api"_s, 2, 10, u"assembling"_s, kT0);
    QVERIFY2(batch > 0, qPrintable(store.errorString()));
    const QString batchOwner = u"batch:%1"_s.arg(batch);
    // Only tasks leased by fromOwner move.
    QCOMPARE(store.assignTasksToBatch(batch, kOwnerB, {c.at(0).id}, batchOwner, kT0 + 10 * kLease),
             0);
    QCOMPARE(store.assignTasksToBatch(batch, kOwnerA, {c.at(0).id, c.at(1).id}, batchOwner,
                                      kT0 + 10 * kLease),
             2);
    QCOMPARE(idsOf(store.leasedTasksOfBatch(batch)), (QList<qint64>{c.at(0).id, c.at(1).id}));
    // The provider holds them: an ordinary lease expiry does not hand them back.
    QCOMPARE(store.releaseExpiredLeases(kT0 + 2 * kLease), 1);
    QVERIFY(store.updateBatch(batch, u"submitted"_s, u"batch_abc"_s, kT0 + 1));
    const QList<ProviderBatchRecord> submitted = store.batches(job, {u"submitted"_s});
    QCOMPARE(submitted.size(), 1);
    QCOMPARE(submitted.at(0).providerBatchId, u"batch_abc"_s);
    QCOMPARE(submitted.at(0).lane, u"batch-api"_s);
    QCOMPARE(submitted.at(0).size, 2);
    QCOMPARE(submitted.at(0).maxSize, 10);
    QVERIFY(store.batches(job, {u"ended"_s}).isEmpty());
    QVERIFY(store.applyTransitions(batchOwner, {transition(c.at(0).id, OutcomeAction::Complete)},
                                   kT0 + 2));
    QCOMPARE(idsOf(store.leasedTasksOfBatch(batch)), QList<qint64>{c.at(1).id});
}

// ---- workers ----------------------------------------------------------------------------

void StoreConformance::workersHeartbeatAndList()
{
    // Two engines on one database: each upserts its row; any connection lists those seen
    // since a time; the first heartbeat's start time stays; a day-old row goes.
    const auto one = open(m_location);
    const auto two = open(m_location);
    QVERIFY(one && two);
    store::WorkerRegistry &a = one->workers();
    store::WorkerRegistry &b = two->workers();
    store::WorkerRecord first;
    first.id = kOwnerA;
    first.host = u"host-a"_s;
    first.pid = 1;
    first.lanes = u"1,2,3"_s;
    first.startedAtMs = kT0;
    first.lastSeenMs = kT0;
    QVERIFY2(a.heartbeat(first), qPrintable(a.errorString()));
    store::WorkerRecord again = first;
    again.startedAtMs = kT0 + 5'000; // ignored: the row keeps its first start
    again.lastSeenMs = kT0 + 5'000;
    again.completed = 40;
    again.inFlight = 3;
    again.rate = 8.5;
    again.rescued = 2;
    again.lanes = u"2"_s;
    QVERIFY(a.heartbeat(again));
    store::WorkerRecord other;
    other.id = kOwnerB;
    other.host = u"host-b"_s;
    other.pid = 2;
    other.startedAtMs = kT0 + 1'000;
    other.lastSeenMs = kT0 + 1'000;
    QVERIFY2(b.heartbeat(other), qPrintable(b.errorString()));

    QList<store::WorkerRecord> seen = b.workers(kT0);
    QCOMPARE(seen.size(), 2);
    QCOMPARE(seen.at(0).id, kOwnerA);
    QCOMPARE(seen.at(0).host, u"host-a"_s);
    QCOMPARE(seen.at(0).pid, qint64(1));
    QCOMPARE(seen.at(0).lanes, u"2"_s);
    QCOMPARE(seen.at(0).startedAtMs, kT0);
    QCOMPARE(seen.at(0).lastSeenMs, kT0 + 5'000);
    QCOMPARE(seen.at(0).completed, qint64(40));
    QCOMPARE(seen.at(0).inFlight, qint64(3));
    QCOMPARE(seen.at(0).rate, 8.5);
    QCOMPARE(seen.at(0).rescued, qint64(2));
    QCOMPARE(seen.at(1).id, kOwnerB);
    // Only those seen since the time asked.
    seen = a.workers(kT0 + 2'000);
    QCOMPARE(seen.size(), 1);
    QCOMPARE(seen.at(0).id, kOwnerA);
    // A heartbeat a day later forgets the worker not seen since.
    again.lastSeenMs = kT0 + store::WorkerRegistry::kForgetAfterMs + 2'000;
    QVERIFY(a.heartbeat(again));
    seen = b.workers(0);
    QCOMPARE(seen.size(), 1);
    QCOMPARE(seen.at(0).id, kOwnerA);
}

void StoreConformance::batchOwnershipPassesFromStaleWorkers()
{
    // One worker at a time polls a provider batch: another takes it only once the owner's
    // heartbeat is stale (or it handed it back), never while the owner is alive.
    const auto db = open(m_location);
    const auto side = open(m_location);
    QVERIFY(db && side);
    store::Store &store = db->queue();
    store::WorkerRegistry &registry = db->workers();
    store::WorkerRegistry &other = side->workers();
    const qint64 job = makeJob(store, 2);
    const qint64 batch =
        store.createBatch(job, u"openai"_s, u"batch-api"_s, 2, 10, u"submitted"_s, kT0);
    const qint64 ended =
        store.createBatch(job, u"openai"_s, u"batch-api"_s, 2, 10, u"submitted"_s, kT0);
    QVERIFY(batch > 0 && ended > 0);
    QVERIFY(store.updateBatch(ended, u"ended"_s, u"batch_done"_s, kT0));
    store::WorkerRecord a;
    a.id = kOwnerA;
    a.host = u"host-a"_s;
    a.pid = 1;
    a.startedAtMs = kT0;
    a.lastSeenMs = kT0;
    QVERIFY(registry.heartbeat(a));
    store::WorkerRecord b = a;
    b.id = kOwnerB;
    QVERIFY(other.heartbeat(b));

    // Unowned but new: its creator takes it, nobody adopts it yet.
    QCOMPARE(other.orphanedBatches(job, kOwnerB, kT0 - 1), QList<qint64>());
    QVERIFY2(registry.takeBatch(batch, kOwnerA, kT0 - 1), qPrintable(registry.errorString()));
    QVERIFY(registry.takeBatch(batch, kOwnerA, kT0 - 1)); // its own already
    // A's heartbeat (kT0) is recent against staleBefore kT0 - 1: B cannot take it.
    QVERIFY(!other.takeBatch(batch, kOwnerB, kT0 - 1));
    QCOMPARE(other.orphanedBatches(job, kOwnerB, kT0 - 1), QList<qint64>());
    // B heartbeats on, A does not: A's batch is an orphan, and B takes it once only.
    b.lastSeenMs = kT0 + 60'000;
    QVERIFY(other.heartbeat(b));
    QCOMPARE(other.orphanedBatches(job, kOwnerB, kT0 + 30'000), QList<qint64>{batch});
    QVERIFY(other.takeBatch(batch, kOwnerB, kT0 + 30'000));
    QCOMPARE(other.orphanedBatches(job, kOwnerB, kT0 + 30'000), QList<qint64>());
    QVERIFY(!registry.takeBatch(batch, kOwnerA, kT0 + 30'000));
    // B stops and hands it back: an old unowned batch is adopted at once; ended ones never.
    QCOMPARE(other.releaseBatches(kOwnerB), 1);
    QCOMPARE(registry.orphanedBatches(job, kOwnerA, kT0 + 30'000), QList<qint64>{batch});
    QVERIFY(registry.takeBatch(batch, kOwnerA, kT0 + 30'000));
    QVERIFY(!registry.takeBatch(batch, kOwnerB, kT0 - 1));
}

void StoreConformance::sharedRateScheduleNeverRunsAhead()
{
    // Two workers reserve slots of one schedule: the second starts where the first ended,
    // nothing is handed out beyond the horizon, an idle schedule restarts at now, and a
    // postponement holds everybody.
    const auto one = open(m_location);
    const auto two = open(m_location);
    QVERIFY(one && two);
    store::SharedLimits &a = one->sharedLimits();
    store::SharedLimits &b = two->sharedLimits();
    const QString key = u"openai|http://127.0.0.1:9/v1|gpt-4.1-mini"_s;
    const double t0 = double(kT0);
    auto grant = a.reserveSlots(key, 33.5, 4, t0, 250.0);
    QVERIFY2(grant, qPrintable(a.errorString()));
    QCOMPARE(grant->count, 4);
    QCOMPARE(grant->firstMs, t0);
    grant = b.reserveSlots(key, 33.5, 4, t0 + 1.0, 250.0);
    QVERIFY2(grant, qPrintable(b.errorString()));
    QCOMPARE(grant->count, 4);
    QCOMPARE(grant->firstMs, t0 + 4 * 33.5); // after A's slots, not at B's now
    // Eight slots out (up to t0 + 268): the next would start beyond now + 250.
    grant = a.reserveSlots(key, 33.5, 4, t0 + 2.0, 250.0);
    QVERIFY(grant);
    QCOMPARE(grant->count, 0);
    QCOMPARE(grant->retryAtMs, t0 + 8 * 33.5 - 250.0);
    grant = a.reserveSlots(key, 33.5, 1, grant->retryAtMs, 250.0);
    QVERIFY(grant);
    QCOMPARE(grant->count, 1);
    QCOMPARE(grant->firstMs, t0 + 8 * 33.5);
    // Nobody sent for a minute: the schedule starts at now, no burst of missed slots.
    grant = b.reserveSlots(key, 33.5, 2, t0 + 60'000.0, 250.0);
    QVERIFY(grant);
    QCOMPARE(grant->firstMs, t0 + 60'000.0);
    // The provider said "wait 2 s": no slot before then, for either worker.
    QVERIFY2(a.postponeSlots(key, t0 + 62'500.0), qPrintable(a.errorString()));
    grant = b.reserveSlots(key, 33.5, 1, t0 + 61'000.0, 250.0);
    QVERIFY(grant);
    QCOMPARE(grant->count, 0);
    QCOMPARE(grant->retryAtMs, t0 + 62'250.0);
    // An earlier postponement does not pull the schedule back.
    QVERIFY(a.postponeSlots(key, t0 + 61'000.0));
    grant = b.reserveSlots(key, 33.5, 1, t0 + 62'250.0, 250.0);
    QVERIFY(grant);
    QCOMPARE(grant->firstMs, t0 + 62'500.0);
    // Keys are independent.
    grant = b.reserveSlots(key + u"|tokens"_s, 0.5, 100, t0 + 61'000.0, 250.0);
    QVERIFY(grant);
    QCOMPARE(grant->count, 100);
    QCOMPARE(grant->firstMs, t0 + 61'000.0);
}

void StoreConformance::sharedLimitersHoldTheRateTogether()
{
    // Three rate limiters on three connections, as three workers, each always with work,
    // under one 600 requests-per-minute limit on a fake clock: together they send at the
    // limit (less its headroom), never more in any minute, each about a third; a request
    // as soon as its limiter allows.
    std::vector<std::unique_ptr<Database>> workers;
    std::vector<dispatch::RateLimiter> limiters;
    const QString key = u"sim||sim-1"_s;
    for (int i = 0; i < 3; ++i) {
        workers.push_back(open(m_location));
        QVERIFY(workers.back());
        limiters.emplace_back(dispatch::RateLimiter::Options{.configuredRpm = 600});
    }
    for (int i = 0; i < 3; ++i)
        limiters[i].share(&workers[i]->sharedLimits(), key);
    QList<qint64> sent;
    int perWorker[3] = {0, 0, 0};
    qint64 nextTry[3] = {kT0, kT0 + 3, kT0 + 7};
    for (qint64 now = kT0; now < kT0 + 120'000; ++now) {
        // Workers that wake in the same millisecond ask in turn, none always first.
        for (int turn = 0; turn < 3; ++turn) {
            const int i = int((now + turn) % 3);
            if (now < nextTry[i])
                continue;
            const qint64 wait = limiters[i].delayMs(100, now);
            if (wait > 0) {
                nextTry[i] = now + wait;
                continue;
            }
            limiters[i].consume(100, now);
            sent.append(now);
            ++perWorker[i];
        }
    }
    // Any minute: at most the limit.
    int most = 0;
    for (qsizetype first = 0, last = 0; last < sent.size(); ++last) {
        while (sent.at(last) - sent.at(first) >= 60'000)
            ++first;
        most = std::max(most, int(last - first + 1));
    }
    qInfo("shared limit 600/min, 3 limiters: %lld sent in 120 s, at most %d in a minute, "
          "per worker %d %d %d",
          qint64(sent.size()), most, perWorker[0], perWorker[1], perWorker[2]);
    QVERIFY2(most <= 600, qPrintable(u"%1 requests in one minute"_s.arg(most)));
    // Two minutes at 98.5 % of 600 a minute.
    QVERIFY2(sent.size() >= 1'170 && sent.size() <= 1'200, qPrintable(QString::number(sent.size())));
    for (int i = 0; i < 3; ++i)
        QVERIFY2(perWorker[i] >= 250, qPrintable(u"worker %1 sent %2"_s.arg(i).arg(perWorker[i])));
}

void StoreConformance::sharedBreakerOpensForAllAndProbesOnce()
{
    // Worker A sees the outage and opens the breaker; B, which saw nothing, holds too; when
    // the cool-down ends exactly one of them probes; the probe's failure reopens it for both
    // with a doubled cool-down, its success closes it for both.
    const auto one = open(m_location);
    const auto two = open(m_location);
    QVERIFY(one && two);
    const dispatch::CircuitBreaker::Options options{.failureThreshold = 2, .openMs = 10'000,
                                                    .syncMs = 0};
    dispatch::CircuitBreaker a(options);
    dispatch::CircuitBreaker b(options);
    const QString key = u"openai|http://127.0.0.1:9/v1|gpt-4.1-mini"_s;
    a.share(&one->sharedLimits(), key, kOwnerA);
    b.share(&two->sharedLimits(), key, kOwnerB);
    using State = dispatch::CircuitBreaker::State;
    QVERIFY(b.allowRequest(kT0));
    QVERIFY(!a.recordOutageFailure(kT0));
    QVERIFY(a.recordOutageFailure(kT0 + 10)); // opened here...
    QCOMPARE(b.state(kT0 + 20), State::Open); // ...and there
    QVERIFY(!b.allowRequest(kT0 + 20));
    QCOMPARE(b.waitMs(kT0 + 20), qint64(9'990));
    auto shared = one->sharedLimits().breaker(key);
    QVERIFY(shared);
    QCOMPARE(shared->timesOpened, qint64(1));
    // Cool-down over: B asks first and probes, A waits for B's answer.
    QVERIFY(b.allowRequest(kT0 + 10'010));
    QVERIFY(!a.allowRequest(kT0 + 10'020));
    QCOMPARE(a.state(kT0 + 10'020), State::Open);
    // The probe fails: open again for 20 s, for both.
    QVERIFY(b.recordOutageFailure(kT0 + 10'100));
    QCOMPARE(a.state(kT0 + 10'200), State::Open);
    QVERIFY(!a.allowRequest(kT0 + 25'000));
    QCOMPARE(a.waitMs(kT0 + 25'000), qint64(5'100));
    // Now A probes, and it answers: closed for both.
    QVERIFY(a.allowRequest(kT0 + 30'100));
    QVERIFY(!b.allowRequest(kT0 + 30'110));
    a.recordSuccess(kT0 + 30'200);
    QCOMPARE(b.state(kT0 + 30'300), State::Closed);
    QVERIFY(b.allowRequest(kT0 + 30'300));
    shared = two->sharedLimits().breaker(key);
    QVERIFY(shared);
    QCOMPARE(shared->openUntilMs, qint64(0));
    QCOMPARE(shared->timesOpened, qint64(2));
    // A worker whose probe claim lapsed (it died) leaves the probe to another.
    QVERIFY(one->sharedLimits().openBreaker(key, kT0 + 40'000, 10'000, kT0 + 30'400));
    QVERIFY(one->sharedLimits().takeProbe(key, kOwnerA, kT0 + 40'000, kT0 + 41'000));
    QVERIFY(!two->sharedLimits().takeProbe(key, kOwnerB, kT0 + 40'500, kT0 + 41'500));
    QVERIFY(two->sharedLimits().takeProbe(key, kOwnerB, kT0 + 41'001, kT0 + 42'000));
}

void StoreConformance::sharedWorkerShares()
{
    // Each worker's amount per key (requests in flight, reserved micro-USD); a job's
    // ceiling of 8 split between two.
    const auto one = open(m_location);
    const auto two = open(m_location);
    QVERIFY(one && two);
    store::SharedLimits &a = one->sharedLimits();
    store::SharedLimits &b = two->sharedLimits();
    QVERIFY2(a.setShare(u"job:1"_s, kOwnerA, 6, kT0), qPrintable(a.errorString()));
    QVERIFY(b.setShare(u"job:1"_s, kOwnerB, 2, kT0));
    QVERIFY(b.setShare(u"job:2"_s, kOwnerB, 5, kT0));
    auto others = b.sharesElsewhere(u"job:1"_s, kOwnerB, kT0 - 1'000);
    QVERIFY2(others, qPrintable(b.errorString()));
    QCOMPARE(others->amount, qint64(6));
    QCOMPARE(others->workers, 1);
    QVERIFY(a.setShare(u"job:1"_s, kOwnerA, 3, kT0 + 500));
    others = b.sharesElsewhere(u"job:1"_s, kOwnerB, kT0);
    QVERIFY(others);
    QCOMPARE(others->amount, qint64(3));
    // Old counts are a gone worker's; 0 removes the row.
    others = b.sharesElsewhere(u"job:1"_s, kOwnerB, kT0 + 1'000);
    QVERIFY(others);
    QCOMPARE(others->workers, 0);
    QVERIFY(a.setShare(u"job:1"_s, kOwnerA, 0, kT0 + 600));
    others = b.sharesElsewhere(u"job:1"_s, kOwnerB, 0);
    QVERIFY(others);
    QCOMPARE(others->amount, qint64(0));
    others = a.sharesElsewhere(u"job:1"_s, kOwnerA, 0);
    QVERIFY(others);
    QCOMPARE(others->amount, qint64(2));

    // Two limiters of one job under a shared ceiling of 8: the first alone may use it all,
    // once the second has requests out each keeps to what the other leaves.
    dispatch::ConcurrencyLimiter first(16);
    dispatch::ConcurrencyLimiter second(16);
    first.share(&a, u"job:9"_s, kOwnerA, 8, kT0);
    QCOMPARE(first.limit(), 8);
    first.syncShared(8, kT0 + 100, true);
    second.share(&b, u"job:9"_s, kOwnerB, 8, kT0 + 100);
    QCOMPARE(second.limit(), 4); // its fair share, though the first holds all 8
    second.syncShared(4, kT0 + 200, true);
    first.syncShared(8, kT0 + 200, true);
    QCOMPARE(first.limit(), 4);
    first.syncShared(4, kT0 + 300, true);
    second.syncShared(4, kT0 + 300, true);
    QCOMPARE(second.limit(), 4);
    // The second stops: the first may take the whole ceiling again.
    second.syncShared(0, kT0 + 400, true);
    first.syncShared(4, kT0 + 400, true);
    QCOMPARE(first.limit(), 8);
}

// ---- replay -----------------------------------------------------------------------------

void StoreConformance::replayByIdsClassAndRevision()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 4);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 4, kT0, kT0 + kLease, &c));
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(c.at(0).id, OutcomeAction::DeadLetter, ErrorClass::ServerError),
         transition(c.at(1).id, OutcomeAction::DeadLetter, ErrorClass::ServerError),
         transition(c.at(2).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest),
         transition(c.at(3).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0));

    // By ids: only dead tasks among them change.
    QCOMPARE(store.replayDead(job, {c.at(0).id}, kT0 + 1), 1);
    QCOMPARE(store.replayDead(job, {c.at(0).id}, kT0 + 1), 0);
    QCOMPARE(store.taskCounts(job).dead, 3);

    // By class, onto a new template revision.
    QCOMPARE(store.templateRevision(job, 0)->first, makeSpec().templateText);
    QCOMPARE(store.addTemplateRevision(job, u"Say {{id}}"_s, u"Be brief"_s, kT0), 1);
    QCOMPARE(store.templateRevision(job, 1)->second, u"Be brief"_s);
    QVERIFY(!store.templateRevision(job, 2).has_value());
    QCOMPARE(store.replayDead(job, {}, kT0 + 2, errorClassName(ErrorClass::ServerError), 1), 1);
    QList<ClaimedTask> replayed;
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0 + 2, kT0 + kLease, &replayed));
    QCOMPARE(replayed.size(), 2);
    QCOMPARE(replayed.at(0).templateRevision, 0); // replayed by id, keeps its revision
    QCOMPARE(replayed.at(1).templateRevision, 1);
    QCOMPARE(replayed.at(1).attempts, 0);

    // Everything left, of every job.
    QCOMPARE(store.replayDead(0, {}, kT0 + 3), 2);
    QCOMPARE(store.taskCounts(job).dead, 0);
}

// ---- alerts, settings, spend ------------------------------------------------------------

void StoreConformance::alertsRaiseRefreshAndClearOnce()
{
    const auto first = open(m_location);
    const auto second = open(m_location); // another worker on the same database
    QVERIFY(first && second);
    store::Store &a = first->queue();
    store::Store &b = second->queue();
    const qint64 job = makeJob(a, 1);
    bool created = false;
    const qint64 id = a.raiseAlert(job, u"quota_exhausted"_s, u"out of credit"_s, kT0,
                                   QJsonObject{{u"value"_s, 1}}, &created);
    QVERIFY(id > 0);
    QVERIFY(created);
    // Raised again elsewhere: the same open alert, refreshed, not created.
    QCOMPARE(b.raiseAlert(job, u"quota_exhausted"_s, u"still out"_s, kT0 + 10,
                          QJsonObject{{u"value"_s, 2}}, &created),
             id);
    QVERIFY(!created);
    QList<AlertRecord> open = a.alerts(false);
    QCOMPARE(open.size(), 1);
    QCOMPARE(open.at(0).message, u"still out"_s);
    QCOMPARE(open.at(0).raisedAt.toMSecsSinceEpoch(), kT0);
    QCOMPARE(open.at(0).figures.value(u"value"_s).toInt(), 2);

    // Cleared once: the second clear closes nothing.
    int cleared = -1;
    QVERIFY(
        b.clearAlerts(job, u"quota_exhausted"_s, kT0 + 20, QJsonObject{{u"value"_s, 0}}, &cleared));
    QCOMPARE(cleared, 1);
    QVERIFY(a.clearAlerts(job, u"quota_exhausted"_s, kT0 + 30, {}, &cleared));
    QCOMPARE(cleared, 0);
    QVERIFY(a.alerts(false).isEmpty());
    const QList<AlertRecord> all = a.alerts(true);
    QCOMPARE(all.size(), 1);
    QCOMPARE(all.at(0).clearedAt.toMSecsSinceEpoch(), kT0 + 20);
    QVERIFY(all.at(0).figures.contains(u"cleared"_s));
}

void StoreConformance::settingsAndSpendLedger()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    QVERIFY(!store.setting(u"some_key"_s).has_value());
    QVERIFY(store.setSetting(u"some_key"_s, u"1"_s));
    QVERIFY(store.setSetting(u"some_key"_s, u"2.5"_s));
    QCOMPARE(store.setting(u"some_key"_s).value_or(QString()), u"2.5"_s);

    constexpr qint64 kDay = 86'400'000;
    const qint64 dayStart = kT0 / kDay * kDay;
    QCOMPARE(store.spendSince(0), 0.0);
    const qint64 job = makeJob(store, 3);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 3, kT0, kT0 + kLease, &c));
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(c.at(0).id, OutcomeAction::Complete),
         transition(c.at(1).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0));
    QVERIFY(store.applyTransitions(kOwnerA, {transition(c.at(2).id, OutcomeAction::Complete)},
                                   dayStart + kDay + 5));
    QCOMPARE(store.spendSince(0), 0.5);
    QCOMPARE(store.spendSince(dayStart + kDay + 1000), 0.25); // rounded down to its day
    QCOMPARE(store.spendSince(dayStart + 2 * kDay), 0.0);
}

void StoreConformance::rejectedAnswersAreBilled()
{
    // Structured answers the schema refused (invalid_output) were billed by the provider:
    // the task keeps their tokens and cost whatever becomes of it, and the job's cost and
    // the spend ledger count them in the same transaction.
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 2);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0, kT0 + kLease, &c));
    QCOMPARE(c.size(), 2);
    const auto refused = [](qint64 taskId, OutcomeAction action) {
        TaskTransition t = transition(taskId, action, ErrorClass::InvalidOutput, kT0);
        t.outcome.rejectedUsage.inputTokens = 30;
        t.outcome.rejectedUsage.outputTokens = 12;
        t.outcome.rejectedCostUsd = 0.05;
        return t;
    };
    QVERIFY2(store.applyTransitions(kOwnerA, {refused(c.at(0).id, OutcomeAction::Retry),
                                              refused(c.at(1).id, OutcomeAction::Retry)},
                                    kT0),
             qPrintable(store.errorString()));
    double cost = -1;
    QVERIFY(store.jobTotals(job, nullptr, &cost, nullptr));
    QVERIFY2(qAbs(cost - 0.10) < 1e-12, qPrintable(QString::number(cost)));
    QVERIFY(qAbs(store.spendSince(0) - 0.10) < 1e-12);
    // Then one completes (its cost holds the refused answer too), the other is refused
    // again and dead-lettered.
    c.clear();
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0 + 1, kT0 + kLease, &c));
    QCOMPARE(c.size(), 2);
    QVERIFY2(store.applyTransitions(kOwnerA, {transition(c.at(0).id, OutcomeAction::Complete),
                                              refused(c.at(1).id, OutcomeAction::DeadLetter)},
                                    kT0 + 1),
             qPrintable(store.errorString()));
    QVERIFY(store.jobTotals(job, nullptr, &cost, nullptr));
    QVERIFY2(qAbs(cost - (0.05 + 0.25 + 0.05 + 0.05)) < 1e-12, qPrintable(QString::number(cost)));
    QVERIFY(qAbs(store.spendSince(0) - 0.40) < 1e-12);
}

void StoreConformance::jobChargesCountOncePerKey()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    constexpr qint64 kDay = 86'400'000;
    const qint64 job = makeJob(store, 2);
    const qint64 other = makeJob(store, 1, u"b"_s);
    store::JobCharge charge =
        cacheCharge(u"cachedContents/c1"_s, u"gemini-2.5-flash"_s, 0.12, u"a day of storage"_s);
    double delta = -1;
    // Counted the moment it is recorded, with no task completed.
    QVERIFY2(store.recordJobCharge(job, charge, kT0, &delta), qPrintable(store.errorString()));
    QCOMPARE(delta, 0.12);
    double cost = -1;
    QVERIFY(store.jobTotals(job, nullptr, &cost, nullptr));
    QCOMPARE(cost, 0.12);
    QCOMPARE(store.spendSince(0), 0.12);
    // The same fact again (a restart): nothing more.
    QVERIFY(store.recordJobCharge(job, charge, kT0 + 10, &delta));
    QCOMPARE(delta, 0.0);
    QCOMPARE(store.spendSince(0), 0.12);
    // What it came to, a day later: the difference moves the job's cost and the ledger's
    // first day.
    charge.usd = 0.02;
    charge.detail = u"deleted after an hour"_s;
    QVERIFY(store.recordJobCharge(job, charge, kT0 + kDay, &delta));
    QVERIFY(qAbs(delta + 0.10) < 1e-12);
    QVERIFY(store.jobTotals(job, nullptr, &cost, nullptr));
    QVERIFY(qAbs(cost - 0.02) < 1e-12);
    QVERIFY(qAbs(store.spendSince(0) - 0.02) < 1e-12);
    QCOMPARE(store.spendSince(kT0 / kDay * kDay + kDay), 0.0);
    // The same key in another job is another charge; tasks' costs add to charges.
    QVERIFY(store.recordJobCharge(other, charge, kT0, &delta));
    QCOMPARE(delta, 0.02);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 1, kT0, kT0 + kLease, &c));
    QVERIFY(
        store.applyTransitions(kOwnerA, {transition(c.at(0).id, OutcomeAction::Complete)}, kT0));
    QVERIFY(store.jobTotals(job, nullptr, &cost, nullptr));
    QVERIFY(qAbs(cost - 0.27) < 1e-12);
    QVERIFY(qAbs(store.spendSince(0) - 0.29) < 1e-12);
    const QList<store::JobCharge> charges = store.jobCharges(job);
    QCOMPARE(charges.size(), 1);
    QCOMPARE(charges.at(0).key, u"cachedContents/c1"_s);
    QCOMPARE(charges.at(0).kind, u"explicit_cache"_s);
    QCOMPARE(charges.at(0).model, u"gemini-2.5-flash"_s);
    QCOMPARE(charges.at(0).detail, u"deleted after an hour"_s);
    QCOMPARE(charges.at(0).createdAtMs, kT0);
    QCOMPARE(charges.at(0).updatedAtMs, kT0 + kDay);
    // Gone with its job.
    QVERIFY(store.deleteJob(other));
    QVERIFY(store.jobCharges(other).isEmpty());
}

// ---- cost -------------------------------------------------------------------------------

void StoreConformance::responseCache()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    QCOMPARE(store.cachedResponseCount(), 0);
    const qint64 job = makeJob(store, 2);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0, kT0 + kLease, &c));
    QVERIFY(store.applyTransitions(kOwnerA,
                                   {transition(c.at(0).id, OutcomeAction::Complete),
                                    transition(c.at(1).id, OutcomeAction::Complete)},
                                   kT0));
    const QByteArray key = cacheKey(u"request one"_s);
    QVERIFY(!store.cachedResponse(key).has_value());
    store::CachedResponse first;
    first.key = key;
    first.taskId = c.at(0).id;
    first.createdAtMs = kT0;
    store::CachedResponse second = first;
    second.taskId = c.at(1).id; // same key: the first one stays
    QVERIFY(store.storeCachedResponses({first}));
    QVERIFY(store.storeCachedResponses({second}));
    QVERIFY(store.storeCachedResponses({}));
    QCOMPARE(store.cachedResponseCount(), 1);
    const auto hit = store.cachedResponse(key);
    QVERIFY(hit);
    QCOMPARE(hit->output, u"answer %1"_s.arg(c.at(0).id));
    QCOMPARE(hit->model, u"sim-1"_s);
    QCOMPARE(hit->usage.inputTokens, 10);
    QCOMPARE(hit->createdAtMs, kT0);
    QVERIFY(!store.cachedResponse(cacheKey(u"request two"_s)).has_value());

    // Several keys at once (one repeated), absent ones left out; of one key met twice in one write, the
    // first answer stays.
    store::CachedResponse third = first;
    third.key = cacheKey(u"request three"_s);
    third.taskId = c.at(1).id;
    store::CachedResponse again = third;
    again.taskId = c.at(0).id;
    QVERIFY(store.storeCachedResponses({third, again}));
    QCOMPARE(store.cachedResponseCount(), 2);
    const QHash<QByteArray, store::CachedResponse> many =
        store.cachedResponses({key, cacheKey(u"request two"_s), third.key, third.key});
    QCOMPARE(many.size(), 2);
    QCOMPARE(many.value(key).output, u"answer %1"_s.arg(c.at(0).id));
    QCOMPARE(many.value(third.key).output, u"answer %1"_s.arg(c.at(1).id));
    QCOMPARE(many.value(third.key).key, third.key);
    QCOMPARE(many.value(third.key).usage.inputTokens, 10);
    QVERIFY(store.cachedResponses({}).isEmpty());
}

void StoreConformance::costLinesAndCalibration()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 3);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 3, kT0, kT0 + kLease, &c));
    TaskTransition cached = transition(c.at(2).id, OutcomeAction::Complete);
    cached.outcome.cacheHit = true;
    cached.outcome.costUsd = 0.0;
    cached.chargeAttempt = false;
    QVERIFY(store.applyTransitions(kOwnerA,
                                   {transition(c.at(0).id, OutcomeAction::Complete),
                                    transition(c.at(1).id, OutcomeAction::Complete), cached},
                                   kT0));
    const QList<store::CostLine> lines = store.costLines(job);
    QCOMPARE(lines.size(), 2);
    qint64 tasks = 0;
    double cost = 0;
    for (const store::CostLine &line : lines) {
        QCOMPARE(line.model, u"sim-1"_s);
        QVERIFY(line.lane == u"sync"_s || line.lane == u"response-cache"_s);
        QCOMPARE(line.day.size(), 10); // YYYY-MM-DD
        tasks += line.tasks;
        cost += line.costUsd;
        if (line.lane == u"sync"_s)
            QCOMPARE(line.usage.outputTokens, 8);
    }
    QCOMPARE(tasks, 3);
    QCOMPARE(cost, 0.5);
    QVERIFY(store.costLines(job + 1000).isEmpty());

    // Calibration: the completed tasks of jobs with the same template, prompt and model,
    // cache hits left out.
    const JobSpec spec = makeSpec();
    const store::UsageCalibration calibration =
        store.usageCalibration(spec.templateText, spec.systemPrompt, spec.model);
    QCOMPARE(calibration.tasks, 2);
    QCOMPARE(calibration.meanOutputTokens, 4.0);
    QCOMPARE(calibration.maxOutputTokens, 4);
    QCOMPARE(store.usageCalibration(u"other"_s, spec.systemPrompt, spec.model).tasks, 0);
}

void StoreConformance::exportRowsInInputOrder()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 3);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0, kT0 + kLease, &c));
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(c.at(0).id, OutcomeAction::Complete),
         transition(c.at(1).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0));
    QList<ExportRow> rows;
    QVERIFY(store.forEachExportRow(job, [&](const ExportRow &row) {
        rows.append(row);
        return true;
    }));
    QCOMPARE(rows.size(), 3);
    QCOMPARE(rows.at(0).inputValues, (QStringList{u"R1"_s, u"review 1 ü"_s}));
    QCOMPARE(rows.at(0).status, u"completed"_s);
    QCOMPARE(rows.at(0).output, u"answer %1"_s.arg(c.at(0).id));
    QCOMPARE(rows.at(0).costUsd.value_or(-1), 0.25);
    QCOMPARE(rows.at(1).status, u"dead"_s);
    QCOMPARE(rows.at(2).status, u"pending"_s);
    int seen = 0;
    QVERIFY(store.forEachExportRow(job, [&](const ExportRow &) { return ++seen < 2; }));
    QCOMPARE(seen, 2); // the sink stops it early
}

// A job whose tasks another job's interleave comes out whole, in input order, without the
// other job's rows; rows another connection appends while the export runs come out too.
void StoreConformance::exportWalksPagesOfItsJobOnly()
{
    const auto db = open(m_location);
    const auto appender = open(m_location);
    QVERIFY(db && appender);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 2'500);
    const qint64 other = makeJob(store, 30, u"b"_s);
    QVERIFY(job > 0 && other > 0);
    QVERIFY(store.appendTasks(job, 2'501, makeRows(1'600, 2'501), 2, kT0)); // after the other's
    QVERIFY(store.appendTasks(other, 31, makeRows(5, 31), 2, kT0));

    QStringList ids;
    bool appended = false;
    QVERIFY(store.forEachExportRow(job, [&](const ExportRow &row) {
        ids.append(row.inputValues.value(0));
        if (ids.size() == 4'000 && !appended) // before the last page is read
            appended = appender->queue().appendTasks(job, 4'101, makeRows(3, 4'101), 2, kT0);
        return true;
    }));
    QVERIFY(appended);
    QCOMPARE(ids.size(), 4'103);
    for (int i = 0; i < ids.size(); ++i)
        QCOMPARE(ids.at(i), u"R%1"_s.arg(i + 1));

    qint64 otherRows = 0;
    QVERIFY(store.forEachExportRow(other, [&](const ExportRow &row) {
        ++otherRows;
        return row.inputValues.value(0) == u"R%1"_s.arg(otherRows);
    }));
    QCOMPARE(otherRows, 35);
    // Stopped early in a long walk (PostgreSQL cancels its COPY midway), the store goes on
    // answering, and a walk after it is whole.
    int seen = 0;
    QVERIFY(store.forEachExportRow(job, [&](const ExportRow &) { return ++seen < 10; }));
    QCOMPARE(seen, 10);
    QCOMPARE(store.taskCounts(job).pending, 4'103);
    seen = 0;
    QVERIFY(store.forEachExportRow(job, [&](const ExportRow &) { return ++seen > 0; }));
    QCOMPARE(seen, 4'103);
}

// Whatever a row or an answer holds comes out as it went in: tabs, line breaks, backslashes
// and a text that reads "\N" (PostgreSQL's COPY escapes each of them and writes NULL as \N),
// control characters, non-Latin text and an empty field; an answer of unknown cost keeps
// its cost unknown.
void StoreConformance::exportKeepsEveryCharacter()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const QStringList awkward{
        u"tab\there, line\nbreak, return\r\n, backslash \\ and \\t and \\\\N"_s,
        u"\\N"_s,
        QString(),
        u"bell \a, backspace \b, form feed \f, vertical tab \v, escape \x1b, DEL \x7f"_s,
        u"ünïcödé 日本語 🚀 \"quoted\" 'single' ,comma;"_s,
    };
    const qint64 job = store.createJob(makeSpec(u"awkward"_s), {u"id"_s, u"review"_s}, kT0);
    QVERIFY(job > 0);
    QList<QStringList> rows;
    for (const QString &text : awkward)
        rows.append({text, text + u"\\"_s});
    QVERIFY(store.appendTasks(job, 1, rows, 2, kT0));
    QList<ClaimedTask> claimed;
    QVERIFY(store.claimTasks(job, kOwnerA, int(awkward.size()), kT0, kT0 + kLease, &claimed));
    QCOMPARE(claimed.size(), awkward.size());
    QList<TaskTransition> group;
    for (int i = 0; i < claimed.size(); ++i) {
        const bool dead = i == 1;
        TaskTransition t = transition(claimed.at(i).id,
                                      dead ? OutcomeAction::DeadLetter : OutcomeAction::Complete,
                                      dead ? ErrorClass::InvalidRequest : ErrorClass::None);
        if (dead)
            t.outcome.errorMessage = awkward.at(0);
        else
            t.outcome.output = awkward.at(i);
        if (i == 2)
            t.outcome.costUsd = std::nullopt;
        if (i == 3)
            t.outcome.costUsd = 0.1 + 0.2; // every digit of a double comes back
        group.append(t);
    }
    QVERIFY2(store.applyTransitions(kOwnerA, group, kT0 + 10), qPrintable(store.errorString()));

    QList<ExportRow> exported;
    QVERIFY2(store.forEachExportRow(job,
                                    [&](const ExportRow &row) {
                                        exported.append(row);
                                        return true;
                                    }),
             qPrintable(store.errorString()));
    QCOMPARE(exported.size(), awkward.size());
    for (int i = 0; i < exported.size(); ++i) {
        const ExportRow &row = exported.at(i);
        QCOMPARE(row.taskId, claimed.at(i).id);
        QCOMPARE(row.inputValues, (QStringList{awkward.at(i), awkward.at(i) + u"\\"_s}));
        if (i == 1) {
            QCOMPARE(row.status, u"dead"_s);
            QVERIFY(row.output.isEmpty());
            QCOMPARE(row.error, u"invalid_request: "_s + awkward.at(0));
            QCOMPARE(row.costUsd, std::optional<double>(0.0));
            continue;
        }
        QCOMPARE(row.status, u"completed"_s);
        QCOMPARE(row.output, awkward.at(i));
        QVERIFY(row.error.isEmpty());
        QCOMPARE(row.model, u"sim-1"_s);
        QCOMPARE(row.inputTokens, 10);
        QCOMPARE(row.outputTokens, 4);
        QCOMPARE(row.attempts, 1);
        if (i == 2)
            QVERIFY(!row.costUsd.has_value());
        else if (i == 3)
            QCOMPARE(row.costUsd.value_or(-1), 0.1 + 0.2);
        else
            QCOMPARE(row.costUsd.value_or(-1), 0.25);
    }
    // Stopped after the first row (PostgreSQL cancels its COPY), the store goes on answering.
    int seen = 0;
    QVERIFY(store.forEachExportRow(job, [&](const ExportRow &) { return ++seen < 1; }));
    QCOMPARE(seen, 1);
    QCOMPARE(store.taskCounts(job).completed, awkward.size() - 1);
    QVERIFY(store.setJobState(job, JobState::Finished, QString(), kT0 + 20));
}

// A store may answer the same totals again only while nothing changed: a commit on
// another connection and a change of its own both show at once.
void StoreConformance::jobTotalsFollowEveryChange()
{
    const auto db = open(m_location);
    const auto other = open(m_location);
    QVERIFY(db && other);
    store::Store &writer = db->queue();
    store::Store &reader = other->queue();
    const qint64 job = makeJob(writer, 3);
    const qint64 second = makeJob(writer, 2, u"b"_s);
    const auto billedOf = [](store::Store &store, qint64 jobId, double *cost) {
        qint64 billed = -1;
        *cost = -1;
        return store.jobTotals(jobId, nullptr, cost, &billed) ? billed : -1;
    };
    double cost = 0;
    QCOMPARE(billedOf(reader, job, &cost), 0);
    QCOMPARE(billedOf(reader, job, &cost), 0); // asked twice, unchanged
    QCOMPARE(cost, 0.0);

    QList<ClaimedTask> c;
    QVERIFY(writer.claimTasks(job, kOwnerA, 1, kT0, kT0 + kLease, &c));
    QVERIFY(writer.applyTransitions(kOwnerA, {transition(c.at(0).id, OutcomeAction::Complete)}, kT0));
    QCOMPARE(billedOf(reader, job, &cost), 1); // another connection's commit
    QCOMPARE(cost, 0.25);

    QVERIFY(reader.claimTasks(job, kOwnerB, 1, kT0, kT0 + kLease, &c));
    QVERIFY(reader.applyTransitions(kOwnerB, {transition(c.at(0).id, OutcomeAction::Complete)}, kT0));
    QCOMPARE(billedOf(reader, job, &cost), 2); // its own change
    QCOMPARE(cost, 0.5);
    QCOMPARE(billedOf(reader, second, &cost), 0); // another job
    QCOMPARE(billedOf(reader, job, &cost), 2);
    QCOMPARE(billedOf(writer, job, &cost), 2);

    // The job list and one job's record carry the same figures as taskCounts/jobTotals,
    // for every job at once (a charge and a failed attempt's classifier cost included).
    QVERIFY2(writer.recordJobCharge(
                 second, cacheCharge(u"cache-1"_s, u"sim-1"_s, 0.125, u"an hour of storage"_s), kT0),
             qPrintable(writer.errorString()));
    QVERIFY(writer.claimTasks(second, kOwnerA, 1, kT0, kT0 + kLease, &c));
    TaskTransition retry = transition(c.at(0).id, OutcomeAction::Retry, ErrorClass::ServerError, kT0);
    retry.outcome.classifyCostUsd = 0.0625;
    QVERIFY(writer.applyTransitions(kOwnerA, {retry}, kT0));
    QVERIFY(writer.claimTasks(second, kOwnerA, 1, kT0 + 1, kT0 + kLease, &c));
    const QList<JobInfo> listed = reader.jobs();
    QCOMPARE(listed.size(), 2);
    for (const JobInfo &info : listed) {
        Usage usage;
        double total = -1;
        QVERIFY(reader.jobTotals(info.id, &usage, &total, nullptr));
        const TaskCounts counts = reader.taskCounts(info.id);
        const auto one = reader.job(info.id);
        QVERIFY(one);
        for (const JobInfo &shown : {info, *one}) {
            QCOMPARE(shown.counts.pending, counts.pending);
            QCOMPARE(shown.counts.leased, counts.leased);
            QCOMPARE(shown.counts.completed, counts.completed);
            QCOMPARE(shown.usage.inputTokens, usage.inputTokens);
            QCOMPARE(shown.usage.outputTokens, usage.outputTokens);
            QCOMPARE(shown.costUsd, total);
        }
    }
    QCOMPARE(listed.at(0).counts.completed, 2);
    QCOMPARE(listed.at(0).costUsd, 0.5);
    QCOMPARE(listed.at(1).counts.leased, 1);
    QCOMPARE(listed.at(1).costUsd, 0.1875);
}

// ---- the task reader --------------------------------------------------------------------

void StoreConformance::readerCountsPagesAndDetail()
{
    const auto writer = open(m_location);
    QVERIFY(writer);
    store::Store &store = writer->queue();
    const qint64 job = makeJob(store, 50);
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 1, kT0, kT0 + kLease, &c));
    QVERIFY(store.applyTransitions(
        kOwnerA, {transition(c.at(0).id, OutcomeAction::Retry, ErrorClass::ServerError, kT0)},
        kT0));

    const auto reader = open(m_location, true);
    QVERIFY(reader);
    QCOMPARE(reader->access(), Database::Access::ReadOnly);
    store::TaskReader &tasks = reader->tasks();
    TaskFilter all;
    all.jobId = job;
    QCOMPARE(tasks.count(all).value_or(-1), 50);
    TaskFilter text = all;
    text.text = u"review 4"_s; // 4, 40..49
    QCOMPARE(tasks.count(text).value_or(-1), 11);

    const auto first = tasks.page(all, 0, -1, 10);
    QVERIFY(first);
    QCOMPARE(first->size(), 10);
    QCOMPARE(first->at(0).rowNumber, 1);
    QCOMPARE(first->at(0).attempts, 1);
    QVERIFY(first->at(0).inputPreview.contains(u"R1"_s));
    const auto keyset = tasks.page(all, 10, first->last().id, 10);
    QVERIFY(keyset);
    QCOMPARE(keyset->at(0).rowNumber, 11);
    const auto dense = tasks.page(all, 20, -1, 10); // a jump: the ids are dense
    QVERIFY(dense);
    QCOMPARE(dense->at(0).rowNumber, 21);
    const auto offset = tasks.page(text, 5, -1, 10); // filtered: counted through
    QVERIFY(offset);
    QCOMPARE(offset->size(), 6);
    QCOMPARE(offset->at(0).rowNumber, 44);
    const store::TaskReader::Stats stats = tasks.stats();
    QCOMPARE(stats.pages, 4);
    QCOMPARE(stats.keysetPages, 1);
    QCOMPARE(stats.densePages + stats.offsetPages, 2);
    QCOMPARE(stats.offsetPages >= 1, true);

    const auto detail = tasks.detail(c.at(0).id);
    QVERIFY(detail);
    QCOMPARE(detail->jobId, job);
    QCOMPARE(detail->values, (QStringList{u"R1"_s, u"review 1 ü"_s}));
    QCOMPARE(detail->columns, (QStringList{u"id"_s, u"review"_s}));
    QCOMPARE(detail->templateText, makeSpec().templateText);
    QCOMPARE(detail->attemptHistory.size(), 1);
    QCOMPARE(detail->errorClass, errorClassName(ErrorClass::ServerError));
    QVERIFY(!tasks.detail(999'999).has_value());
    QVERIFY(!tasks.errorString().isEmpty());
    // A read-only database does not write.
    QVERIFY(!reader->queue().setSetting(u"k"_s, u"v"_s));
}

// Pages in another order than by id: sorted by the database, ties by id, found by keyset
// after the row before (or by offset when that row is gone), both directions.
void StoreConformance::readerOrderedPages()
{
    const auto writer = open(m_location);
    QVERIFY(writer);
    store::Store &store = writer->queue();
    const qint64 job = makeJob(store, 30);
    QList<ClaimedTask> early, late;
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0, kT0 + kLease, &early));
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0 + 100, kT0 + kLease, &late));
    QList<TaskTransition> done;
    QHash<qint64, double> costOf;
    QHash<qint64, qint64> latencyOf;
    int i = 0;
    for (const QList<ClaimedTask> *claimed : {&early, &late}) {
        for (const ClaimedTask &task : *claimed) {
            TaskTransition t = transition(task.id, OutcomeAction::Complete);
            t.outcome.costUsd = 0.01 * ((i * 7) % 5); // each cost four times: ties
            t.outcome.usage.outputTokens = i++ % 3;
            costOf.insert(task.id, *t.outcome.costUsd);
            latencyOf.insert(task.id, claimed == &early ? 500 : 400);
            done.append(t);
        }
    }
    QVERIFY(store.applyTransitions(kOwnerA, done, kT0 + 500));

    const auto reader = open(m_location, true);
    QVERIFY(reader);
    store::TaskReader &tasks = reader->tasks();
    TaskFilter all;
    all.jobId = job;
    const auto firstPage = tasks.page(all, 0, -1, 30);
    QVERIFY(firstPage);
    QList<qint64> ids;
    for (const TaskRow &row : *firstPage)
        ids.append(row.id);
    QCOMPARE(ids.size(), 30);
    QCOMPARE(firstPage->at(0).latencyMs, 500);
    QCOMPARE(firstPage->at(25).latencyMs, -1); // pending: no latency

    QHash<qint64, TaskRow> rowOf;
    for (const TaskRow &row : *firstPage)
        rowOf.insert(row.id, row);
    // What the database should answer: pending tasks (no cost, no latency) first.
    const auto expected = [&](TaskSortKey key, bool descending) {
        QList<qint64> sorted = ids;
        const auto keyOf = [&](qint64 id) {
            const TaskRow &row = rowOf[id];
            switch (key) {
            case TaskSortKey::Cost:
                return costOf.value(id, -1);
            case TaskSortKey::Latency:
                return double(latencyOf.value(id, -1));
            case TaskSortKey::Attempts:
                return double(row.attempts);
            default:
                return double(row.inputTokens + row.outputTokens);
            }
        };
        std::sort(sorted.begin(), sorted.end(), [&](qint64 a, qint64 b) {
            const auto ka = std::pair(keyOf(a), a), kb = std::pair(keyOf(b), b);
            return descending ? kb < ka : ka < kb;
        });
        return sorted;
    };
    const auto readAll = [&](const TaskOrder &order, int limit) {
        QList<qint64> seen;
        qint64 after = -1;
        while (true) {
            const auto page = tasks.page(all, seen.size(), after, limit, order);
            if (!page || page->isEmpty())
                break;
            for (const TaskRow &row : *page)
                seen.append(row.id);
            after = page->constLast().id;
        }
        return seen;
    };
    // Long runs of equal keys (every pending task's cost, everyone's attempts) span pages:
    // their ties are paged after the row before as well.
    for (const TaskSortKey key :
         {TaskSortKey::Cost, TaskSortKey::Latency, TaskSortKey::Attempts, TaskSortKey::Tokens}) {
        for (const bool descending : {false, true}) {
            const TaskOrder order{key, descending};
            const QList<qint64> want = expected(key, descending);
            const store::TaskReader::Stats before = tasks.stats();
            QCOMPARE(readAll(order, 7), want);
            const store::TaskReader::Stats after = tasks.stats();
            QCOMPARE(after.orderedPages - before.orderedPages, 6); // 5 pages and the empty one
            QCOMPARE(after.keysetPages - before.keysetPages, 5);
            QCOMPARE(after.offsetPages, before.offsetPages);
            // A jump, and a page after a row that is gone: by offset, the same rows.
            const auto jump = tasks.page(all, 14, -1, 7, order);
            QVERIFY(jump);
            QCOMPARE(jump->size(), 7);
            QCOMPARE(jump->at(0).id, want.at(14));
            QCOMPARE(jump->at(6).id, want.at(20));
            const auto gone = tasks.page(all, 7, 999'999, 7, order);
            QVERIFY(gone);
            QCOMPARE(gone->at(0).id, want.at(7));
            QCOMPARE(tasks.stats().offsetPages - after.offsetPages, 2);
        }
    }
    // A filter and another key together: completed tasks by tokens then id, descending.
    TaskFilter completed = all;
    completed.state = int(TaskState::Completed);
    const auto byTokens = tasks.page(completed, 0, -1, 5, TaskOrder{TaskSortKey::Tokens, true});
    QVERIFY(byTokens);
    QCOMPARE(byTokens->size(), 5);
    QVERIFY(byTokens->at(0).id > byTokens->at(1).id); // equal tokens: by id, descending
    QCOMPARE(byTokens->at(0).state, TaskState::Completed);
}

// A big job's sort index (issue #18): made when asked, read over, kept right by every
// write to its job (never by another job's), dropped with the job. Pages over it are the
// order of the rows as they are, ties by id, page after page while tasks complete.
void StoreConformance::readerSortIndexes()
{
    const auto writer = open(m_location);
    QVERIFY(writer);
    store::Store &store = writer->queue();
    const qint64 job = makeJob(store, 40);
    const qint64 other = makeJob(store, 6, u"b"_s);
    QVERIFY(job > 0 && other > 0);
    const auto reader = open(m_location, true);
    QVERIFY(reader);
    store::TaskReader &tasks = reader->tasks();
    const QList<TaskSortKey> keys = {
        TaskSortKey::Row,    TaskSortKey::State, TaskSortKey::Priority, TaskSortKey::Attempts,
        TaskSortKey::Tokens, TaskSortKey::Cost,  TaskSortKey::Latency};
    for (const TaskSortKey key : keys) {
        QVERIFY(!tasks.hasSortIndex(job, key));
        QVERIFY2(store.ensureSortIndex(job, key), qPrintable(store.errorString()));
        QVERIFY(store.ensureSortIndex(job, key)); // there already
        QVERIFY(tasks.hasSortIndex(job, key));
        QVERIFY(!tasks.hasSortIndex(other, key));
    }
    QVERIFY(store.ensureSortIndex(other, TaskSortKey::Cost));
    QVERIFY(store.ensureSortIndex(job, TaskSortKey::Id)); // needs none
    QVERIFY(!tasks.hasSortIndex(job, TaskSortKey::Id));

    TaskFilter all;
    all.jobId = job;
    const auto keyOf = [](const TaskRow &row, TaskSortKey key) -> double {
        switch (key) {
        case TaskSortKey::Row:
            return double(row.rowNumber);
        case TaskSortKey::State:
            return int(row.state);
        case TaskSortKey::Priority:
            return row.priority;
        case TaskSortKey::Attempts:
            return row.attempts;
        case TaskSortKey::Tokens:
            return double(row.inputTokens + row.outputTokens);
        case TaskSortKey::Cost:
            return row.costUsd.value_or(-1);
        default:
            return double(row.latencyMs);
        }
    };
    // The job's rows as they are now (read in id order), sorted here.
    const auto expected = [&](const TaskOrder &order) {
        QList<TaskRow> rows = tasks.page(all, 0, -1, 1000).value_or(QList<TaskRow>());
        std::sort(rows.begin(), rows.end(), [&](const TaskRow &a, const TaskRow &b) {
            const auto ka = std::pair(keyOf(a, order.key), a.id);
            const auto kb = std::pair(keyOf(b, order.key), b.id);
            return order.descending ? kb < ka : ka < kb;
        });
        QList<qint64> ids;
        for (const TaskRow &row : rows)
            ids.append(row.id);
        return ids;
    };
    // Pages of 7 after the row before, from row `from` (whose row before is afterId).
    const auto readFrom = [&](const TaskOrder &order, qint64 from, qint64 afterId, int pages) {
        QList<qint64> seen;
        for (int i = 0; i < pages; ++i) {
            const auto page = tasks.page(all, from + seen.size(), afterId, 7, order);
            if (!page || page->isEmpty())
                break;
            for (const TaskRow &row : *page)
                seen.append(row.id);
            afterId = page->constLast().id;
        }
        return seen;
    };
    const auto checkEveryOrder = [&] {
        for (const TaskSortKey key : keys) {
            for (const bool descending : {false, true}) {
                const TaskOrder order{key, descending};
                const store::TaskReader::Stats before = tasks.stats();
                QCOMPARE(readFrom(order, 0, -1, 100), expected(order));
                QCOMPARE(tasks.stats().indexedPages - before.indexedPages,
                         tasks.stats().orderedPages - before.orderedPages);
                const auto jump = tasks.page(all, 20, -1, 7, order); // by offset
                QVERIFY(jump);
                QCOMPARE(jump->constFirst().id, expected(order).at(20));
            }
        }
    };
    checkEveryOrder(); // all pending: every key ties but the row's

    // Completed with costs and tokens that tie across pages, claimed at two times (two
    // latencies), some dead: the index follows every change.
    QList<ClaimedTask> early, late;
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0, kT0 + kLease, &early));
    QVERIFY(store.claimTasks(job, kOwnerA, 8, kT0 + 100, kT0 + kLease, &late));
    QList<TaskTransition> done;
    int i = 0;
    for (const ClaimedTask &task : early + late) {
        const bool dead = i % 6 == 5;
        TaskTransition t =
            transition(task.id, dead ? OutcomeAction::DeadLetter : OutcomeAction::Complete,
                       dead ? ErrorClass::ServerError : ErrorClass::None);
        if (!dead) {
            t.outcome.costUsd = 0.01 * (i % 3);
            t.outcome.usage.outputTokens = i % 2;
        }
        ++i;
        done.append(t);
    }
    QVERIFY(store.applyTransitions(kOwnerA, done, kT0 + 500));
    checkEveryOrder();
    // A filtered page sorts what the filter finds (a job's few dead tasks by state), not
    // walking the whole index.
    TaskFilter dead = all;
    dead.state = int(TaskState::Dead);
    const store::TaskReader::Stats beforeDead = tasks.stats();
    const auto deadByCost = tasks.page(dead, 0, -1, 10, TaskOrder{TaskSortKey::Cost, true});
    QVERIFY(deadByCost);
    QCOMPARE(deadByCost->size(), 3);
    QCOMPARE(tasks.stats().indexedPages, beforeDead.indexedPages);

    // While tasks complete between two pages: the next page goes on after the row before
    // in the order as it is now (tasks that moved ahead of it are not met again).
    const TaskOrder dearest{TaskSortKey::Cost, true};
    const QList<qint64> firstTwo = readFrom(dearest, 0, -1, 2);
    QCOMPARE(firstTwo, expected(dearest).mid(0, 14));
    QList<ClaimedTask> more;
    QVERIFY(store.claimTasks(job, kOwnerA, 10, kT0 + 1000, kT0 + kLease, &more));
    QList<ClaimedTask> elsewhere;
    QVERIFY(store.claimTasks(other, kOwnerA, 6, kT0 + 1000, kT0 + kLease, &elsewhere));
    done.clear();
    i = 0;
    for (const ClaimedTask &task : more + elsewhere) {
        TaskTransition t = transition(task.id, OutcomeAction::Complete);
        t.outcome.costUsd = i++ % 2 ? 0.5 : 0.005; // both ahead of the rows read
        done.append(t);
    }
    QVERIFY(store.applyTransitions(kOwnerA, done, kT0 + 1300));
    const QList<qint64> now = expected(dearest);
    const QList<qint64> rest = readFrom(dearest, 14, firstTwo.constLast(), 100);
    QCOMPARE(rest, now.mid(now.indexOf(firstTwo.constLast()) + 1));
    QCOMPARE(rest.size(), 40 - 14 - 10); // the ten went ahead
    checkEveryOrder();
    // Another job's rows are not in this job's pages (nor its index).
    for (const ClaimedTask &task : elsewhere)
        QVERIFY(!now.contains(task.id));

    // Dropped with the job; the other job's index stays.
    QVERIFY(store.deleteJob(job));
    for (const TaskSortKey key : keys)
        QVERIFY(!tasks.hasSortIndex(job, key));
    QVERIFY(tasks.hasSortIndex(other, TaskSortKey::Cost));
    TaskFilter otherJob;
    otherJob.jobId = other;
    const auto otherPage = tasks.page(otherJob, 0, -1, 10, TaskOrder{TaskSortKey::Cost, false});
    QVERIFY(otherPage);
    QCOMPARE(otherPage->size(), 6);
}

void StoreConformance::readerDeadByClassAndIds()
{
    const auto writer = open(m_location);
    QVERIFY(writer);
    store::Store &store = writer->queue();
    const qint64 job = makeJob(store, 5);
    const qint64 other = makeJob(store, 1, u"b"_s);
    QList<ClaimedTask> c, o;
    QVERIFY(store.claimTasks(job, kOwnerA, 3, kT0, kT0 + kLease, &c));
    QVERIFY(store.claimTasks(other, kOwnerA, 1, kT0, kT0 + kLease, &o));
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(c.at(0).id, OutcomeAction::DeadLetter, ErrorClass::ServerError),
         transition(c.at(1).id, OutcomeAction::DeadLetter, ErrorClass::ServerError),
         transition(c.at(2).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest),
         transition(o.at(0).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0));
    const auto reader = open(m_location, true);
    QVERIFY(reader);
    store::TaskReader &tasks = reader->tasks();
    const QList<DeadClassCount> byClass = tasks.deadByClass(job);
    QCOMPARE(byClass.size(), 2);
    QCOMPARE(byClass.at(0).errorClass, errorClassName(ErrorClass::ServerError));
    QCOMPARE(byClass.at(0).count, 2);
    QVERIFY(!byClass.at(0).sampleMessage.isEmpty());
    const QList<DeadClassCount> everywhere = tasks.deadByClass(0);
    QCOMPARE(everywhere.size(), 2);
    QCOMPARE(everywhere.at(0).count, 2);
    QCOMPARE(everywhere.at(1).count, 2);

    TaskFilter dead;
    dead.state = int(TaskState::Dead);
    QCOMPARE(tasks.ids(dead, 100), (QList<qint64>{c.at(0).id, c.at(1).id, c.at(2).id, o.at(0).id}));
    QCOMPARE(tasks.ids(dead, 2).size(), 2);
    dead.jobId = job;
    dead.errorClass = errorClassName(ErrorClass::InvalidRequest);
    QCOMPARE(tasks.ids(dead, 100), QList<qint64>{c.at(2).id});
}

// ---- task actions -----------------------------------------------------------------------

void StoreConformance::taskActions()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    store::TaskActions &actions = db->taskActions();
    const qint64 job = makeJob(store, 6);
    QList<ClaimedTask> leased;
    QVERIFY(store.claimTasks(job, kOwnerA, 1, kT0, kT0 + kLease, &leased));

    // A new priority reaches leased tasks too (they come back with it); the lane follows.
    QCOMPARE(actions.reprioritiseJob(job, 1, u"realtime"_s, kT0 + 1), 6);
    QCOMPARE(store.job(job)->spec.priority, 1);
    QCOMPARE(store.job(job)->spec.mode, u"realtime"_s);
    QCOMPARE(actions.reprioritiseTasks({leased.at(0).id}, 3), 1);
    QList<ClaimedTask> pending;
    QVERIFY(store.claimTasks(job, kOwnerB, 1, kT0, kT0 + kLease, &pending));
    QCOMPARE(pending.at(0).priority, 1);
    QCOMPARE(actions.reprioritiseTasks({pending.at(0).id + 1, pending.at(0).id + 2}, 3), 2);
    QCOMPARE(actions.cancelTasks({pending.at(0).id + 1, leased.at(0).id}, kT0 + 2), 1);
    QCOMPARE(actions.cancelPending(job, kT0 + 3), 3);
    const TaskCounts counts = store.taskCounts(job);
    QCOMPARE(counts.cancelled, 4);
    QCOMPARE(counts.leased, 2);
    QCOMPARE(counts.pending, 0);
    QVERIFY(actions.errorString().isEmpty());
}

// ---- metrics ----------------------------------------------------------------------------

void StoreConformance::metricsWriteAndRead()
{
    const auto db = open(m_location);
    QVERIFY(db);
    const qint64 interval = 10'000;
    const qint64 t = kT0 / interval * interval;
    FakeClock clock(t + 10 * interval);
    metrics::MetricsRecorder::Options options;
    options.intervalMs = interval;
    options.autoTick = false;
    const auto metricsStore = db->metricsStore(&clock, options);
    QVERIFY(metricsStore);

    const QString completed = QString::fromLatin1(metrics::names::tasksCompleted);
    const auto sample = [&](const QString &labels, qint64 at, double amount) {
        metrics::MetricSample s;
        s.metric = completed;
        s.labels = labels;
        s.atMs = at;
        s.resolutionMs = interval;
        s.count = qint64(amount);
        s.sum = amount;
        s.value = amount * 1000.0 / double(interval);
        s.min = s.max = amount;
        return s;
    };
    const QString lane = u"lane=sync,priority=2"_s;
    QVERIFY2(metricsStore->writeSamples({sample(QString(), t, 20),
                                         sample(QString(), t + interval, 40), sample(lane, t, 5)}),
             qPrintable(metricsStore->errorString()));
    QCOMPARE(metricsStore->sampleCount(interval), 3);
    QCOMPARE(metricsStore->sampleCount(interval, completed), 3);
    QCOMPARE(metricsStore->labelSets(completed), (QStringList{QString(), lane}));

    // The same interval written again (a restarted engine, a second worker) merges.
    QVERIFY(metricsStore->writeSamples({sample(QString(), t, 10)}));
    QCOMPARE(metricsStore->sampleCount(interval), 3);
    const QList<metrics::MetricSample> rows =
        metricsStore->samples({completed}, interval, t, t + 2 * interval);
    QCOMPARE(rows.size(), 3);
    QCOMPARE(rows.at(0).labels, QString());
    QCOMPARE(rows.at(0).count, 30);
    QCOMPARE(rows.at(0).sum, 30.0);

    const metrics::SeriesData series =
        metricsStore->series(completed, QString(), t, t + 2 * interval, 100);
    QCOMPARE(series.resolutionMs, interval);
    QCOMPARE(series.points.size(), 2);
    QCOMPARE(series.points.at(0).atMs, t);
    QCOMPARE(series.points.at(0).value, 3.0); // 30 per 10 s
    QCOMPARE(series.points.at(1).value, 4.0);
    QVERIFY(
        metricsStore->series(u"no_such_metric"_s, QString(), t, t + interval, 10).points.isEmpty());

    QVERIFY(metricsStore->prune(interval, t + interval));
    QCOMPARE(metricsStore->sampleCount(interval), 1);
}

void StoreConformance::queueProbe()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = store.createJob(makeSpec(), {u"id"_s, u"review"_s}, kT0);
    QVERIFY(store.appendTasks(job, 1, makeRows(2), 2, kT0 + 100));
    QVERIFY(store.appendTasks(job, 3, makeRows(2, 3), 1, kT0 + 200));
    metrics::QueueProbe &probe = db->queueProbe();
    QMap<int, qint64> oldest = probe.oldestPendingSince(job);
    QCOMPARE(oldest.value(1), kT0 + 200);
    QCOMPARE(oldest.value(2), kT0 + 100);
    QVERIFY(!oldest.contains(3));
    // Claimed tasks no longer wait.
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0 + 300, kT0 + kLease, &c));
    oldest = probe.oldestPendingSince(job);
    QVERIFY(!oldest.contains(1));
    QCOMPARE(oldest.value(2), kT0 + 100);
    // A task waits from when it last became pending: one back from a retry waits from its
    // retry time, one replayed from the dead-letter queue from the replay, not from import.
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(c.at(0).id, OutcomeAction::Retry, ErrorClass::ServerError, kT0 + 5'000),
         transition(c.at(1).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0 + 400));
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0 + 500, kT0 + kLease, &c));
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(c.at(0).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest),
         transition(c.at(1).id, OutcomeAction::DeadLetter, ErrorClass::InvalidRequest)},
        kT0 + 600));
    oldest = probe.oldestPendingSince(job);
    QCOMPARE(oldest.value(1), kT0 + 5'000); // the retry's time; its neighbour is dead
    QVERIFY(!oldest.contains(2));
    QCOMPARE(store.replayDead(job, {c.at(0).id}, kT0 + 9'000), 1);
    QCOMPARE(probe.oldestPendingSince(job).value(2), kT0 + 9'000);
    // Ones whose lease ran out (their worker died with them) wait from their release.
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0 + 10'000, kT0 + 10'000 + kLease, &c));
    QVERIFY(probe.oldestPendingSince(job).isEmpty());
    // Both tasks wait from `at` (the probe) and are claimed with it as where their wait
    // metric starts.
    const auto waitFrom = [&](qint64 at) {
        const QMap<int, qint64> since = probe.oldestPendingSince(job);
        QCOMPARE(since.value(1), at);
        QCOMPARE(since.value(2), at);
        QVERIFY(store.claimTasks(job, kOwnerA, 2, at + 1'000, at + kLease, &c));
        QCOMPARE(c.size(), 2);
        for (const ClaimedTask &task : std::as_const(c))
            QCOMPARE(task.queuedAtMs, at);
    };
    const qint64 releasedAt = kT0 + 10'000 + 2 * kLease;
    QCOMPARE(store.releaseExpiredLeases(releasedAt), 2);
    waitFrom(releasedAt);
    if (QTest::currentTestFailed())
        return;
    // Ones a stopped worker handed back wait from the hand-back, not from their last release.
    const qint64 handedBackAt = releasedAt + 60'000;
    QCOMPARE(store.releaseLeasesOf(kOwnerA, handedBackAt), 2);
    waitFrom(handedBackAt);
    if (QTest::currentTestFailed())
        return;
    QVERIFY(probe.errorString().isEmpty());
}

// The probe reads a task pending since its import (the first such by id) apart from the
// tasks pending again after a retry, a hand-back or a replay, which may sit before it in id
// order and wait for less long, or longer.
void StoreConformance::queueProbeWeighsImportedAgainstRequeued()
{
    const auto db = open(m_location);
    QVERIFY(db);
    store::Store &store = db->queue();
    const qint64 job = makeJob(store, 3, u"a"_s, 1); // imported at kT0
    QVERIFY(job > 0);
    metrics::QueueProbe &probe = db->queueProbe();
    QList<ClaimedTask> c;
    QVERIFY(store.claimTasks(job, kOwnerA, 2, kT0 + 200, kT0 + kLease, &c));
    QCOMPARE(c.size(), 2);
    const qint64 first = c.at(0).id;
    const qint64 second = c.at(1).id;
    QVERIFY(store.applyTransitions(
        kOwnerA,
        {transition(first, OutcomeAction::Retry, ErrorClass::ServerError, kT0 + 50'000),
         transition(second, OutcomeAction::Retry, ErrorClass::ServerError, kT0 + 300)},
        kT0 + 250));
    // Both retried tasks come before the third in id order, and wait for less long.
    QCOMPARE(probe.oldestPendingSince(job).value(1), kT0);
    QVERIFY(store.claimTasks(job, kOwnerA, 1, kT0 + 400, kT0 + kLease, &c));
    QCOMPARE(idsOf(c), QList<qint64>{second}); // due, and first in input order
    QCOMPARE(probe.oldestPendingSince(job).value(1), kT0);
    QVERIFY(store.claimTasks(job, kOwnerA, 1, kT0 + 500, kT0 + kLease, &c));
    QCOMPARE(c.size(), 1);
    QVERIFY(c.at(0).id != first);
    // Only the retried one is left; a row imported later waits for less long than it.
    QCOMPARE(probe.oldestPendingSince(job).value(1), kT0 + 50'000);
    QVERIFY(store.appendTasks(job, 4, makeRows(1, 4), 1, kT0 + 60'000));
    QCOMPARE(probe.oldestPendingSince(job).value(1), kT0 + 50'000);
    QVERIFY(!probe.oldestPendingSince(job).contains(2));
    QVERIFY(probe.errorString().isEmpty());
}
void StoreConformance::jobControls()
{
    // Two engines on one database: each reads the controls recorded after the last it saw,
    // in order; a day-old control is gone once a newer one is recorded.
    const auto one = open(m_location);
    const auto two = open(m_location);
    QVERIFY(one && two);
    store::TaskActions &writer = one->taskActions();
    store::TaskActions &reader = two->taskActions();
    QCOMPARE(reader.lastControlId(), 0);
    store::JobControl pause;
    pause.jobId = 7;
    pause.action = store::JobControl::Action::Pause;
    pause.detail = u"paused by the user"_s;
    pause.issuer = u"host:1:a"_s;
    pause.atMs = kT0;
    const qint64 first = writer.recordControl(pause);
    QVERIFY2(first > 0, qPrintable(writer.errorString()));
    store::JobControl raise = pause;
    raise.action = store::JobControl::Action::Reprioritise;
    raise.argument = 1;
    raise.detail.clear();
    raise.atMs = kT0 + 10;
    const qint64 second = writer.recordControl(raise);
    QVERIFY(second > first);
    QList<store::JobControl> seen = reader.controlsAfter(0);
    QCOMPARE(seen.size(), 2);
    QCOMPARE(seen.at(0).id, first);
    QCOMPARE(seen.at(0).action, store::JobControl::Action::Pause);
    QCOMPARE(seen.at(0).detail, u"paused by the user"_s);
    QCOMPARE(seen.at(0).issuer, u"host:1:a"_s);
    QCOMPARE(seen.at(1).action, store::JobControl::Action::Reprioritise);
    QCOMPARE(seen.at(1).argument, 1);
    QCOMPARE(seen.at(1).jobId, qint64(7));
    QCOMPARE(reader.controlsAfter(second).size(), 0);
    QCOMPARE(reader.lastControlId(), second);

    store::JobControl later = pause;
    later.atMs = kT0 + store::JobControl::kRetentionMs + 11;
    const qint64 third = writer.recordControl(later);
    seen = reader.controlsAfter(0);
    QCOMPARE(seen.size(), 1);
    QCOMPARE(seen.at(0).id, third);
    QVERIFY(reader.errorString().isEmpty());
}

// ---- several databases in one process -------------------------------------------------

void StoreConformance::databasesSideBySide()
{
    // Two databases on two locations and two on one, all open at once, as two engines in
    // one process (each with a writer and a reader) have them.
    const QString otherLocation = m_backend.newLocation();
    auto one = open(m_location);
    auto two = open(otherLocation);
    auto oneAgain = open(m_location);
    auto twoReader = open(otherLocation, true);
    QVERIFY(one && two && oneAgain && twoReader);

    const qint64 a = makeJob(one->queue(), 3, u"one"_s);
    const qint64 b = makeJob(two->queue(), 5, u"two"_s);
    QVERIFY(a > 0 && b > 0);
    QCOMPARE(one->queue().jobs().size(), 1);
    QCOMPARE(two->queue().jobs().size(), 1);
    QCOMPARE(two->queue().job(b)->spec.sourcePath, makeSpec(u"two"_s).sourcePath);
    // The same location: one database's writes are the other's reads.
    QCOMPARE(oneAgain->queue().taskCounts(a).pending, 3);
    TaskFilter filter;
    filter.jobId = b;
    QCOMPARE(twoReader->tasks().count(filter).value_or(-1), 5);
    QCOMPARE(one->tasks().count(TaskFilter{}).value_or(-1), 3);

    // Closing one leaves the others working on their own connections.
    oneAgain.reset();
    QCOMPARE(one->queue().taskCounts(a).pending, 3);
    QVERIFY(one->queue().setSetting(u"who"_s, u"one"_s));
    QVERIFY(two->queue().setSetting(u"who"_s, u"two"_s));
    one.reset();
    QCOMPARE(two->queue().setting(u"who"_s).value_or(QString()), u"two"_s);
    QCOMPARE(twoReader->tasks().count(filter).value_or(-1), 5);
    auto reopened = open(m_location);
    QVERIFY(reopened);
    QCOMPARE(reopened->queue().setting(u"who"_s).value_or(QString()), u"one"_s);
    QCOMPARE(reopened->location(), m_location);
}

int runStoreConformance(const Backend &backend, int argc, char **argv)
{
    StoreConformance suite(backend);
    IntakeConformance intake(backend);
    const int failed = QTest::qExec(&suite, argc, argv);
    return QTest::qExec(&intake, argc, argv) | failed;
}

} // namespace bd::storetest
