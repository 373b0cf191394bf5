#include "providerconfig.h"

#include "api/credentials.h"
#include "api/engine.h"
#include "keystore.h"

#include <QSettings>
#include <QPointer>
#include <QTimer>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

// The console's saved endpoint for an account (Settings › Providers).
QString savedBaseUrl(const QString &account)
{
    return QSettings().value(u"providers/%1/base_url"_s.arg(account)).toString().trimmed();
}

} // namespace

QString providerBaseUrl(const JobSpec &spec)
{
    return CredentialResolver({}, savedBaseUrl).baseUrl(spec.provider, spec.baseUrl);
}

void resolveProviderConfig(const JobSpec &spec, QObject *context, ProviderConfigReady ready)
{
    const auto info = providerInfo(spec.provider);
    // The key store answers later on this thread; it lives until it has answered (or the
    // context goes), and ready never runs after the context is gone.
    auto *keyStore = new secrets::KeyStore(context);
    QPointer<QObject> guard(context);
    CredentialResolver(keyStore->keychainLookup(), savedBaseUrl)
        .resolve(spec.provider, spec.baseUrl, spec.settings, info && info->requiresKey,
                 [keyStore, guard, ready](const ProviderConfig &config, const QString &problem) {
                     // The resolver may answer at once: hand the answer to the event loop so
                     // that callers always hear back later, as documented.
                     QTimer::singleShot(0, keyStore, [keyStore, guard, ready, config, problem] {
                         keyStore->deleteLater();
                         if (guard)
                             ready(config, problem);
                     });
                 });
}

} // namespace bd::ui
