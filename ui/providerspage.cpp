#include "providerspage.h"

#include "consolesettings.h"
#include "api/engine.h"
#include "keystore.h"

#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

QString defaultBaseUrl(const QString &provider)
{
    if (provider == u"openai"_s)
        return u"https://api.openai.com/v1"_s;
    if (provider == u"anthropic"_s)
        return u"https://api.anthropic.com"_s;
    if (provider == u"gemini"_s)
        return u"https://generativelanguage.googleapis.com"_s;
    return u"http://127.0.0.1:11434/v1"_s;
}

QString displayName(const QString &provider)
{
    if (provider == u"openai"_s)
        return u"OpenAI"_s;
    if (provider == u"anthropic"_s)
        return u"Anthropic"_s;
    if (provider == u"gemini"_s)
        return u"Google Gemini"_s;
    if (provider == u"openai-compatible"_s)
        return ProvidersPage::tr("OpenAI-compatible server");
    return provider;
}
} // namespace

ProvidersPage::ProvidersPage(Engine *engine, secrets::KeyStore *keyStore, QWidget *parent)
    : QWidget(parent)
    , m_engine(engine)
    , m_keyStore(keyStore)
{
    auto *layout = new QVBoxLayout(this);
    // One box per keychain account: providers that share a key share the box.
    QHash<QString, QStringList> byAccount;
    for (const QString &provider : consolesettings::configurableProviders()) {
        const QString account = keyAccount(provider);
        if (!byAccount.contains(account))
            m_order.append(provider);
        byAccount[account].append(provider);
    }
    for (const QString &provider : std::as_const(m_order)) {
        const QStringList sharing = byAccount.value(keyAccount(provider));
        QStringList names;
        for (const QString &id : sharing)
            names.append(displayName(id));
        auto *box = new QGroupBox(names.join(u" / "_s), this);
        auto *form = new QFormLayout(box);
        Row row;
        row.provider = provider;
        row.baseUrl = new QLineEdit(box);
        row.baseUrl->setObjectName(u"baseUrl_"_s + provider);
        row.baseUrl->setPlaceholderText(defaultBaseUrl(provider));
        row.baseUrl->setClearButtonEnabled(true);
        form->addRow(tr("Base URL:"), row.baseUrl);

        row.keyStatus = new QLabel(box);
        row.keyStatus->setObjectName(u"keyStatus_"_s + provider);
        form->addRow(tr("API key:"), row.keyStatus);
        auto *keyRow = new QHBoxLayout;
        row.key = new QLineEdit(box);
        row.key->setObjectName(u"key_"_s + provider);
        row.key->setEchoMode(QLineEdit::Password);
        row.key->setPlaceholderText(tr("paste a new key to store or test"));
        row.storeKey = new QPushButton(tr("Store in keychain"), box);
        row.removeKey = new QPushButton(tr("Remove"), box);
        row.storeKey->setObjectName(u"storeKey_"_s + provider);
        row.removeKey->setObjectName(u"removeKey_"_s + provider);
        keyRow->addWidget(row.key, 1);
        keyRow->addWidget(row.storeKey);
        keyRow->addWidget(row.removeKey);
        form->addRow(QString(), keyRow);

        auto *testRow = new QHBoxLayout;
        row.test = new QPushButton(tr("Test connection"), box);
        row.test->setObjectName(u"test_"_s + provider);
        row.result = new QLabel(box);
        row.result->setObjectName(u"testResult_"_s + provider);
        row.result->setWordWrap(true);
        row.result->setTextInteractionFlags(Qt::TextSelectableByMouse);
        testRow->addWidget(row.test);
        testRow->addWidget(row.result, 1);
        form->addRow(QString(), testRow);
        layout->addWidget(box);

        connect(row.storeKey, &QPushButton::clicked, this,
                [this, provider] { storeKey(*rowFor(provider)); });
        connect(row.removeKey, &QPushButton::clicked, this,
                [this, provider] { removeKey(*rowFor(provider)); });
        connect(row.test, &QPushButton::clicked, this,
                [this, provider] { testConnection(provider); });
        connect(row.key, &QLineEdit::textChanged, this,
                [this, provider] { updateKeyStatus(*rowFor(provider)); });
        m_rows.insert(provider, row);
    }
    auto *note =
        new QLabel(tr("Keys are kept in the OS keychain (Secret Service), never in a file. "
                      "An environment variable, when set, is used instead."),
                   this);
    note->setWordWrap(true);
    note->setForegroundRole(QPalette::PlaceholderText);
    layout->addWidget(note);
    layout->addStretch(1);

    connect(m_engine, &Engine::connectionTested, this, &ProvidersPage::handleConnectionTested);
    for (const QString &provider : std::as_const(m_order))
        readStoredKey(*rowFor(provider));
}

ProvidersPage::Row *ProvidersPage::rowFor(const QString &provider)
{
    auto it = m_rows.find(provider);
    return it == m_rows.end() ? nullptr : &it.value();
}

const ProvidersPage::Row *ProvidersPage::rowFor(const QString &provider) const
{
    auto it = m_rows.constFind(provider);
    return it == m_rows.cend() ? nullptr : &it.value();
}

QLineEdit *ProvidersPage::baseUrlEdit(const QString &provider) const
{
    const Row *row = rowFor(provider);
    return row ? row->baseUrl : nullptr;
}

QLineEdit *ProvidersPage::keyEdit(const QString &provider) const
{
    const Row *row = rowFor(provider);
    return row ? row->key : nullptr;
}

