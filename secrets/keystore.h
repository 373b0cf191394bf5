#pragma once

#include "api/credentials.h"

#include <QObject>
#include <QString>

#include <functional>

namespace bd::secrets {

// Provider API keys in the OS keychain (the freedesktop Secret Service through qtkeychain:
// GNOME Keyring, KWallet, KeePassXC ...). Every call returns at once; its callback runs
// later, exactly once, on the calling thread. Keys are never written anywhere else: no
// settings file, no database, no log. A machine without a keychain answers with an error
// (at once when there is no session bus, else within timeoutMs()), and callers fall back
// to the environment.
class KeyStore final : public QObject
{
    Q_OBJECT

public:
    explicit KeyStore(QObject *parent = nullptr);

    // The keychain entry is (service, account) = ("BatchDesk", keyAccount(provider)).
    static QString serviceName();

    using ReadDone = std::function<void(const QString &key, const QString &error)>;
    using Done = std::function<void(const QString &error)>;

    // An entry that does not exist is an empty key with an empty error.
    void readKey(const QString &provider, ReadDone done);
    void writeKey(const QString &provider, const QString &key, Done done);
    // Deleting an entry that does not exist is not an error.
    void deleteKey(const QString &provider, Done done);

    // How long a keychain call may take before it is answered with an error: a Secret
    // Service that is registered but never answers must not hold a run for D-Bus's 25 s.
    int timeoutMs() const { return m_timeoutMs; }
    void setTimeoutMs(int ms) { m_timeoutMs = ms; }

    // Why there is certainly no keychain to ask (no D-Bus session bus), or empty.
    static QString unavailableReason();

    using ResolvedKey = bd::ResolvedKey;
    using ResolveDone = std::function<void(const ResolvedKey &resolved)>;
    // The key a run uses: the environment variable when set, else the keychain entry
    // (bd::CredentialResolver over this key store).
    void resolveKey(const QString &provider, ResolveDone done);

    // This key store as the keychain a bd::CredentialResolver asks. The lookup must not
    // outlive the key store.
    CredentialResolver::KeychainLookup keychainLookup();

private:
    int m_timeoutMs = 5'000;
};

} // namespace bd::secrets
