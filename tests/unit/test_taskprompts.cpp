// TaskPrompts on a real SQLite store (dispatch/taskprompts.h): the job's own template is
// revision 0; a replay's edited template is read from the store once and kept where it is
// while later ones are read; one that does not bind to the job's columns, or does not exist,
// is an error that names the job and the revision; a task's request
// carries its attempt, model, prompts, output cap, the job's cache key and the output schema.

#include "dispatch/taskprompts.h"
#include "store/sqlite/sqlitestore.h"

#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::dispatch::TaskPrompts;

namespace {

struct Job
{
    Job()
    {
        store = std::make_unique<bd::store::SqliteStore>(dir.filePath(u"prompts.sqlite"_s));
        info.spec.sourcePath = u"rows.csv"_s;
        info.spec.sourceSha256 = "00";
        info.spec.templateText = u"Sort {{text}}"_s;
        info.spec.systemPrompt = u"be brief"_s;
        info.spec.model = u"m-1"_s;
        info.spec.maxOutputTokens = 77;
        info.columns = {u"text"_s};
        info.id = store->createJob(info.spec, info.columns, 1'000);
    }

    QTemporaryDir dir;
    std::unique_ptr<bd::store::SqliteStore> store;
    bd::JobInfo info;
};

} // namespace

class TestTaskPrompts : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void theJobsTemplateIsRevisionZero()
    {
        Job job;
        TaskPrompts prompts(job.store.get(), job.info);
        QString error;
        const TaskPrompts::Revision *revision = prompts.revision(0, &error);
        QVERIFY2(revision, qPrintable(error));
        QCOMPARE(revision->prompt.render({u"mail"_s}), u"Sort mail"_s);
        QCOMPARE(revision->systemPrompt, u"be brief"_s);
        QCOMPARE(TaskPrompts::promptTokens(*revision, u"Sort mail"_s), 5); // (8 + 9 + 3) / 4
    }

    void aReplaysTemplateIsReadOnce()
    {
        Job job;
        const int added =
            job.store->addTemplateRevision(job.info.id, u"Rank {{text}}"_s, u"be kind"_s, 2'000);
        QCOMPARE(added, 1);
        TaskPrompts prompts(job.store.get(), job.info);
        QString error;
        const TaskPrompts::Revision *revision = prompts.revision(1, &error);
        QVERIFY2(revision, qPrintable(error));
        QCOMPARE(revision->prompt.render({u"mail"_s}), u"Rank mail"_s);
        QCOMPARE(revision->systemPrompt, u"be kind"_s);
        // Kept: the store is not asked again (closed, it could not answer).
        job.store.reset();
        QCOMPARE(prompts.revision(1, &error), revision);
    }

    void aTemplateThatDoesNotBindIsAnError()
    {
        Job job;
        QCOMPARE(job.store->addTemplateRevision(job.info.id, u"Rank {{missing}}"_s, {}, 2'000), 1);
        TaskPrompts prompts(job.store.get(), job.info);
        QString error;
        QVERIFY(!prompts.revision(1, &error));
        QVERIFY2(error.startsWith(u"job %1, template revision 1: "_s.arg(job.info.id)),
                 qPrintable(error));
    }

    void anUnknownRevisionIsAnError()
    {
        Job job;
        TaskPrompts prompts(job.store.get(), job.info);
        QString error;
        QVERIFY(!prompts.revision(5, &error));
        // The runner fails with this text: it says which job and which revision.
        QVERIFY2(
            error.startsWith(u"job %1, template revision 5: cannot be read ("_s.arg(job.info.id)),
            qPrintable(error));
    }

    void aRevisionStaysWhereItIsWhileOthersAreRead()
    {
        // A caller holds one revision while the next task's is read (the runner renders the
        // head of its queue, then coalescing reads the revisions of a whole group).
        Job job;
        constexpr int kRevisions = 64;
        for (int i = 1; i <= kRevisions; ++i) {
            QCOMPARE(job.store->addTemplateRevision(job.info.id, u"Rank %1 {{text}}"_s.arg(i), {},
                                                    2'000 + i),
                     i);
        }
        TaskPrompts prompts(job.store.get(), job.info);
        QString error;
        const TaskPrompts::Revision *first = prompts.revision(1, &error);
        QVERIFY2(first, qPrintable(error));
        for (int i = 2; i <= kRevisions; ++i)
            QVERIFY2(prompts.revision(i, &error), qPrintable(error));
        // Same address, not a copy somewhere else (a QHash moved it as it grew).
        QCOMPARE(prompts.revision(1, &error), first);
        QCOMPARE(first->prompt.render({u"mail"_s}), u"Rank 1 mail"_s);
    }

    void aRequestCarriesWhatTheProviderNeeds()
    {
        Job job;
        TaskPrompts prompts(job.store.get(), job.info);
        QString schemaError;
        auto schema = bd::ingest::OutputSchema::parse(
            R"({"type":"object","properties":{"label":{"type":"string"}},"required":["label"]})",
            u"test schema"_s, &schemaError);
        QVERIFY2(schema, qPrintable(schemaError));
        prompts.setOutputSchema(schema);
        ClaimedTask task;
        task.id = 42;
        task.attempts = 2;
        const bd::providers::ChatRequest request =
            prompts.request(task, u"m-2"_s, u"be brief"_s, u"Sort mail"_s);
        QCOMPARE(request.taskId, 42);
        QCOMPARE(request.attempt, 3);
        QCOMPARE(request.model, u"m-2"_s);
        QCOMPARE(request.systemPrompt, u"be brief"_s);
        QCOMPARE(request.prompt, u"Sort mail"_s);
        QCOMPARE(request.maxOutputTokens, 77);
        QCOMPARE(request.cacheKey, u"batchdesk-job-%1"_s.arg(job.info.id));
        QVERIFY(request.outputSchema.has_value());
    }
};

QTEST_GUILESS_MAIN(TestTaskPrompts)
#include "test_taskprompts.moc"
