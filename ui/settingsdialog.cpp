#include "settingsdialog.h"

#include "consolesettings.h"
#include "api/engine.h"
#include "pricespage.h"
#include "providerspage.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QTabWidget>
#include <QTimeEdit>
#include <QTimeZone>
#include <QUrl>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;
namespace cs = consolesettings;

namespace {

QSpinBox *spinBox(QWidget *parent, int minimum, int maximum, const QString &special = {},
                  const QString &suffix = {})
{
    auto *box = new QSpinBox(parent);
    box->setRange(minimum, maximum);
    box->setGroupSeparatorShown(true);
    if (!special.isEmpty())
        box->setSpecialValueText(special);
    if (!suffix.isEmpty())
        box->setSuffix(suffix);
    return box;
}

QLabel *note(const QString &text, QWidget *parent)
{
    auto *label = new QLabel(text, parent);
    label->setWordWrap(true);
    label->setForegroundRole(QPalette::PlaceholderText);
    return label;
}

// A settings form on a page that scrolls when the dialog is small.
QWidget *page(QWidget *content)
{
    auto *scroll = new QScrollArea;
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidget(content);
    return scroll;
}

} // namespace

SettingsDialog::SettingsDialog(Engine *engine, secrets::KeyStore *keyStore,
                               const QString &priceOverridePath, QWidget *parent)
    : QDialog(parent)
    , m_engine(engine)
{
    setObjectName(u"settingsDialog"_s);
    setWindowTitle(tr("Settings"));
    resize(860, 620);
    auto *layout = new QVBoxLayout(this);
    m_tabs = new QTabWidget(this);
    m_providers = new ProvidersPage(engine, keyStore);
    m_prices = new PricesPage(engine, priceOverridePath);
    m_tabs->addTab(page(m_providers), tr("Providers"));
    m_tabs->addTab(page(buildLimitsTab()), tr("Limits"));
    m_tabs->addTab(page(buildLanesTab()), tr("Lanes and batches"));
    m_tabs->addTab(page(buildOffPeakTab()), tr("Off-peak"));
    m_tabs->addTab(m_prices, tr("Prices"));
    m_tabs->addTab(page(buildMonitoringTab()), tr("Monitoring"));
    m_tabs->addTab(page(buildDatabaseTab()), tr("Database"));
    layout->addWidget(m_tabs, 1);
    m_error = new QLabel(this);
    m_error->setObjectName(u"settingsError"_s);
    m_error->setWordWrap(true);
    m_error->setStyleSheet(u"color: #c0392b;"_s);
    m_error->hide();
    layout->addWidget(m_error);
    auto *buttons = new QDialogButtonBox(
        QDialogButtonBox::Ok | QDialogButtonBox::Apply | QDialogButtonBox::Cancel, this);
    layout->addWidget(buttons);
    connect(buttons->button(QDialogButtonBox::Apply), &QPushButton::clicked, this,
            &SettingsDialog::apply);
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        apply();
        if (m_error->isHidden())
            accept();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_engine, &Engine::metricsEndpointChanged, this,
            [this](quint16 port, const QString &error) {
                m_metricsStatus->setText(port > 0
                                             ? tr("serving http://127.0.0.1:%1/metrics").arg(port)
                                         : error.isEmpty() ? tr("off")
                                                           : tr("not serving: %1").arg(error));
            });
    load();
}

