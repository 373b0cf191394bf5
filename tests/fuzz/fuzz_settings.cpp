// The JSON readers of settings: the tiering config (and routing a row with it), the
// off-peak window, a prices.json override and the stored row values.

#include "core/jsonutil.h"
#include "cost/pricetable.h"
#include "cost/tiering.h"
#include "dispatch/offpeakwindow.h"
#include "fuzzsupport.h"

#include <cmath>
#include <QJsonDocument>
#include <QJsonObject>

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    bd::fuzz::silenceQt();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray input = bd::fuzz::bytes(data, size);
    QString error;

    const QJsonObject object = QJsonDocument::fromJson(input).object();
    if (auto tiering =
            bd::cost::TieringConfig::fromJson(object, QStringLiteral("fuzz.json"), &error)) {
        const QStringList columns{QStringLiteral("id"), QStringLiteral("text"),
                                  QStringLiteral("lang")};
        if (tiering->bind(columns, {}, &error)) {
            (void)tiering->route(
                {QStringLiteral("1"), QString::fromUtf8(input.left(64)), QStringLiteral("en")},
                QStringLiteral("prompt"), 12);
        }
        (void)tiering->models();
    }
    (void)bd::cost::parseTierLabel(QString::fromUtf8(input));
    (void)bd::dispatch::OffPeakWindow::fromJson(object, &error);

    bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    if (prices.mergeJson(input, QStringLiteral("prices.json"), &error)) {
        for (const QString &model : prices.models()) {
            bd::Usage usage;
            usage.inputTokens = 1000;
            usage.outputTokens = 1000;
            const auto cost = prices.cost(model, usage, false);
            if (cost && (*cost < 0 || !std::isfinite(*cost)))
                __builtin_trap(); // a price never makes a cost negative
        }
    }
    (void)bd::json::decodeStringArray(input);
    return 0;
}
