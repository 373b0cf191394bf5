#pragma once

#include <QObject>
#include <QString>

#include <functional>

namespace bd::secrets {

// Provider API keys in the OS keychain (the freedesktop Secret Service through qtkeychain:
// GNOME Keyring, KWallet, KeePassXC ...). Every call returns at once; its callback runs
// later on the calling thread. Keys are never written anywhere else: no settings file, no
// database, no log. A machine without a keychain answers with an error, and callers fall
// back to the environment.
class KeyStore final : public QObject
{
    Q_OBJECT

public:
    explicit KeyStore(QObject *parent = nullptr);

    // The keychain entry is (service, account) = ("BatchDesk", provider id).
    static QString serviceName();

    using ReadDone = std::function<void(const QString &key, const QString &error)>;
    using Done = std::function<void(const QString &error)>;

    // An entry that does not exist is an empty key with an empty error.
    void readKey(const QString &provider, ReadDone done);
    void writeKey(const QString &provider, const QString &key, Done done);
    // Deleting an entry that does not exist is not an error.
    void deleteKey(const QString &provider, Done done);
};

// Where a provider's key is looked up first: OPENAI_API_KEY, ANTHROPIC_API_KEY ... (empty
// for providers without a key). The variable, when set, wins over the keychain.
QString apiKeyVariable(const QString &provider);
// The keychain account a provider's key is stored under: providers that share a key share
// the account (openai, openai-batch and openai-compatible use "openai").
QString keyAccount(const QString &provider);

} // namespace bd::secrets
