#include "consolesettings.h"

#include "api/engine.h"
#include "api/jobsettings.h"

#include "keystore.h"

#include <QHash>
#include <QJsonArray>
#include <QSettings>
#include <QStandardPaths>
#include <QTime>
#include <QTimeZone>

namespace bd::ui::consolesettings {

using namespace Qt::StringLiterals;

namespace {

// The engine's own defaults (dispatch::JobRunner::Options, metrics::AlertThresholds), shown
// in the dialog before anything is set. 0 means "the engine decides" where a value is optional.
const QHash<QString, QVariant> &defaults()
{
    static const QHash<QString, QVariant> values = {
        {key(kConcurrency), 16},
        {key(kRpm), 0},
        {key(kTpm), 0},
        {key(kGroupSmall), 0},
        {key(kGroupMedium), 0},
        {key(kGroupLarge), 0},
        {key(kMediumDepth), 1'000},
        {key(kLargeDepth), 10'000},
        {key(kBatchSize), 0},
        {key(kMaxConcurrentBatches), 4},
        {key(kBatchMaxWaitMs), 0},
        {key(kOffpeakEnabled), false},
        {key(kOffpeakStart), u"22:00"_s},
        {key(kOffpeakEnd), u"06:00"_s},
        {key(kOffpeakTimeZone), QString::fromUtf8(QTimeZone::systemTimeZoneId())},
        {key(kMetricsEnabled), false},
        {key(kMetricsPort), 9469},
        {key(kWebhookUrl), QString()},
        {key(kAlertCommand), QString()},
        {key(kErrorRatePercent), 5.0},
        {key(kPriorityWaitMinutes), 5},
        {key(kPriority2WaitMinutes), 60},
        {key(kPriority3WaitHours), 24},
        {key(kQueueDepthFactor), 2.0},
        {key(kCostIncreasePercent), 20.0},
        {key(kNoProgressMinutes), 15},
        {key(kBudgetWarnPercent), 80},
    };
    return values;
}

} // namespace

QString key(const char *name)
{
    return QString::fromLatin1(name);
}

QString baseUrlKey(const QString &provider)
{
    return u"providers/%1/base_url"_s.arg(keyAccount(provider));
}

QVariant value(const QSettings &settings, const char *name)
{
    const QString k = key(name);
    return settings.value(k, defaults().value(k));
}

QJsonObject defaultJobSettings(const QSettings &settings)
{
    QJsonObject json;
    auto positive = [&](const char *name, const QString &jsonKey) {
        const qint64 v = value(settings, name).toLongLong();
        if (v > 0)
            json.insert(jsonKey, v);
    };
    positive(kConcurrency, settingkeys::concurrency);
    positive(kRpm, settingkeys::rpm);
    positive(kTpm, settingkeys::tpm);
    const int groups[3] = {value(settings, kGroupSmall).toInt(),
                           value(settings, kGroupMedium).toInt(),
                           value(settings, kGroupLarge).toInt()};
    if (groups[0] > 0 || groups[1] > 0 || groups[2] > 0)
        json.insert(settingkeys::groupSizes, QJsonArray{groups[0], groups[1], groups[2]});
    positive(kMediumDepth, settingkeys::mediumDepth);
    positive(kLargeDepth, settingkeys::largeDepth);
    positive(kBatchSize, settingkeys::batchSize);
    positive(kMaxConcurrentBatches, settingkeys::maxConcurrentBatches);
    positive(kBatchMaxWaitMs, settingkeys::batchMaxWaitMs);
    if (value(settings, kOffpeakEnabled).toBool()) {
        json.insert(settingkeys::offpeak, QJsonObject{
                                      {u"start"_s, value(settings, kOffpeakStart).toString()},
                                      {u"end"_s, value(settings, kOffpeakEnd).toString()},
                                      {u"timezone"_s, value(settings, kOffpeakTimeZone).toString()},
                                  });
    }
    return json;
}

QJsonObject monitoring(const QSettings &settings)
{
    QJsonObject notify;
    const QString webhook = value(settings, kWebhookUrl).toString().trimmed();
    if (!webhook.isEmpty())
        notify.insert(u"webhook_url"_s, webhook);
    const QString command = value(settings, kAlertCommand).toString().trimmed();
    if (!command.isEmpty())
        notify.insert(u"command"_s, command);
    const QJsonObject alerts{
        {u"error_rate"_s,
         QJsonObject{{u"threshold"_s, value(settings, kErrorRatePercent).toDouble() / 100.0}}},
        {u"priority_wait"_s,
         QJsonObject{
             {u"max_wait_s"_s, value(settings, kPriorityWaitMinutes).toInt() * 60},
             {u"priority2_max_wait_s"_s, value(settings, kPriority2WaitMinutes).toInt() * 60},
             {u"priority3_max_wait_s"_s, value(settings, kPriority3WaitHours).toInt() * 3600}}},
        {u"queue_depth"_s,
         QJsonObject{{u"factor"_s, value(settings, kQueueDepthFactor).toDouble()}}},
        {u"cost_per_task"_s,
         QJsonObject{{u"increase"_s, value(settings, kCostIncreasePercent).toDouble() / 100.0}}},
        {u"no_progress"_s,
         QJsonObject{{u"after_s"_s, value(settings, kNoProgressMinutes).toInt() * 60}}},
        {u"budget"_s,
         QJsonObject{{u"warn_fraction"_s, value(settings, kBudgetWarnPercent).toDouble() / 100.0}}},
    };
    return QJsonObject{
        {u"alerts"_s, alerts},
        {u"notify"_s, notify},
        {u"openmetrics"_s, QJsonObject{{u"enabled"_s, value(settings, kMetricsEnabled).toBool()},
                                       {u"port"_s, value(settings, kMetricsPort).toInt()}}},
    };
}


QString priceOverridePath()
{
    return defaultPriceOverridePath();
}

QStringList configurableProviders()
{
    return {u"openai"_s, u"anthropic"_s, u"gemini"_s, u"openai-compatible"_s};
}

} // namespace bd::ui::consolesettings
