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
    m_revisions.emplace(0, std::move(original));
}

const TaskPrompts::Revision *TaskPrompts::revision(int revision, QString *error)
{
    const auto it = m_revisions.find(revision);
    if (it != m_revisions.end())
        return &it->second;
    const auto stored = m_store->templateRevision(m_jobId, revision);
    if (!stored) {
        // The store's text may be empty (an unknown revision is not an error to it) or name
        // neither: the runner fails with this message.
        const QString why = m_store->errorString();
        *error =
            u"job %1, template revision %2: cannot be read (%3)"_s.arg(m_jobId).arg(revision).arg(
                why.isEmpty() ? u"the database has no such revision"_s : why);
        return nullptr;
    }
    Revision parsed{ingest::PromptTemplate(stored->first), stored->second};
    QString bindError;
    if (!parsed.prompt.bind(m_columns, &bindError)) {
        *error = u"job %1, template revision %2: %3"_s.arg(m_jobId).arg(revision).arg(bindError);
        return nullptr;
    }
    return &m_revisions.emplace(revision, std::move(parsed)).first->second;
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
