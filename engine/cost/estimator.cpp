#include "estimator.h"
#include "api/jobsettings.h"

#include "cost/responsecache.h"
#include "ingest/csvreader.h"
#include "ingest/prompttemplate.h"
#include "store/store.h"

#include <QJsonArray>
#include <QSet>

#include <cmath>

namespace bd::cost {

using namespace Qt::StringLiterals;

namespace {

// Same rule as dispatch uses for pacing and budgets.
qint64 tokensOf(qsizetype chars)
{
    return (qint64(chars) + 3) / 4;
}

// The encoding and delimiter the user chose (as jobio reads them), else sniffing.
ingest::CsvReader::Options readerOptions(const JobSpec &spec)
{
    ingest::CsvReader::Options options;
    const QString delimiter = spec.settings.value(settingkeys::csvDelimiter).toString();
    if (delimiter.size() == 1)
        options.delimiter = delimiter.at(0);
    else if (delimiter == u"\\t"_s || delimiter == u"tab"_s)
        options.delimiter = u'\t';
    options.encoding = spec.settings.value(settingkeys::csvEncoding).toString();
    return options;
}

} // namespace

bool estimateJob(const JobSpec &spec, const PriceTable &prices, store::Store *store,
                 JobEstimate *estimate, QString *error)
{
    JobEstimate e;
    ingest::CsvReader reader;
    if (!reader.open(spec.sourcePath, readerOptions(spec))) {
        *error = reader.errorString();
        return false;
    }
    ingest::PromptTemplate prompt(spec.templateText);
    if (!prompt.syntaxError().isEmpty()) {
        *error = u"template: "_s + prompt.syntaxError();
        return false;
    }
    if (!prompt.bind(reader.header(), error)) {
        *error = u"template: "_s + *error;
        return false;
    }
    e.responseCache = responseCacheEnabled(spec.settings);
    // A structured answer's schema goes with every request (a response format, a tool
    // definition) and is billed as input, ahead of the row like the system prompt.
    const qsizetype staticChars =
        spec.systemPrompt.size() + spec.settings.value(settingkeys::outputSchema).toString().size();
    e.systemPromptTokens = tokensOf(staticChars);
    // Automatic prompt caching serves prefixes of 1024+ tokens in 128-token steps
    // (OpenAI; Anthropic's minimum is the same for most models).
    e.cacheablePrefixTokens = e.systemPromptTokens >= 1024 ? e.systemPromptTokens / 128 * 128 : 0;
    e.maxOutputTokensPerRow = spec.maxOutputTokens;

    QSet<QByteArray> seen;
    QStringList fields;
    while (reader.readRow(fields)) {
        const QString rendered = prompt.render(fields);
        const qint64 tokens = tokensOf(staticChars + rendered.size());
        ++e.rows;
        e.inputTokensAllRows += tokens;
        const QByteArray key = responseCacheKey(requestIdentity(spec, spec.model, rendered));
        if (seen.contains(key)) {
            ++e.duplicateRows;
            if (e.responseCache)
                continue;
        } else {
            seen.insert(key);
            ++e.distinctPrompts;
            if (e.responseCache && store && store->cachedResponse(key)) {
                ++e.cachedRows;
                continue;
            }
        }
        ++e.rowsToSend;
        e.inputTokens += tokens;
    }
    if (reader.hasError()) {
        *error = reader.errorString();
        return false;
    }

    if (store) {
        const store::UsageCalibration calibration =
            store->usageCalibration(spec.templateText, spec.systemPrompt, spec.model);
        if (calibration.tasks > 0) {
            e.calibrationTasks = calibration.tasks;
            e.typicalOutputTokensPerRow = qMin<double>(calibration.meanOutputTokens, spec.maxOutputTokens);
        }
    }

    const auto price = prices.price(spec.model);
    e.priced = price.has_value();
    e.priceDate = price ? price->date : QString();
    if (price) {
        const auto laneCost = [&](bool batch, double outputPerRow, bool promptCache) {
            Usage usage;
            usage.inputTokens = e.inputTokens;
            usage.outputTokens = qint64(std::llround(outputPerRow * double(e.rowsToSend)));
            if (promptCache && e.cacheablePrefixTokens > 0 && e.rowsToSend > 1) {
                // Best case: every request but the first reads the prefix from the cache.
                usage.cachedTokens = e.cacheablePrefixTokens * (e.rowsToSend - 1);
                usage.inputTokens -= usage.cachedTokens;
            }
            return *prices.cost(spec.model, usage, batch);
        };
        const double maxOut = double(spec.maxOutputTokens);
        e.realtime.maxUsd = laneCost(false, maxOut, false);
        e.batchApi.maxUsd = laneCost(true, maxOut, false);
        if (e.cacheablePrefixTokens > 0) {
            e.realtime.withPromptCacheMaxUsd = laneCost(false, maxOut, true);
            e.batchApi.withPromptCacheMaxUsd = laneCost(true, maxOut, true);
        }
        Usage naive;
        naive.inputTokens = e.inputTokensAllRows;
        naive.outputTokens = spec.maxOutputTokens * e.rows;
        e.naive.maxUsd = prices.naiveCost(spec.model, naive);
        if (e.typicalOutputTokensPerRow) {
            e.realtime.typicalUsd = laneCost(false, *e.typicalOutputTokensPerRow, false);
            e.batchApi.typicalUsd = laneCost(true, *e.typicalOutputTokensPerRow, false);
            naive.outputTokens = qint64(std::llround(*e.typicalOutputTokensPerRow * double(e.rows)));
            e.naive.typicalUsd = prices.naiveCost(spec.model, naive);
        }
    }
    *estimate = e;
    return true;
}

} // namespace bd::cost
