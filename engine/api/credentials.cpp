#include "credentials.h"

namespace bd {

using namespace Qt::StringLiterals;

namespace {

QString environment(const QString &variable)
{
    return variable.isEmpty() ? QString() : qEnvironmentVariable(variable.toLatin1().constData());
}

} // namespace

QString apiKeyVariable(const QString &provider)
{
    if (provider == u"openai"_s || provider == u"openai-compatible"_s || provider == u"openai-batch"_s)
        return u"OPENAI_API_KEY"_s;
    if (provider.startsWith(u"anthropic"_s))
        return u"ANTHROPIC_API_KEY"_s;
    if (provider == u"gemini"_s)
        return u"GEMINI_API_KEY"_s;
    return {};
}

QStringList apiKeyVariables(const QString &provider)
{
    const QString variable = apiKeyVariable(provider);
    if (variable.isEmpty())
        return {};
    // Google's own tools read GOOGLE_API_KEY as well; GEMINI_API_KEY wins when both are set.
    if (provider == u"gemini"_s)
        return {variable, u"GOOGLE_API_KEY"_s};
    return {variable};
}

QString apiKeyFromEnvironment(const QString &provider)
{
    for (const QString &variable : apiKeyVariables(provider)) {
        if (const QString value = environment(variable); !value.isEmpty())
            return value;
    }
    return {};
}

QString baseUrlVariable(const QString &provider)
{
    const QString variable = apiKeyVariable(provider);
    if (variable.isEmpty())
        return {};
    return variable.left(variable.indexOf(u'_')) + u"_BASE_URL"_s;
}

QString keyAccount(const QString &provider)
{
    const QString variable = apiKeyVariable(provider);
    if (variable.isEmpty())
        return provider;
    return variable.left(variable.indexOf(u'_')).toLower();
}

QString missingKeyMessage(const QString &provider, const QString &keychainError)
{
    QString message = u"provider %1 needs an API key: set %2 or store one with `batchctl key set %3`"_s
                          .arg(provider, apiKeyVariable(provider), keyAccount(provider));
    if (!keychainError.isEmpty())
        message += u" (%1)"_s.arg(keychainError);
    return message;
}

CredentialResolver::CredentialResolver(KeychainLookup keychain, SavedBaseUrl savedBaseUrl)
    : m_keychain(std::move(keychain))
    , m_savedBaseUrl(std::move(savedBaseUrl))
{
}

QString CredentialResolver::baseUrl(const QString &provider, const QString &jobBaseUrl) const
{
    if (!jobBaseUrl.isEmpty())
        return jobBaseUrl;
    const QString variable = baseUrlVariable(provider);
    if (variable.isEmpty())
        return {};
    if (const QString fromEnvironment = environment(variable); !fromEnvironment.isEmpty())
        return fromEnvironment;
    return m_savedBaseUrl ? m_savedBaseUrl(keyAccount(provider)).trimmed() : QString();
}

void CredentialResolver::resolveKey(const QString &provider, bool keyRequired, KeyReady done) const
{
    ResolvedKey resolved;
    resolved.key = apiKeyFromEnvironment(provider);
    if (!resolved.key.isEmpty())
        resolved.source = ResolvedKey::Source::Environment;
    if (!resolved.key.isEmpty() || !keyRequired || apiKeyVariable(provider).isEmpty()) {
        done(resolved);
        return;
    }
    if (!m_keychain) {
        resolved.keychainError = u"OS keychain not available here"_s;
        done(resolved);
        return;
    }
    m_keychain(keyAccount(provider), [done](const QString &key, const QString &error) {
        ResolvedKey fromKeychain;
        fromKeychain.key = key;
        fromKeychain.source = key.isEmpty() ? ResolvedKey::Source::None : ResolvedKey::Source::Keychain;
        fromKeychain.keychainError = error;
        done(fromKeychain);
    });
}

void CredentialResolver::resolve(const QString &provider, const QString &jobBaseUrl,
                                 const QJsonObject &settings, bool keyRequired,
                                 ConfigReady ready) const
{
    ProviderConfig config;
    config.id = provider;
    config.baseUrl = baseUrl(provider, jobBaseUrl);
    config.settings = settings;
    resolveKey(provider, keyRequired, [config, keyRequired, ready](const ResolvedKey &resolved) mutable {
        config.apiKey = resolved.key;
        const bool missing = keyRequired && resolved.key.isEmpty() && !apiKeyVariable(config.id).isEmpty();
        ready(config, missing ? missingKeyMessage(config.id, resolved.keychainError) : QString());
    });
}

} // namespace bd
