#include "jobcheck.h"

#include "api/jobsettings.h"
#include "cost/pricetable.h"
#include "cost/tiering.h"
#include "dispatch/deadlineplanner.h"
#include "ingest/outputschema.h"
#include "ingest/textfile.h"
#include "jobio.h"

#include <QDateTime>
#include <QFileInfo>
#include <QTimeZone>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

JobCheck refused(JobCheck check, const QString &error)
{
    check.ok = false;
    check.error = error;
    return check;
}

} // namespace

QString laneForPriority(int priority, bool hasBatchApi)
{
    if (priority == 3 && hasBatchApi)
        return u"batch-api"_s;
    return priority == 1 ? u"realtime"_s : u"grouped"_s;
}

namespace {

// A --schema file: bounded UTF-8 text, then a schema (errors name the file and the line).
std::optional<ingest::OutputSchema> schemaFromFile(const QString &path, QString *error)
{
    const auto text = ingest::readTextFile(path, error);
    if (!text) {
        *error = u"--schema "_s + *error;
        return std::nullopt;
    }
    return ingest::OutputSchema::parse(text->toUtf8(), QFileInfo(path).fileName(), error);
}

// A schema a front end put into the settings itself (the console's Fields step).
std::optional<ingest::OutputSchema> checkedSchema(const JobSpec &spec, QString *error)
{
    return ingest::OutputSchema::parse(
        spec.settings.value(settingkeys::outputSchema).toString().toUtf8(), u"output fields"_s,
        error);
}

} // namespace

JobCheck checkJobDraft(const JobDraft &draft)
{
    JobCheck check;
    check.spec = draft.spec;
    JobSpec &spec = check.spec;
    const auto provider = providerInfo(spec.provider);
    if (!provider) {
        QStringList known;
        for (const ProviderInfo &info : availableProviders())
            known.append(info.id);
        return refused(check, u"unknown provider '%1' (known: %2)"_s.arg(spec.provider, known.join(u", "_s)));
    }
    check.provider = *provider;
    if (spec.priority < 1 || spec.priority > 3)
        return refused(check, u"the priority must be 1, 2 or 3"_s);
    const QStringList modes{u"auto"_s, u"realtime"_s, u"grouped"_s, u"batch-api"_s};
    if (!modes.contains(spec.mode))
        return refused(check, u"the mode must be auto, realtime or batch-api"_s);
    if (spec.mode == u"batch-api"_s && !provider->hasBatchApi)
        return refused(check, u"provider %1 has no batch API; use --mode auto or realtime"_s.arg(spec.provider));
    if (provider->needsModelName && !draft.modelGiven)
        return refused(check, u"--provider %1 needs --model: the name the server serves (e.g. llama3 "
                              "for Ollama; see its /v1/models)"_s.arg(spec.provider));
    if (spec.model.isEmpty())
        spec.model = provider->defaultModel;
    const bool tiered = spec.model == cost::kAutoModel;
    if (!tiered && !provider->knownModels.isEmpty() && !provider->knownModels.contains(spec.model))
        return refused(check, u"unknown model '%1' for %2 (known: %3)"_s.arg(
                                  spec.model, spec.provider, provider->knownModels.join(u", "_s)));
    if (spec.settings.contains(settingkeys::deadlineMs)) {
        // The lane from the time left alone; the estimate adds the rows (meets_deadline).
        const qint64 deadline = spec.settings.value(settingkeys::deadlineMs).toInteger();
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        if (deadline <= now)
            return refused(check, u"the deadline %1 has already passed"_s.arg(
                                      QDateTime::fromMSecsSinceEpoch(deadline, Qt::UTC)
                                          .toString(Qt::ISODate)));
        const dispatch::DeadlinePlan plan =
            dispatch::planForDeadline(now, deadline, 0, provider->hasBatchApi, 0.0);
        spec.priority = plan.priority;
        spec.mode = laneForPriority(plan.priority, provider->hasBatchApi);
        check.notes.append(u"deadline: "_s + plan.why);
    }
    if (spec.mode == u"auto"_s)
        spec.mode = laneForPriority(spec.priority, provider->hasBatchApi);
    if (spec.settings.contains(settingkeys::offpeak) && spec.priority != 3)
        return refused(check, u"--offpeak holds priority-3 work only; add --priority 3"_s);

    QString error;
    if (!validateJobSpec(spec, &check.columns, &error))
        return refused(check, error);

    if (!tiered && !draft.tieringFile.isEmpty())
        return refused(check, u"--tiering needs --model auto"_s);
    if (tiered) {
        if (draft.tieringFile.isEmpty() && !spec.settings.value(settingkeys::tiering).isObject())
            return refused(check, u"--model auto needs --tiering FILE.json (tiers, models and rules)"_s);
        auto config = draft.tieringFile.isEmpty()
                          ? cost::TieringConfig::fromJson(spec.settings.value(settingkeys::tiering).toObject(),
                                                          u"job settings"_s, &error)
                          : cost::TieringConfig::fromFile(draft.tieringFile, &error);
        if (!config || !config->bind(check.columns, provider->knownModels, &error))
            return refused(check, error);
        if (config->usesClassifier() && spec.mode == u"batch-api"_s)
            return refused(check, u"%1: classifier: a classifier needs a sync lane; use rules with the "
                                  "batch API (priority 3 or --mode batch-api)"_s
                                      .arg(QFileInfo(draft.tieringFile).fileName()));
        spec.settings.insert(settingkeys::tiering, config->toJson());
    }
    const bool structured = !draft.schemaFile.isEmpty() || spec.settings.contains(settingkeys::outputSchema);
    if (spec.settings.contains(settingkeys::structuredOutput)) {
        const QString mode = spec.settings.value(settingkeys::structuredOutput).toString();
        if (mode != u"json_schema"_s && mode != u"json_object"_s)
            return refused(check, u"--structured-output must be json_schema or json_object, not '%1'"_s.arg(mode));
        if (!structured || spec.provider != u"openai-compatible"_s)
            return refused(check, u"--structured-output applies to --provider openai-compatible with --schema"_s);
    }
    if (structured) {
        if (spec.provider == u"simulator"_s)
            return refused(
                check,
                u"structured answers (--schema, Fields) need a real provider: the simulator answers free text"_s);
        const auto schema = draft.schemaFile.isEmpty() ? checkedSchema(spec, &error)
                                                       : schemaFromFile(draft.schemaFile, &error);
        if (!schema)
            return refused(check, error);
        spec.settings.insert(settingkeys::outputSchema, QString::fromUtf8(schema->text()));
    }
    check.ok = true;
    return check;
}

QString topTierModel(const JobSpec &spec, const cost::PriceTable &prices)
{
    if (spec.model != cost::kAutoModel)
        return {};
    QString error;
    const auto tiering = cost::TieringConfig::fromJson(spec.settings.value(settingkeys::tiering).toObject(),
                                                       u"job settings"_s, &error);
    if (!tiering)
        return {};
    return tiering->modelFor(tiering->topTier([&](const QString &model) {
        const auto price = prices.price(model);
        return price ? std::optional<double>(price->output) : std::nullopt;
    }));
}

} // namespace bd
