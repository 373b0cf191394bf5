#pragma once

#include <QJsonObject>
#include <QString>
#include <QStringList>

class QSettings;

namespace bd {
class Engine;
}

// The console's settings as QSettings keys (everything but API keys, which live in the OS
// keychain), and what they turn into for the engine. One place, so the settings dialog,
// the import wizard and the main window read the same values.
namespace bd::ui::consolesettings {

// Keys. Providers share a key (and so a base URL) when they share a keychain account.
QString baseUrlKey(const QString &provider); // providers/<account>/base_url
inline constexpr char kConcurrency[] = "limits/concurrency";
inline constexpr char kRpm[] = "limits/rpm";
inline constexpr char kTpm[] = "limits/tpm";
inline constexpr char kGroupSmall[] = "lanes/group_small";
inline constexpr char kGroupMedium[] = "lanes/group_medium";
inline constexpr char kGroupLarge[] = "lanes/group_large";
inline constexpr char kMediumDepth[] = "lanes/medium_depth";
inline constexpr char kLargeDepth[] = "lanes/large_depth";
inline constexpr char kBatchSize[] = "lanes/batch_size";
inline constexpr char kMaxConcurrentBatches[] = "lanes/max_concurrent_batches";
inline constexpr char kBatchMaxWaitMs[] = "lanes/batch_max_wait_ms";
inline constexpr char kOffpeakEnabled[] = "offpeak/enabled";
inline constexpr char kOffpeakStart[] = "offpeak/start";
inline constexpr char kOffpeakEnd[] = "offpeak/end";
inline constexpr char kOffpeakTimeZone[] = "offpeak/timezone";
inline constexpr char kMetricsEnabled[] = "monitoring/metrics_enabled";
inline constexpr char kMetricsPort[] = "monitoring/metrics_port";
inline constexpr char kWebhookUrl[] = "monitoring/webhook_url";
inline constexpr char kAlertCommand[] = "monitoring/alert_command";
inline constexpr char kErrorRatePercent[] = "monitoring/error_rate_percent";
inline constexpr char kPriorityWaitMinutes[] = "monitoring/priority1_wait_min";
inline constexpr char kPriority2WaitMinutes[] = "monitoring/priority2_wait_min";
inline constexpr char kPriority3WaitHours[] = "monitoring/priority3_wait_h";
inline constexpr char kQueueDepthFactor[] = "monitoring/queue_depth_factor";
inline constexpr char kCostIncreasePercent[] = "monitoring/cost_per_task_increase_percent";
inline constexpr char kNoProgressMinutes[] = "monitoring/no_progress_min";
inline constexpr char kBudgetWarnPercent[] = "monitoring/budget_warn_percent";

// The database the console opens when it is started without --db (File › Open database…):
// an SQLite file or a postgresql:// URL without a password; empty: the default file.
inline constexpr char kDatabase[] = "database/location";

QString key(const char *name);
// A setting's value, or the engine's default when it was never set.
QVariant value(const QSettings &settings, const char *name);

// What new jobs get where their own settings are silent (Engine::setDefaultJobSettings):
// only the keys that differ from "the engine decides" (0 / off) are present.
QJsonObject defaultJobSettings(const QSettings &settings);
// The monitoring object for Engine::setMonitoring.
QJsonObject monitoring(const QSettings &settings);

// The user's price override (merged over the built-in table): ~/.config/BatchDesk/prices.json.
QString priceOverridePath();

// The providers the settings dialog configures, in order.
QStringList configurableProviders();

} // namespace bd::ui::consolesettings
