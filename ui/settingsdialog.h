#pragma once

#include <QDialog>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSettings;
class QSpinBox;
class QTabWidget;
class QTimeEdit;

namespace bd {
class Engine;
}
namespace bd::secrets {
class KeyStore;
}

namespace bd::ui {

class PricesPage;
class ProvidersPage;

// Edit › Settings: providers (base URL, key in the OS keychain, test connection), limits
// and concurrency, lanes and batches, the off-peak window, prices and monitoring. Values
// live in QSettings (keys in consolesettings.h), API keys in the keychain only. Apply and
// OK write them and hand them to the engine: defaults for jobs started later, monitoring
// at once; a changed concurrency is announced so running jobs can follow it.
class SettingsDialog final : public QDialog
{
    Q_OBJECT

public:
    enum Tab
    {
        ProvidersTab,
        LimitsTab,
        LanesTab,
        OffPeakTab,
        PricesTab,
        MonitoringTab,
        DatabaseTab,
    };

    // keyStore may be null (no keychain). priceOverridePath: the user's prices.json.
    SettingsDialog(Engine *engine, secrets::KeyStore *keyStore, const QString &priceOverridePath,
                   QWidget *parent = nullptr);

    void showTab(Tab tab);
    Tab currentTab() const;
    // The engine's global budget (from the database); shown unless the user is editing it.
    void showGlobalBudget(double usd);
    // Writes the settings, hands them to the engine and emits what changed.
    void apply();

    ProvidersPage *providersPage() const { return m_providers; }
    PricesPage *pricesPage() const { return m_prices; }
    QSpinBox *concurrencyBox() const { return m_concurrency; }

    // Hands the stored settings to the engine (start-up and every apply).
    static void applyToEngine(Engine *engine, const QSettings &settings);

Q_SIGNALS:
    void applied();
    // The default concurrency changed: running jobs should take it too.
    void concurrencyChanged(int concurrency);
    // The user changed the global budget (0: none) and applied it.
    void globalBudgetChanged(double usd);
    // The user asked to open another database (File › Open database… does the rest).
    void openDatabaseRequested();

private:
    QWidget *buildLimitsTab();
    QWidget *buildLanesTab();
    QWidget *buildOffPeakTab();
    QWidget *buildMonitoringTab();
    QWidget *buildDatabaseTab();
    void load();

    Engine *m_engine;
    QTabWidget *m_tabs = nullptr;
    ProvidersPage *m_providers = nullptr;
    PricesPage *m_prices = nullptr;

    QSpinBox *m_concurrency = nullptr;
    QSpinBox *m_rpm = nullptr;
    QSpinBox *m_tpm = nullptr;
    QDoubleSpinBox *m_globalBudget = nullptr;
    double m_engineGlobalBudget = 0.0;
    bool m_globalBudgetEdited = false;
    bool m_showingEngineBudget = false;

    QSpinBox *m_groupSizes[3] = {nullptr, nullptr, nullptr};
    QSpinBox *m_mediumDepth = nullptr;
    QSpinBox *m_largeDepth = nullptr;
    QSpinBox *m_batchSize = nullptr;
    QSpinBox *m_maxConcurrentBatches = nullptr;
    QSpinBox *m_batchMaxWait = nullptr;

    QCheckBox *m_offpeakEnabled = nullptr;
    QTimeEdit *m_offpeakStart = nullptr;
    QTimeEdit *m_offpeakEnd = nullptr;
    QComboBox *m_offpeakZone = nullptr;

    QCheckBox *m_metricsEnabled = nullptr;
    QSpinBox *m_metricsPort = nullptr;
    QLabel *m_metricsStatus = nullptr;
    QLineEdit *m_webhook = nullptr;
    QLineEdit *m_command = nullptr;
    QDoubleSpinBox *m_errorRate = nullptr;
    QSpinBox *m_priorityWait = nullptr;
    QSpinBox *m_priority2Wait = nullptr;
    QSpinBox *m_priority3Wait = nullptr;
    QDoubleSpinBox *m_queueFactor = nullptr;
    QDoubleSpinBox *m_costIncrease = nullptr;
    QSpinBox *m_noProgress = nullptr;
    QSpinBox *m_budgetWarn = nullptr;
    QLabel *m_error = nullptr;
};

} // namespace bd::ui