QString ProvidersPage::keyStatus(const QString &provider) const
{
    const Row *row = rowFor(provider);
    return row ? row->keyStatus->text() : QString();
}

QString ProvidersPage::testResult(const QString &provider) const
{
    const Row *row = rowFor(provider);
    return row ? row->result->text() : QString();
}

void ProvidersPage::load(const QSettings &settings)
{
    for (Row &row : m_rows)
        row.baseUrl->setText(settings.value(consolesettings::baseUrlKey(row.provider)).toString());
}

void ProvidersPage::save(QSettings &settings) const
{
    for (const Row &row : m_rows) {
        const QString url = row.baseUrl->text().trimmed();
        if (url.isEmpty())
            settings.remove(consolesettings::baseUrlKey(row.provider));
        else
            settings.setValue(consolesettings::baseUrlKey(row.provider), url);
    }
}

void ProvidersPage::readStoredKey(Row &row)
{
    if (!m_keyStore) {
        row.keychainRead = true;
        row.keychainError = tr("no keychain");
        updateKeyStatus(row);
        return;
    }
    row.keyStatus->setText(tr("reading the keychain…"));
    m_keyStore->readKey(row.provider,
                        [this, provider = row.provider](const QString &key, const QString &error) {
                            Row *current = rowFor(provider);
                            if (!current)
                                return;
                            current->storedKey = key;
                            current->keychainError = error;
                            current->keychainRead = true;
                            updateKeyStatus(*current);
                        });
}

void ProvidersPage::updateKeyStatus(Row &row)
{
    QString variable = apiKeyVariable(row.provider);
    for (const QString &candidate : apiKeyVariables(row.provider)) {
        if (!qEnvironmentVariableIsEmpty(candidate.toLatin1().constData())) {
            // The one a run would take (gemini: GOOGLE_API_KEY after GEMINI_API_KEY).
            variable = candidate;
            break;
        }
    }
    const bool fromEnvironment =
        !variable.isEmpty() && qEnvironmentVariableIsSet(variable.toLatin1().constData());
    QString status;
    if (fromEnvironment)
        status = tr("from %1").arg(variable);
    else if (!row.keychainRead)
        status = tr("reading the keychain…");
    else if (!row.storedKey.isEmpty())
        status = tr("stored in keychain");
    else if (row.keychainError.isEmpty() || !m_keyStore)
        status = row.keychainError.isEmpty() ? tr("none") : tr("none (%1)").arg(row.keychainError);
    else
        status = tr("none (keychain unavailable)");
    row.keyStatus->setToolTip(row.keychainError);
    if (!row.key->text().isEmpty())
        status += tr(" — a new key is typed, not stored yet");
    row.keyStatus->setText(status);
    row.storeKey->setEnabled(m_keyStore && !row.key->text().isEmpty());
    row.removeKey->setEnabled(m_keyStore && !row.storedKey.isEmpty());
}

void ProvidersPage::storeKey(Row &row)
{
    const QString key = row.key->text().trimmed();
    if (!m_keyStore || key.isEmpty())
        return;
    row.storeKey->setEnabled(false);
    m_keyStore->writeKey(row.provider, key,
                         [this, provider = row.provider, key](const QString &error) {
                             Row *current = rowFor(provider);
                             if (!current)
                                 return;
                             if (error.isEmpty()) {
                                 current->storedKey = key;
                                 current->keychainError.clear();
                                 current->key->clear();
                             } else {
                                 current->result->setText(tr("Not stored: %1").arg(error));
                             }
                             updateKeyStatus(*current);
                         });
}

void ProvidersPage::removeKey(Row &row)
{
    if (!m_keyStore)
        return;
    m_keyStore->deleteKey(row.provider, [this, provider = row.provider](const QString &error) {
        Row *current = rowFor(provider);
        if (!current)
            return;
        if (error.isEmpty())
            current->storedKey.clear();
        else
            current->result->setText(tr("Not removed: %1").arg(error));
        updateKeyStatus(*current);
    });
}

void ProvidersPage::testConnection(const QString &provider)
{
    Row *row = rowFor(provider);
    if (!row)
        return;
    // The key that would be used: one typed here, else the environment, else the keychain.
    ProviderConfig config;
    config.id = provider;
    config.baseUrl = row->baseUrl->text().trimmed();
    config.apiKey = row->key->text().trimmed();
    const QString variable = apiKeyVariable(provider);
    if (config.apiKey.isEmpty() && !variable.isEmpty())
        config.apiKey = apiKeyFromEnvironment(provider);
    if (config.apiKey.isEmpty())
        config.apiKey = row->storedKey;
    m_testing = provider;
    row->test->setEnabled(false);
    row->result->setText(tr("Connecting…"));
    m_engine->testConnection(config);
}

void ProvidersPage::handleConnectionTested(const QString &providerId, const QStringList &models,
                                           const QString &error)
{
    Row *row = rowFor(providerId);
    if (!row)
        return;
    row->test->setEnabled(true);
    if (!error.isEmpty()) {
        row->result->setText(tr("Failed: %1").arg(error));
        row->result->setToolTip(QString());
        Q_EMIT connectionTestFinished(providerId, false);
        return;
    }
    QStringList shown = models.mid(0, 4);
    if (models.size() > shown.size())
        shown.append(tr("…"));
    const QString count = models.size() == 1 ? tr("1 model") : tr("%1 models").arg(models.size());
    row->result->setText(tr("Connected: %1 (%2)").arg(count, shown.join(u", "_s)));
    row->result->setToolTip(models.join(u'\n'));
    Q_EMIT connectionTestFinished(providerId, true);
}

} // namespace bd::ui
