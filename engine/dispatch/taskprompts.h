#pragma once

#include "api/types.h"
#include "core/tasktypes.h"
#include "ingest/outputschema.h"
#include "ingest/prompttemplate.h"
#include "providers/provider.h"

#include <optional>
#include <QString>
#include <QStringList>
#include <unordered_map>

namespace bd::store {
class Store;
}

namespace bd::dispatch {

// The job's prompt templates and the request each task sends (a sync call or a provider
// batch line). Revision 0 is the job's own template; a replay with an edited template adds
// revisions, read from the store and parsed once, when their first task comes by.
class TaskPrompts
{
public:
    struct Revision
    {
        ingest::PromptTemplate prompt;
        QString systemPrompt;
    };

    TaskPrompts(store::Store *store, const JobInfo &job);

    // Structured answers (job setting output_schema) are asked for with every request.
    void setOutputSchema(std::optional<ingest::OutputSchema> schema)
    {
        m_outputSchema = std::move(schema);
    }

    // Null when it cannot be read or does not bind to the job's columns (*error names the job
    // and the revision, and says why). The revision stays where it is while the TaskPrompts
    // lives: a later revision read does not move it.
    const Revision *revision(int revision, QString *error);
    // What a prompt counts against a token limit before it is sent: about 4 characters a token.
    static qint64 promptTokens(const Revision &revision, const QString &prompt)
    {
        return (revision.systemPrompt.size() + prompt.size() + 3) / 4;
    }
    providers::ChatRequest request(const ClaimedTask &task, const QString &model,
                                   const QString &systemPrompt, const QString &prompt) const;

private:
    store::Store *m_store;
    qint64 m_jobId;
    QStringList m_columns;
    int m_maxOutputTokens;
    std::optional<ingest::OutputSchema> m_outputSchema;
    // Node-based: a reference into it survives the inserts of later revisions (a QHash
    // moves its values when it grows).
    std::unordered_map<int, Revision> m_revisions;
};

} // namespace bd::dispatch