QWidget *SettingsDialog::buildLimitsTab()
{
    auto *widget = new QWidget;
    auto *form = new QFormLayout(widget);
    m_concurrency = spinBox(widget, 1, 4096);
    m_concurrency->setObjectName(u"concurrency"_s);
    form->addRow(tr("Requests in flight per job:"), m_concurrency);
    form->addRow(QString(), note(tr("Also applied at once to the jobs running now."), widget));
    m_rpm = spinBox(widget, 0, 10'000'000, tr("from the provider's headers"), tr(" per minute"));
    form->addRow(tr("Requests per minute:"), m_rpm);
    m_tpm = spinBox(widget, 0, 2'000'000'000, tr("from the provider's headers"), tr(" per minute"));
    form->addRow(tr("Tokens per minute:"), m_tpm);
    m_globalBudget = new QDoubleSpinBox(widget);
    m_globalBudget->setObjectName(u"globalBudget"_s);
    m_globalBudget->setRange(0, 1e9);
    m_globalBudget->setDecimals(2);
    m_globalBudget->setPrefix(u"$"_s);
    m_globalBudget->setSpecialValueText(tr("no global budget"));
    form->addRow(tr("Global budget (USD):"), m_globalBudget);
    // The cap is kept in the database (every worker on it honours it), so the field shows
    // what the engine reports until the user edits it.
    connect(m_globalBudget, &QDoubleSpinBox::valueChanged, this, [this] {
        if (!m_showingEngineBudget)
            m_globalBudgetEdited = true;
    });
    connect(m_engine, &Engine::snapshotTaken, this, [this](const EngineSnapshot &snapshot) {
        showGlobalBudget(snapshot.globalBudgetUsd);
    });
    form->addRow(QString(), note(tr("Limits for new jobs where the job does not set its own. The "
                                    "global budget caps the spend of all jobs together."),
                                 widget));
    return widget;
}

QWidget *SettingsDialog::buildLanesTab()
{
    auto *widget = new QWidget;
    auto *layout = new QVBoxLayout(widget);
    auto *groups = new QGroupBox(tr("Groups of sync calls (priority 2)"), widget);
    auto *groupForm = new QFormLayout(groups);
    const QString names[3] = {tr("Small group:"), tr("Medium group:"), tr("Large group:")};
    for (int i = 0; i < 3; ++i) {
        m_groupSizes[i] = spinBox(groups, 0, 100'000, tr("provider default"), tr(" tasks"));
        groupForm->addRow(names[i], m_groupSizes[i]);
    }
    m_mediumDepth = spinBox(groups, 1, 2'000'000'000, {}, tr(" pending"));
    groupForm->addRow(tr("Medium above:"), m_mediumDepth);
    m_largeDepth = spinBox(groups, 1, 2'000'000'000, {}, tr(" pending"));
    groupForm->addRow(tr("Large above:"), m_largeDepth);
    groupForm->addRow(QString(),
                      note(tr("Hosted APIs default to 50 / 75 / 100, local servers and the "
                              "simulator to 100 / 250 / 500."),
                           groups));
    layout->addWidget(groups);
    auto *batches = new QGroupBox(tr("Provider batches (priority 3)"), widget);
    auto *batchForm = new QFormLayout(batches);
    m_batchSize = spinBox(batches, 0, 100'000, tr("the API's limit"), tr(" lines"));
    batchForm->addRow(tr("Largest batch:"), m_batchSize);
    m_maxConcurrentBatches = spinBox(batches, 1, 64);
    batchForm->addRow(tr("Batches open at once:"), m_maxConcurrentBatches);
    m_batchMaxWait = spinBox(batches, 0, 86'400'000, tr("engine default"), tr(" ms"));
    batchForm->addRow(tr("Longest wait to fill a batch:"), m_batchMaxWait);
    layout->addWidget(batches);
    layout->addStretch(1);
    return widget;
}

QWidget *SettingsDialog::buildOffPeakTab()
{
    auto *widget = new QWidget;
    auto *form = new QFormLayout(widget);
    m_offpeakEnabled = new QCheckBox(tr("Send priority 3 work only inside the window"), widget);
    m_offpeakEnabled->setObjectName(u"offpeakEnabled"_s);
    form->addRow(m_offpeakEnabled);
    m_offpeakStart = new QTimeEdit(widget);
    m_offpeakStart->setDisplayFormat(u"HH:mm"_s);
    form->addRow(tr("From:"), m_offpeakStart);
    m_offpeakEnd = new QTimeEdit(widget);
    m_offpeakEnd->setDisplayFormat(u"HH:mm"_s);
    form->addRow(tr("Until:"), m_offpeakEnd);
    m_offpeakZone = new QComboBox(widget);
    m_offpeakZone->setObjectName(u"offpeakZone"_s);
    for (const QByteArray &id : QTimeZone::availableTimeZoneIds())
        m_offpeakZone->addItem(QString::fromUtf8(id));
    m_offpeakZone->setEditable(true);
    m_offpeakZone->setInsertPolicy(QComboBox::NoInsert);
    form->addRow(tr("Time zone:"), m_offpeakZone);
    form->addRow(QString(), note(tr("A window that ends before it starts runs over midnight "
                                    "(22:00 – 06:00)."),
                                 widget));
    for (QWidget *field :
         {static_cast<QWidget *>(m_offpeakStart), static_cast<QWidget *>(m_offpeakEnd),
          static_cast<QWidget *>(m_offpeakZone)})
        connect(m_offpeakEnabled, &QCheckBox::toggled, field, &QWidget::setEnabled);
    return widget;
}

QWidget *SettingsDialog::buildMonitoringTab()
{
    auto *widget = new QWidget;
    auto *layout = new QVBoxLayout(widget);
    auto *endpoint = new QGroupBox(tr("Prometheus endpoint"), widget);
    auto *endpointForm = new QFormLayout(endpoint);
    m_metricsEnabled = new QCheckBox(tr("Serve /metrics on 127.0.0.1"), endpoint);
    m_metricsEnabled->setObjectName(u"metricsEnabled"_s);
    endpointForm->addRow(m_metricsEnabled);
    m_metricsPort = spinBox(endpoint, 0, 65535, tr("any free port"));
    m_metricsPort->setObjectName(u"metricsPort"_s);
    m_metricsPort->setGroupSeparatorShown(false);
    endpointForm->addRow(tr("Port:"), m_metricsPort);
    m_metricsStatus = new QLabel(tr("off"), endpoint);
    m_metricsStatus->setObjectName(u"metricsStatus"_s);
    m_metricsStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
    endpointForm->addRow(tr("Now:"), m_metricsStatus);
    layout->addWidget(endpoint);

    auto *notify = new QGroupBox(tr("Alert delivery"), widget);
    auto *notifyForm = new QFormLayout(notify);
    m_webhook = new QLineEdit(notify);
    m_webhook->setObjectName(u"webhookUrl"_s);
    m_webhook->setPlaceholderText(u"https://hooks.example.com/batchdesk"_s);
    notifyForm->addRow(tr("Webhook URL:"), m_webhook);
    m_command = new QLineEdit(notify);
    m_command->setPlaceholderText(
        tr("a program and its arguments; the alert arrives as JSON on stdin"));
    notifyForm->addRow(tr("Alert command:"), m_command);
    layout->addWidget(notify);

    auto *thresholds = new QGroupBox(tr("Alert thresholds"), widget);
    auto *thresholdForm = new QFormLayout(thresholds);
    m_errorRate = new QDoubleSpinBox(thresholds);
    m_errorRate->setRange(0.1, 100);
    m_errorRate->setDecimals(1);
    m_errorRate->setSuffix(u" %"_s);
    thresholdForm->addRow(tr("Error rate above:"), m_errorRate);
    m_priorityWait = spinBox(thresholds, 1, 24 * 60, {}, tr(" min"));
    thresholdForm->addRow(tr("Priority 1 waits longer than:"), m_priorityWait);
    m_priority2Wait = spinBox(thresholds, 1, 7 * 24 * 60, {}, tr(" min"));
    thresholdForm->addRow(tr("Priority 2 waits longer than:"), m_priority2Wait);
    m_priority3Wait = spinBox(thresholds, 1, 30 * 24, {}, tr(" h"));
    thresholdForm->addRow(tr("Priority 3 waits longer than:"), m_priority3Wait);
    m_queueFactor = new QDoubleSpinBox(thresholds);
    m_queueFactor->setRange(1.1, 100);
    m_queueFactor->setDecimals(1);
    m_queueFactor->setSuffix(u" ×"_s);
    thresholdForm->addRow(tr("Queue deeper than its usual:"), m_queueFactor);
    m_costIncrease = new QDoubleSpinBox(thresholds);
    m_costIncrease->setRange(1, 1000);
    m_costIncrease->setDecimals(0);
    m_costIncrease->setSuffix(u" %"_s);
    thresholdForm->addRow(tr("Cost per task up by (week on week):"), m_costIncrease);
    m_noProgress = spinBox(thresholds, 1, 24 * 60, {}, tr(" min"));
    thresholdForm->addRow(tr("No progress for:"), m_noProgress);
    m_budgetWarn = spinBox(thresholds, 1, 99, {}, u" %"_s);
    thresholdForm->addRow(tr("Budget warning at:"), m_budgetWarn);
    layout->addWidget(thresholds);
    layout->addStretch(1);
    return widget;
}

QWidget *SettingsDialog::buildDatabaseTab()
{
    auto *widget = new QWidget;
    auto *layout = new QVBoxLayout(widget);
    auto *box = new QGroupBox(tr("Database"), widget);
    auto *form = new QFormLayout(box);
    const QString database = m_engine->database();
    const bool server = isServerDatabase(database);
    auto *location = new QLineEdit(database, box);
    location->setObjectName(u"databaseLocation"_s);
    location->setReadOnly(true);
    form->addRow(tr("Open now:"), location);
    form->addRow(tr("Kind:"),
                 new QLabel(server ? tr("PostgreSQL, shared with batchctl workers on any machine")
                                   : tr("SQLite file on this computer"),
                            box));
    auto *open = new QPushButton(tr("Open another database…"), box);
    open->setObjectName(u"openDatabase"_s);
    connect(open, &QPushButton::clicked, this, &SettingsDialog::openDatabaseRequested);
    form->addRow(QString(), open);
    auto *help = new QLabel(tr("The console starts again on the database you choose and opens "
                               "it next time too. A PostgreSQL password comes from PGPASSWORD "
                               "or ~/.pgpass, never from the URL or these settings."),
                            box);
    help->setWordWrap(true);
    form->addRow(help);
    layout->addWidget(box);
    layout->addStretch(1);
    return widget;
}

void SettingsDialog::showGlobalBudget(double usd)
{
    if (m_globalBudgetEdited)
        return;
    m_engineGlobalBudget = usd;
    m_showingEngineBudget = true;
    m_globalBudget->setValue(usd);
    m_showingEngineBudget = false;
}

void SettingsDialog::showTab(Tab tab)
{
    m_tabs->setCurrentIndex(int(tab));
}

SettingsDialog::Tab SettingsDialog::currentTab() const
{
    return static_cast<Tab>(m_tabs->currentIndex());
}

void SettingsDialog::load()
{
    const QSettings settings;
    m_providers->load(settings);
    m_concurrency->setValue(cs::value(settings, cs::kConcurrency).toInt());
    m_rpm->setValue(cs::value(settings, cs::kRpm).toInt());
    m_tpm->setValue(cs::value(settings, cs::kTpm).toInt());
    const char *groups[3] = {cs::kGroupSmall, cs::kGroupMedium, cs::kGroupLarge};
    for (int i = 0; i < 3; ++i)
        m_groupSizes[i]->setValue(cs::value(settings, groups[i]).toInt());
    m_mediumDepth->setValue(cs::value(settings, cs::kMediumDepth).toInt());
    m_largeDepth->setValue(cs::value(settings, cs::kLargeDepth).toInt());
    m_batchSize->setValue(cs::value(settings, cs::kBatchSize).toInt());
    m_maxConcurrentBatches->setValue(cs::value(settings, cs::kMaxConcurrentBatches).toInt());
    m_batchMaxWait->setValue(cs::value(settings, cs::kBatchMaxWaitMs).toInt());
    m_offpeakEnabled->setChecked(cs::value(settings, cs::kOffpeakEnabled).toBool());
    m_offpeakStart->setTime(
        QTime::fromString(cs::value(settings, cs::kOffpeakStart).toString(), u"HH:mm"_s));
    m_offpeakEnd->setTime(
        QTime::fromString(cs::value(settings, cs::kOffpeakEnd).toString(), u"HH:mm"_s));
    m_offpeakZone->setCurrentText(cs::value(settings, cs::kOffpeakTimeZone).toString());
    for (QWidget *field :
         {static_cast<QWidget *>(m_offpeakStart), static_cast<QWidget *>(m_offpeakEnd),
          static_cast<QWidget *>(m_offpeakZone)})
        field->setEnabled(m_offpeakEnabled->isChecked());
    m_metricsEnabled->setChecked(cs::value(settings, cs::kMetricsEnabled).toBool());
    m_metricsPort->setValue(cs::value(settings, cs::kMetricsPort).toInt());
    m_webhook->setText(cs::value(settings, cs::kWebhookUrl).toString());
    m_command->setText(cs::value(settings, cs::kAlertCommand).toString());
    m_errorRate->setValue(cs::value(settings, cs::kErrorRatePercent).toDouble());
    m_priorityWait->setValue(cs::value(settings, cs::kPriorityWaitMinutes).toInt());
    m_priority2Wait->setValue(cs::value(settings, cs::kPriority2WaitMinutes).toInt());
    m_priority3Wait->setValue(cs::value(settings, cs::kPriority3WaitHours).toInt());
    m_queueFactor->setValue(cs::value(settings, cs::kQueueDepthFactor).toDouble());
    m_costIncrease->setValue(cs::value(settings, cs::kCostIncreasePercent).toDouble());
    m_noProgress->setValue(cs::value(settings, cs::kNoProgressMinutes).toInt());
    m_budgetWarn->setValue(cs::value(settings, cs::kBudgetWarnPercent).toInt());
}

void SettingsDialog::apply()
{
    // Checked first: nothing is written while a field is wrong.
    QStringList problems;
    const QString webhook = m_webhook->text().trimmed();
    const QUrl webhookUrl(webhook, QUrl::StrictMode);
    if (!webhook.isEmpty() &&
        (!webhookUrl.isValid() ||
         (webhookUrl.scheme() != u"http"_s && webhookUrl.scheme() != u"https"_s) ||
         webhookUrl.host().isEmpty()))
        problems.append(
            tr("Monitoring › Webhook URL: \"%1\" is not an http or https URL").arg(webhook));
    const QString zone = m_offpeakZone->currentText().trimmed();
    if (m_offpeakEnabled->isChecked() && !QTimeZone(zone.toUtf8()).isValid())
        problems.append(tr("Off-peak › Time zone: \"%1\" is not a known time zone").arg(zone));
    if (m_mediumDepth->value() >= m_largeDepth->value())
        problems.append(tr("Lanes › Medium above (%1) must be below Large above (%2)")
                            .arg(m_mediumDepth->value())
                            .arg(m_largeDepth->value()));
    for (ProvidersPage *providers = m_providers; const QString &provider : providers->accounts()) {
        const QString url = providers->baseUrlEdit(provider)->text().trimmed();
        const QUrl parsed(url, QUrl::StrictMode);
        if (!url.isEmpty() &&
            (!parsed.isValid() || (parsed.scheme() != u"http"_s && parsed.scheme() != u"https"_s)))
            problems.append(tr("Providers › %1 base URL: \"%2\" is not an http or https URL")
                                .arg(provider, url));
    }
    if (!problems.isEmpty()) {
        m_error->setText(problems.join(u'\n'));
        m_error->show();
        return;
    }
    m_error->hide();

    QSettings settings;
    const int concurrencyBefore = cs::value(settings, cs::kConcurrency).toInt();
    m_providers->save(settings);
    auto set = [&settings](const char *name, const QVariant &value) {
        settings.setValue(cs::key(name), value);
    };
    set(cs::kConcurrency, m_concurrency->value());
    set(cs::kRpm, m_rpm->value());
    set(cs::kTpm, m_tpm->value());
    set(cs::kGroupSmall, m_groupSizes[0]->value());
    set(cs::kGroupMedium, m_groupSizes[1]->value());
    set(cs::kGroupLarge, m_groupSizes[2]->value());
    set(cs::kMediumDepth, m_mediumDepth->value());
    set(cs::kLargeDepth, m_largeDepth->value());
    set(cs::kBatchSize, m_batchSize->value());
    set(cs::kMaxConcurrentBatches, m_maxConcurrentBatches->value());
    set(cs::kBatchMaxWaitMs, m_batchMaxWait->value());
    set(cs::kOffpeakEnabled, m_offpeakEnabled->isChecked());
    set(cs::kOffpeakStart, m_offpeakStart->time().toString(u"HH:mm"_s));
    set(cs::kOffpeakEnd, m_offpeakEnd->time().toString(u"HH:mm"_s));
    set(cs::kOffpeakTimeZone, zone);
    set(cs::kMetricsEnabled, m_metricsEnabled->isChecked());
    set(cs::kMetricsPort, m_metricsPort->value());
    set(cs::kWebhookUrl, webhook);
    set(cs::kAlertCommand, m_command->text().trimmed());
    set(cs::kErrorRatePercent, m_errorRate->value());
    set(cs::kPriorityWaitMinutes, m_priorityWait->value());
    set(cs::kPriority2WaitMinutes, m_priority2Wait->value());
    set(cs::kPriority3WaitHours, m_priority3Wait->value());
    set(cs::kQueueDepthFactor, m_queueFactor->value());
    set(cs::kCostIncreasePercent, m_costIncrease->value());
    set(cs::kNoProgressMinutes, m_noProgress->value());
    set(cs::kBudgetWarnPercent, m_budgetWarn->value());
    settings.sync();

    applyToEngine(m_engine, settings);
    if (m_prices->isModified())
        m_prices->save();
    if (m_concurrency->value() != concurrencyBefore)
        Q_EMIT concurrencyChanged(m_concurrency->value());
    if (m_globalBudgetEdited && !qFuzzyCompare(1.0 + m_globalBudget->value(), 1.0 + m_engineGlobalBudget)) {
        m_engineGlobalBudget = m_globalBudget->value();
        Q_EMIT globalBudgetChanged(m_globalBudget->value());
    }
    m_globalBudgetEdited = false;
    Q_EMIT applied();
}

void SettingsDialog::applyToEngine(Engine *engine, const QSettings &settings)
{
    engine->setDefaultJobSettings(cs::defaultJobSettings(settings));
    engine->setMonitoring(cs::monitoring(settings));
}

} // namespace bd::ui
