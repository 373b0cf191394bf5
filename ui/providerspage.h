#pragma once

#include <QHash>
#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QSettings;

namespace bd {
class Engine;
}
namespace bd::secrets {
class KeyStore;
}

namespace bd::ui {

// Settings › Providers: per keychain account (OpenAI and OpenAI-compatible servers share
// one), the base URL, where the API key comes from (environment, keychain, none) with
// store and remove, and "Test connection" through the engine (GET /v1/models). A stored
// key is never shown; a typed one stays in the field as dots until it is stored or tested.
class ProvidersPage final : public QWidget
{
    Q_OBJECT

public:
    // keyStore may be null (no keychain): keys then come from the environment only.
    ProvidersPage(Engine *engine, secrets::KeyStore *keyStore, QWidget *parent = nullptr);

    void load(const QSettings &settings);
    void save(QSettings &settings) const;

    // The first provider of each account, as the page shows them.
    QStringList accounts() const { return m_order; }
    QLineEdit *baseUrlEdit(const QString &provider) const;
    QLineEdit *keyEdit(const QString &provider) const;
    QString keyStatus(const QString &provider) const;
    QString testResult(const QString &provider) const;
    void testConnection(const QString &provider);

Q_SIGNALS:
    void connectionTestFinished(const QString &provider, bool ok);

private:
    struct Row
    {
        QString provider; // the one tested; others of the account are named in the title
        QLineEdit *baseUrl = nullptr;
        QLabel *keyStatus = nullptr;
        QLineEdit *key = nullptr;
        QPushButton *storeKey = nullptr;
        QPushButton *removeKey = nullptr;
        QPushButton *test = nullptr;
        QLabel *result = nullptr;
        QString storedKey; // read from the keychain, kept in memory only for tests
        QString keychainError;
        bool keychainRead = false;
    };

    Row *rowFor(const QString &provider);
    const Row *rowFor(const QString &provider) const;
    void readStoredKey(Row &row);
    void updateKeyStatus(Row &row);
    void storeKey(Row &row);
    void removeKey(Row &row);
    void handleConnectionTested(const QString &providerId, const QStringList &models,
                                const QString &error);

    Engine *m_engine;
    secrets::KeyStore *m_keyStore;
    QStringList m_order;
    QHash<QString, Row> m_rows; // by the provider tested
    QString m_testing;          // provider whose test is under way
};

} // namespace bd::ui
