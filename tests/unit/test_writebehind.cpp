// store::WriteBehind (issue 19): a runner's group commits and claims made on a thread and
// SQLite connection of their own, on a real database file, read back through another
// connection. Time is passed explicitly.

#include "store/database.h"
#include "store/store.h"
#include "store/writebehind.h"

#include <memory>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::OutcomeAction;
using bd::TaskTransition;
using bd::store::Database;
using bd::store::WriteBehind;

namespace {

constexpr qint64 kT0 = 1'700'000'000'000;
constexpr qint64 kLease = 60'000;
const QString kOwner = u"host:1:aaaaaa"_s;
const QString kOther = u"host:2:bbbbbb"_s;

TaskTransition completion(qint64 taskId, const QString &output)
{
    TaskTransition transition;
    transition.outcome.taskId = taskId;
    transition.outcome.output = output;
    transition.outcome.model = u"sim-1"_s;
    transition.outcome.costUsd = 0.001;
    transition.outcome.finishedAtMs = kT0 + 10;
    transition.action = OutcomeAction::Complete;
    return transition;
}

} // namespace

class TestWriteBehind : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_path;
    std::unique_ptr<Database> m_database; // the test's own connection: what anyone else sees
    qint64 m_job = 0;

    bd::store::Store &store() { return m_database->queue(); }

    WriteBehind::Written onlyWritten(WriteBehind &writer)
    {
        writer.waitUntilWritten();
        const QList<WriteBehind::Written> written = writer.takeWritten(m_job);
        if (written.size() != 1)
            qFatal("expected one written group, got %lld", qlonglong(written.size()));
        return written.constFirst();
    }

    // The owner's transitions, as a runner posts them.
    WriteBehind::Group writeGroup(const QList<TaskTransition> &transitions) const
    {
        WriteBehind::Group group;
        group.jobId = m_job;
        group.owner = kOwner;
        group.nowMs = kT0 + 20;
        group.transitions = transitions;
        return group;
    }

    QList<ClaimedTask> claimBehind(WriteBehind &writer, int limit)
    {
        WriteBehind::Group claim;
        claim.jobId = m_job;
        claim.owner = kOwner;
        claim.nowMs = kT0;
        claim.claimLimit = limit;
        claim.leaseUntilMs = kT0 + kLease;
        writer.post(std::move(claim));
        writer.waitUntilClaimed();
        const QList<WriteBehind::Written> written = writer.takeWritten(m_job);
        return written.isEmpty() ? QList<ClaimedTask>() : written.constFirst().claimed;
    }

