#pragma once

#include "core/tasktypes.h"

#include <QHash>
#include <QString>
#include <QStringList>

#include <optional>
#include <string_view>
#include <unordered_map>

namespace bd::cost {

// USD per one million tokens of each kind, at list (realtime) price.
struct ModelPrice
{
    double input = 0;          // uncached input
    double cachedInput = 0;    // input read from the provider's prompt cache
    double cacheWrite = 0;     // input written to the prompt cache, 5-minute TTL (Anthropic 1.25x)
    double cacheWrite1h = 0;   // ... with the 1-hour TTL (Anthropic 2x)
    double output = 0;
    double cacheStoragePerHour = 0; // explicit cache (Gemini cachedContents), per 1M tokens an hour
    double batchDiscount = 0.5; // batch lanes pay this share of the list price (every kind)
    bool simulated = false;
    QString date;   // when these prices were taken from the provider (entry's own, else the file's)
    QString source; // file the entry came from (the built-in table or the user's override)
    // Set when the model asked for is not in the table itself but a dated or versioned id
    // of this family entry (claude-sonnet-4-5-20250929 -> claude-sonnet-4-5).
    QString family;
};

// How long a prompt-cache write is kept: it decides the cache-write price.
enum class CacheTtl : int
{
    FiveMinutes,
    OneHour,
};

// The TTL dispatch asks for on a lane: batch lines can sit longer than 5 minutes between
// one another, so they write with the 1 h TTL; sync calls keep 5 minutes.
inline CacheTtl cacheTtlForLane(bool batchLane)
{
    return batchLane ? CacheTtl::OneHour : CacheTtl::FiveMinutes;
}

// A task's cost split by token kind, in USD, after the lane's discount.
struct CostBreakdown
{
    double input = 0;
    double cachedInput = 0;
    double cacheWrite = 0;
    double output = 0;

    double total() const { return input + cachedInput + cacheWrite + output; }
    CostBreakdown &operator+=(const CostBreakdown &other)
    {
        input += other.input;
        cachedInput += other.cachedInput;
        cacheWrite += other.cacheWrite;
        output += other.output;
        return *this;
    }
};

// Prices per model, read from JSON (resources/prices.json is built in; a file in the
// user's config folder overrides it entry by entry). An unknown model has no price:
// its cost is unknown, never a silent zero.
//
// Usage convention (core/types.h, what the providers report): Usage::inputTokens is the
// UNCACHED input only. OpenAI's prompt_tokens include the cached ones; the OpenAI parser
// already splits them (input = prompt - cached). Anthropic reports input, cache reads and
// cache writes separately. So the cost is always
//     input*p.input + cached*p.cachedInput + writes*p.cacheWrite(ttl) + output*p.output
// and the batch lanes pay batchDiscount of it.
class PriceTable
{
public:
    static PriceTable builtIn();
    // Merges the entries of a prices.json over this table; false and a message on errors.
    // A field missing from an override entry keeps the value it overrides only when the
    // entry says "merge": true; otherwise the entry replaces the model's price as a whole.
    bool mergeFile(const QString &path, QString *error);
    bool mergeJson(const QByteArray &json, const QString &sourceName, QString *error);

    // The model's price: its own entry, else the entry of the family a dated or versioned
    // id belongs to (ModelPrice::family says which). nullopt only when neither exists.
    std::optional<ModelPrice> price(const QString &model) const;
    // The entry that prices model (itself or its family); empty when none does.
    QString pricedModel(const QString &model) const;
    // The ids a model name may be priced under, most specific first: the name, then with
    // a "models/" prefix or a date or version suffix taken off (-20250929, -2024-07-18,
    // -001, -latest, -preview-09-2025).
    static QStringList familyCandidates(const QString &model);
    QStringList models() const;
    // Cost of one task's usage; nullopt when the model has no price.
    std::optional<double> cost(const QString &model, const Usage &usage, bool batchLane) const;
    std::optional<double> cost(const QString &model, const Usage &usage, bool batchLane,
                               CacheTtl writeTtl) const;
    std::optional<CostBreakdown> breakdown(const QString &model, const Usage &usage,
                                           bool batchLane,
                                           CacheTtl writeTtl = CacheTtl::FiveMinutes) const;
    // What the same tokens cost in a naive run: realtime, list price, no prompt caching
    // (every input token, cached or written, paid as plain input).
    std::optional<double> naiveCost(const QString &model, const Usage &usage) const;
    // The most a request of promptTokens input and maxOutputTokens output can cost in the
    // lane (every input token at the dearest input kind): what a budget reserves.
    std::optional<double> maxCost(const QString &model, qint64 promptTokens,
                                  qint64 maxOutputTokens, bool batchLane) const;
    QString effectiveDate() const { return m_date; }

private:
    // Qt 6.4's qHash of a string under 16 bytes ("gpt-4o", "sim-1") takes its slow path,
    // about 200 ns here, and a drain looks a price up two or three times a task.
    struct ModelNameHash
    {
        size_t operator()(const QString &name) const noexcept
        {
            const QStringView view(name);
            return std::hash<std::u16string_view>()(
                std::u16string_view(view.utf16(), size_t(view.size())));
        }
    };
    // The model's own entry, else its family's (*family says which); null when none.
    const ModelPrice *lookUp(const QString &model, QString *family) const;

    std::unordered_map<QString, ModelPrice, ModelNameHash> m_prices;
    QString m_date;
};

} // namespace bd::cost
