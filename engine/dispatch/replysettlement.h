#pragma once

#include "core/tasktypes.h"
#include "cost/pricetable.h"
#include "providers/provider.h"

#include <optional>
#include <QStringList>

namespace bd::dispatch {

// What a task's reply comes to before the store hears of it: what it costs, and whether a
// failure was the provider's (then the line goes back uncharged, whatever the retry policy
// says). Pure state over the job's price table: the models met without a price, so that
// each is reported once per job.
class ReplySettlement
{
public:
    // A provider that cancels lines of its batches has them requeued uncharged this often,
    // then charged like any failure (so that one that keeps cancelling ends in the DLQ).
    static constexpr int kFreeProviderCancels = 3;

    // localServer: a server of one's own bills nothing (an unpriced model costs 0).
    ReplySettlement(const cost::PriceTable &prices, bool localServer);

    // The outcome as the reply tells it: error, answer, usage, model (the reply's, else the
    // routed one). A line of a provider batch that the provider cancelled is marked so
    // (our own cancellations never come back as batch results).
    static TaskOutcome outcomeOf(const ClaimedTask &task, const providers::ChatReply &reply,
                                 const QString &routedModel, bool viaBatchApi);
    // Prices an answer (a schema-refused one as rejected usage); returns the model when it
    // is the first of the job without a price (budgets cannot hold: say so once).
    std::optional<QString> price(TaskOutcome *outcome, bool viaBatchApi);
    // Overrides the retry policy's decision where the failure was not the line's: a provider
    // cancellation within kFreeProviderCancels, a line the provider let expire, a failure
    // while the provider is down (its breaker open). Those go back to pending at once.
    static void forgiveProviderFailures(TaskTransition *transition, const ClaimedTask &task,
                                        const providers::ChatReply &reply, bool viaBatchApi,
                                        bool providerDown, qint64 nowMs);

    const QStringList &unpricedModels() const { return m_unpricedModels; }

private:
    const cost::PriceTable &m_prices;
    bool m_localServer = false;
    QStringList m_unpricedModels;
};

} // namespace bd::dispatch