private Q_SLOTS:
    void init()
    {
        QVERIFY(m_dir.isValid());
        m_path = m_dir.filePath(u"queue-%1.sqlite"_s.arg(QLatin1StringView(QTest::currentTestFunction())));
        QString error;
        m_database = Database::open(m_path, Database::Access::ReadWrite, &error);
        QVERIFY2(m_database, qPrintable(error));
        bd::JobSpec spec;
        spec.sourcePath = u"/data/a.csv"_s;
        spec.sourceSha256 = QByteArray("ab12").repeated(16);
        spec.templateText = u"Classify: {{text}}"_s;
        spec.provider = u"simulator"_s;
        spec.model = u"sim-1"_s;
        spec.priority = 2;
        spec.mode = u"grouped"_s;
        m_job = store().createJob(spec, {u"text"_s}, kT0);
        QVERIFY(m_job > 0);
        QList<QStringList> rows;
        for (int i = 1; i <= 10; ++i)
            rows.append({u"row %1"_s.arg(i)});
        QVERIFY(store().appendTasks(m_job, 1, rows, 2, kT0));
    }

    void cleanup() { m_database.reset(); }

    void claimsAndCompletionsLandInTheDatabase()
    {
        QString error;
        const auto writer = WriteBehind::open(m_path, &error);
        QVERIFY2(writer, qPrintable(error));
        QSignalSpy said(writer.get(), &WriteBehind::written);

        const QList<ClaimedTask> claimed = claimBehind(*writer, 4);
        QCOMPARE(claimed.size(), 4);
        QCOMPARE(claimed.constFirst().values, QStringList{u"row 1"_s}); // best first, in order
        QCOMPARE(store().taskCounts(m_job).leased, 4);

        WriteBehind::Group group;
        group.jobId = m_job;
        group.owner = kOwner;
        group.nowMs = kT0 + 20;
        for (const ClaimedTask &task : claimed)
            group.transitions.append(completion(task.id, u"answer %1"_s.arg(task.id)));
        bd::store::CachedResponse entry;
        entry.key = QByteArray("cd34").repeated(16);
        entry.taskId = claimed.constFirst().id;
        entry.output = u"answer"_s;
        entry.model = u"sim-1"_s;
        group.cacheEntries = {entry};
        group.sentBatches = {{u"simulator"_s, u"sync"_s, 4, 8, kT0 + 5}};
        writer->post(group);
        const WriteBehind::Written written = onlyWritten(*writer);
        QVERIFY2(written.error.isEmpty(), qPrintable(written.error));
        QCOMPARE(written.skipped, 0);
        QVERIFY(written.cacheEntries);
        QCOMPARE(written.transitions.size(), 4);

        // Another connection sees all of it.
        const bd::TaskCounts counts = store().taskCounts(m_job);
        QCOMPARE(counts.completed, 4);
        QCOMPARE(counts.leased, 0);
        QCOMPARE(counts.pending, 6);
        QVERIFY(store().cachedResponse(entry.key));
        QCOMPARE(store().batches(m_job, {u"dispatched"_s}).size(), 1);
        QTRY_VERIFY(said.count() >= 2); // the claim and the group, by queued signal
    }

    void aTaskLeasedByAnotherOwnerIsSkipped()
    {
        QList<ClaimedTask> theirs;
        QVERIFY(store().claimTasks(m_job, kOther, 1, kT0, kT0 + kLease, &theirs));
        QCOMPARE(theirs.size(), 1);
        QString error;
        const auto writer = WriteBehind::open(m_path, &error);
        QVERIFY2(writer, qPrintable(error));
        const QList<ClaimedTask> mine = claimBehind(*writer, 1);
        QCOMPARE(mine.size(), 1);

        writer->post(writeGroup({completion(theirs.constFirst().id, u"late"_s),
                                 completion(mine.constFirst().id, u"mine"_s)}));
        const WriteBehind::Written written = onlyWritten(*writer);
        QVERIFY(written.error.isEmpty());
        QCOMPARE(written.skipped, 1);
        const bd::TaskCounts counts = store().taskCounts(m_job);
        QCOMPARE(counts.completed, 1);
        QCOMPARE(counts.leased, 1); // still theirs
    }

    void closingWritesWhatIsQueued()
    {
        QList<ClaimedTask> claimed;
        QVERIFY(store().claimTasks(m_job, kOwner, 10, kT0, kT0 + kLease, &claimed));
        QCOMPARE(claimed.size(), 10);
        {
            QString error;
            const auto writer = WriteBehind::open(m_path, &error);
            QVERIFY2(writer, qPrintable(error));
            for (const ClaimedTask &task : claimed) {
                writer->post(writeGroup({completion(task.id, u"answer"_s)})); // one group each; none waited for
            }
        }
        QCOMPARE(store().taskCounts(m_job).completed, 10);
    }

    void aClaimGoesBeforeQueuedWrites()
    {
        QString error;
        const auto writer = WriteBehind::open(m_path, &error);
        QVERIFY2(writer, qPrintable(error));
        const QList<ClaimedTask> first = claimBehind(*writer, 5);
        QCOMPARE(first.size(), 5);
        // Many write groups, then a claim: the claim's answer comes before the last writes.
        for (const ClaimedTask &task : first) {
            writer->post(writeGroup({completion(task.id, u"answer"_s)}));
        }
        WriteBehind::Group claim;
        claim.jobId = m_job;
        claim.owner = kOwner;
        claim.nowMs = kT0 + 30;
        claim.claimLimit = 5;
        claim.leaseUntilMs = kT0 + kLease;
        writer->post(std::move(claim));
        writer->waitUntilWritten();
        const QList<WriteBehind::Written> written = writer->takeWritten(m_job);
        QCOMPARE(written.size(), 6);
        // The writer may have started the first write before the claim was posted; the claim
        // still overtook the rest.
        qsizetype claimAt = -1;
        for (qsizetype i = 0; i < written.size(); ++i) {
            if (written.at(i).claimLimit > 0)
                claimAt = i;
        }
        QVERIFY2(claimAt >= 0 && claimAt <= 1, qPrintable(QString::number(claimAt)));
        QCOMPARE(written.at(claimAt).claimed.size(), 5);
        QCOMPARE(store().taskCounts(m_job).completed, 5);
        QCOMPARE(store().taskCounts(m_job).leased, 5);
    }

    void anUnopenableDatabaseSaysWhy()
    {
        QString error;
        const QString path = m_dir.filePath(u"missing-folder/file.sqlite"_s);
        QFile blocker(m_dir.filePath(u"missing-folder"_s));
        QVERIFY(blocker.open(QIODevice::WriteOnly)); // a file where the folder would be
        const auto writer = WriteBehind::open(path, &error);
        QVERIFY(!writer);
        QVERIFY2(error.contains(u"missing-folder"_s), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestWriteBehind)
#include "test_writebehind.moc"
