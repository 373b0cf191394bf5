#include "samplecompare.h"

#include "api/jobsettings.h"
#include "core/exportrow.h"
#include "ingest/outputschema.h"
#include "store/store.h"

#include <QJsonValue>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

// Answers that differ only in case or surrounding white space agree ("Positive" and
// "positive\n"); numbers agree by value (3 and 3.0).
bool sameAnswer(const QJsonValue &a, const QJsonValue &b)
{
    if (a.isString() && b.isString())
        return a.toString().trimmed().compare(b.toString().trimmed(), Qt::CaseInsensitive) == 0;
    if (a.isDouble() && b.isDouble())
        return a.toDouble() == b.toDouble();
    return a == b;
}

struct CandidateRows
{
    std::optional<ingest::OutputSchema> schema;
    QList<ExportRow> rows;
};

} // namespace

SampleComparison compareSamples(store::Store &store, const QList<qint64> &jobIds, qint64 maxRows)
{
    SampleComparison comparison;
    if (jobIds.size() < 2 || jobIds.size() > 3) {
        comparison.error = u"compare two or three sample jobs"_s;
        return comparison;
    }
    QList<CandidateRows> candidates;
    QByteArray sourceSha256;
    for (const qint64 jobId : jobIds) {
        const auto job = store.job(jobId);
        if (!job) {
            comparison.error = noSuchJobText(jobId);
            return comparison;
        }
        if (candidates.isEmpty()) {
            sourceSha256 = job->spec.sourceSha256;
            comparison.rows = job->counts.total();
        } else if (job->spec.sourceSha256 != sourceSha256 || job->counts.total() != comparison.rows) {
            comparison.error = u"job %1 is not over the same rows as job %2: compare samples of "
                               "one input with the same --sample size"_s
                                   .arg(jobId)
                                   .arg(jobIds.first());
            return comparison;
        }
        if (comparison.rows > maxRows) {
            comparison.error = u"job %1 has %2 rows: compare samples of at most %3"_s.arg(jobId)
                                   .arg(comparison.rows)
                                   .arg(maxRows);
            return comparison;
        }
        SampleComparison::Candidate candidate;
        candidate.jobId = jobId;
        candidate.model = job->spec.model;
        candidate.templateText = job->spec.templateText;
        candidate.completed = job->counts.completed;
        candidate.dead = job->counts.dead;
        candidate.projection = sampleProjection(*job);
        comparison.candidates.append(candidate);

        CandidateRows read;
        const QString schemaText = job->spec.settings.value(settingkeys::outputSchema).toString();
        if (!schemaText.isEmpty()) {
            QString error;
            read.schema = ingest::OutputSchema::parse(schemaText.toUtf8(), u"job %1's output schema"_s.arg(jobId), &error);
            if (!read.schema) {
                comparison.error = error;
                return comparison;
            }
        }
        read.rows.reserve(comparison.rows);
        if (!store.forEachExportRow(jobId, [&read](const ExportRow &row) {
                read.rows.append(row);
                return true;
            })) {
            comparison.error = store.errorString();
            return comparison;
        }
        candidates.append(std::move(read));
    }

    // The fields every candidate's schema has, in the first one's order; free text: the answer.
    QStringList fields;
    bool structured = true;
    for (const CandidateRows &candidate : std::as_const(candidates))
        structured = structured && candidate.schema.has_value();
    if (structured) {
        fields = candidates.first().schema->fieldNames();
        for (const CandidateRows &candidate : std::as_const(candidates)) {
            const QStringList names = candidate.schema->fieldNames();
            fields.removeIf([&names](const QString &field) { return !names.contains(field); });
        }
    }
    if (fields.isEmpty()) {
        structured = false;
        fields = {u"output"_s};
    }
    for (const QString &field : std::as_const(fields))
        comparison.fields.append({field, 0, 0});

    const qsizetype rows = candidates.first().rows.size();
    for (const CandidateRows &candidate : std::as_const(candidates)) {
        if (candidate.rows.size() != rows) {
            comparison.error = u"the jobs' rows changed while they were read"_s;
            return comparison;
        }
    }
    for (qsizetype row = 0; row < rows; ++row) {
        bool allAnswered = true;
        QList<QList<QJsonValue>> values; // per candidate, per field
        for (const CandidateRows &candidate : std::as_const(candidates)) {
            const ExportRow &answer = candidate.rows.at(row);
            allAnswered = allAnswered && answer.status == u"completed"_s;
            if (!allAnswered)
                break;
            if (!structured) {
                values.append({QJsonValue(answer.output)});
                continue;
            }
            const QList<QJsonValue> all = candidate.schema->fieldValues(answer.output);
            const QStringList names = candidate.schema->fieldNames();
            QList<QJsonValue> picked;
            for (const QString &field : std::as_const(fields))
                picked.append(all.value(names.indexOf(field)));
            values.append(picked);
        }
        if (!allAnswered)
            continue;
        ++comparison.comparedRows;
        for (qsizetype f = 0; f < fields.size(); ++f) {
            SampleComparison::FieldAgreement &agreement = comparison.fields[f];
            ++agreement.compared;
            bool same = true;
            for (qsizetype c = 1; c < values.size() && same; ++c)
                same = sameAnswer(values.at(0).at(f), values.at(c).at(f));
            if (same)
                ++agreement.agreeing;
        }
    }
    return comparison;
}

} // namespace bd
