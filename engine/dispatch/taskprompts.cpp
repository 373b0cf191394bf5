#include "taskprompts.h"

#include "store/store.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

TaskPrompts::TaskPrompts(store::Store *store, const JobInfo &job)
    : m_store(store)
    , m_jobId(job.id)
    , m_columns(job.columns)
    , m_maxOutputTokens(job.spec.maxOutputTokens)
{
    Revision original{ingest::PromptTemplate(job.spec.templateText), job.spec.systemPrompt};
    QString error;
    original.prompt.bind(job.columns, &error); // validated at import; a stored job binds
    m_revisions.insert(0, original);
}

const TaskPrompts::Revision *TaskPrompts::revision(int revision, QString *error)
{
    auto it = m_revisions.constFind(revision);
    if (it != m_revisions.constEnd())
        return &it.value();
    const auto stored = m_store->templateRevision(m_jobId, revision);
    if (!stored) {
        *error = m_store->errorString();
        return nullptr;
    }
    Revision parsed{ingest::PromptTemplate(stored->first), stored->second};
    QString bindError;
    if (!parsed.prompt.bind(m_columns, &bindError)) {
        *error = u"job %1, template revision %2: %3"_s.arg(m_jobId).arg(revision).arg(bindError);
        return nullptr;
    }
    return &m_revisions.insert(revision, parsed).value();
}

providers::ChatRequest TaskPrompts::request(const ClaimedTask &task, const QString &model,
                                            const QString &systemPrompt,
                                            const QString &prompt) const
{
    providers::ChatRequest request;
    request.taskId = task.id;
    request.attempt = task.attempts + 1;
    request.model = model;
    request.systemPrompt = systemPrompt;
    request.prompt = prompt;
    request.maxOutputTokens = m_maxOutputTokens;
    request.cacheKey = u"batchdesk-job-"_s + QString::number(m_jobId);
    request.outputSchema = m_outputSchema;
    return request;
}

} // namespace bd::dispatch
