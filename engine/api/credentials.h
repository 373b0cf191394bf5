#pragma once

#include "api/providers.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <functional>

// How a job reaches its provider, worked out in one place for every front end: the base
// URL (the job's own, else OPENAI_BASE_URL / ANTHROPIC_BASE_URL / GEMINI_BASE_URL, else the front end's saved
// setting) and the key (the environment variable, else the OS keychain). The keychain itself
// is not here: a front end injects the lookup (secrets::KeyStore supplies one), so the engine
// API stays free of qtkeychain and D-Bus. Keys stay in memory: never stored, logged or printed.
namespace bd {

// Where a provider's key is looked up first: OPENAI_API_KEY, ANTHROPIC_API_KEY ... (empty
// for providers without a key). The variable, when set, wins over the keychain.
QString apiKeyVariable(const QString &provider);
// Every variable a provider's key may come from, in the order they are tried (gemini:
// GEMINI_API_KEY, then GOOGLE_API_KEY).
QStringList apiKeyVariables(const QString &provider);
// The key from the first of those variables that is set; empty when none is.
QString apiKeyFromEnvironment(const QString &provider);
// OPENAI_BASE_URL, ANTHROPIC_BASE_URL ... (empty for providers without a key).
QString baseUrlVariable(const QString &provider);
// The keychain account a provider's key is stored under: providers that share a key share
// the account (openai, openai-batch and openai-compatible use "openai").
QString keyAccount(const QString &provider);
// One line for a missing key, naming both places it can come from.
QString missingKeyMessage(const QString &provider, const QString &keychainError = {});

// Where a provider's key came from.
struct ResolvedKey
{
    enum class Source
    {
        None,        // neither place has one (or the provider needs none)
        Environment, // OPENAI_API_KEY ...: set, so the keychain was not asked
        Keychain,
    };
    QString key;
    Source source = Source::None;
    QString keychainError; // the keychain was asked and could not answer
};

class CredentialResolver
{
public:
    // answer(key, error) runs exactly once, at once or later on the caller's thread; an entry
    // that does not exist is an empty key with an empty error.
    using KeyAnswer = std::function<void(const QString &key, const QString &error)>;
    using KeychainLookup = std::function<void(const QString &account, KeyAnswer answer)>;
    // The base URL a front end keeps for an account (the console's settings); may be empty.
    using SavedBaseUrl = std::function<QString(const QString &account)>;
    using KeyReady = std::function<void(const ResolvedKey &resolved)>;
    // problem: the missingKeyMessage() when a required key was found nowhere (then the config
    // has no key).
    using ConfigReady = std::function<void(const ProviderConfig &config, const QString &problem)>;

    explicit CredentialResolver(KeychainLookup keychain = {}, SavedBaseUrl savedBaseUrl = {});

    // The job's own URL, else the variable, else the saved one; empty: the provider's default.
    QString baseUrl(const QString &provider, const QString &jobBaseUrl) const;

    // The variable when set; else, when the key is required, the keychain entry. A provider
    // whose key is optional (a local OpenAI-compatible server) gets only the variable: a key
    // kept for OpenAI is not handed to any server a base URL names. done may run at once.
    void resolveKey(const QString &provider, bool keyRequired, KeyReady done) const;

    // The whole config a job starts with: provider id, base URL, settings and key.
    void resolve(const QString &provider, const QString &jobBaseUrl, const QJsonObject &settings,
                 bool keyRequired, ConfigReady ready) const;

private:
    KeychainLookup m_keychain;
    SavedBaseUrl m_savedBaseUrl;
};

} // namespace bd
