#include "provider.h"

#include "anthropicprovider.h"
#include "geminiprovider.h"
#include "openaichatprovider.h"
#include "simulatorprovider.h"

namespace bd::providers {

using namespace Qt::StringLiterals;

QList<QList<ChatRequest>> Provider::planBatches(const QList<ChatRequest> &) const
{
    return {};
}

void Provider::submitBatch(const QString &reference, const QList<ChatRequest> &)
{
    QMetaObject::invokeMethod(
        this,
        [this, reference] {
            Q_EMIT batchSubmitted(reference, QString(), ErrorClass::InvalidRequest,
                                  id() + u" has no batch API"_s);
        },
        Qt::QueuedConnection);
}

void Provider::findBatch(const QString &reference, const QList<ChatRequest> &, qint64)
{
    QMetaObject::invokeMethod(
        this,
        [this, reference] {
            Q_EMIT batchFound(reference, QString(), ErrorClass::InvalidRequest,
                              id() + u" cannot find batches"_s);
        },
        Qt::QueuedConnection);
}

void Provider::pollBatch(const QString &batchId)
{
    QMetaObject::invokeMethod(
        this,
        [this, batchId] {
            BatchStatus status;
            status.batchId = batchId;
            status.phase = BatchPhase::Failed;
            status.error = ErrorClass::InvalidRequest;
            status.errorMessage = id() + u" has no batch API"_s;
            Q_EMIT batchPolled(status);
        },
        Qt::QueuedConnection);
}

void Provider::fetchBatchResults(const QString &batchId, const QList<qint64> &)
{
    QMetaObject::invokeMethod(
        this,
        [this, batchId] {
            Q_EMIT batchResultsFetched(batchId, {}, ErrorClass::InvalidRequest,
                                       id() + u" has no batch API"_s);
        },
        Qt::QueuedConnection);
}

void Provider::cancelBatch(const QString &batchId)
{
    QMetaObject::invokeMethod(
        this,
        [this, batchId] {
            Q_EMIT batchCancelRequested(batchId, ErrorClass::InvalidRequest,
                                        id() + u" has no batch API"_s);
        },
        Qt::QueuedConnection);
}

void Provider::listModels()
{
    QMetaObject::invokeMethod(
        this, [this] { Q_EMIT modelsListed(knownModels(), QString()); }, Qt::QueuedConnection);
}

QString structuredAnswerInstruction(const ingest::OutputSchema &schema)
{
    // The schema on a line of its own, last: the loopback fakes read it from there.
    return QStringLiteral("Answer with one JSON object, and nothing else, that matches this "
                          "JSON Schema:\n") +
           QString::fromUtf8(schema.text());
}

qint64 batchPollDelayMs(int pollNumber, qint64 firstMs, qint64 maxMs)
{
    double delay = double(qMax<qint64>(1, firstMs));
    for (int i = 0; i < pollNumber && delay < double(maxMs); ++i)
        delay *= 1.5;
    return qMin<qint64>(maxMs, qint64(delay));
}

QStringList providerIds()
{
    return {u"simulator"_s, u"openai"_s, u"openai-compatible"_s, u"anthropic"_s, u"gemini"_s};
}

std::unique_ptr<Provider> createProvider(const ProviderConfig &config, Clock *clock, QString *error)
{
    if (config.id == u"simulator"_s)
        return std::make_unique<SimulatorProvider>(config, clock);
    if (config.id == u"openai"_s)
        return OpenAiChatProvider::create(OpenAiChatProvider::Flavour::OpenAi, config, clock,
                                          error);
    if (config.id == u"openai-compatible"_s)
        return OpenAiChatProvider::create(OpenAiChatProvider::Flavour::Compatible, config, clock,
                                          error);
    if (config.id == u"anthropic"_s)
        return AnthropicProvider::create(config, clock, error);
    if (config.id == u"gemini"_s)
        return GeminiProvider::create(config, clock, error);
    *error = u"unknown provider '%1' (known: %2)"_s.arg(config.id, providerIds().join(u", "_s));
    return nullptr;
}

} // namespace bd::providers
