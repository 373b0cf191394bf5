#include "providerconfig.h"

#include "api/engine.h"
#include "keystore.h"

#include <QSettings>
#include <QTimer>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

bool keyRequired(const QString &provider)
{
    const QList<ProviderInfo> providers = availableProviders();
    return std::any_of(providers.cbegin(), providers.cend(), [&](const ProviderInfo &info) {
        return info.id == provider && info.requiresKey;
    });
}

} // namespace

QString providerBaseUrl(const JobSpec &spec)
{
    if (!spec.baseUrl.isEmpty())
        return spec.baseUrl;
    const QString variable = baseUrlVariable(spec.provider);
    if (variable.isEmpty())
        return {};
    const QString fromEnvironment = qEnvironmentVariable(variable.toLatin1().constData());
    if (!fromEnvironment.isEmpty())
        return fromEnvironment;
    return QSettings()
        .value(u"providers/%1/base_url"_s.arg(keyAccount(spec.provider)))
        .toString()
        .trimmed();
}

void resolveProviderConfig(const JobSpec &spec, QObject *context, ProviderConfigReady ready)
{
    ProviderConfig config;
    config.id = spec.provider;
    config.baseUrl = providerBaseUrl(spec);
    config.settings = spec.settings;
    const QString variable = apiKeyVariable(spec.provider);
    if (variable.isEmpty() || !keyRequired(spec.provider)) {
        if (!variable.isEmpty())
            config.apiKey = qEnvironmentVariable(variable.toLatin1().constData());
        QTimer::singleShot(0, context, [config, ready] { ready(config, {}); });
        return;
    }
    auto *keyStore = new secrets::KeyStore(context);
    keyStore->resolveKey(
        spec.provider,
        [keyStore, config, ready](const secrets::KeyStore::ResolvedKey &resolved) mutable {
            keyStore->deleteLater();
            config.apiKey = resolved.key;
            ready(config, resolved.key.isEmpty()
                              ? missingKeyMessage(config.id, resolved.keychainError)
                              : QString());
        });
}

} // namespace bd::ui
