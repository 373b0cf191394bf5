#include "providerconfig.h"

#include "keystore.h"

namespace bd::ui {

using namespace Qt::StringLiterals;

providers::ProviderConfig providerConfigFor(const JobSpec &spec)
{
    providers::ProviderConfig config;
    config.id = spec.provider;
    config.baseUrl = spec.baseUrl;
    config.settings = spec.settings;
    const QString keyVariable = secrets::apiKeyVariable(spec.provider);
    if (!keyVariable.isEmpty()) {
        config.apiKey = qEnvironmentVariable(keyVariable.toLatin1().constData());
        if (config.baseUrl.isEmpty()) {
            const QString urlVariable = keyVariable.left(keyVariable.indexOf(u'_')) + u"_BASE_URL"_s;
            config.baseUrl = qEnvironmentVariable(urlVariable.toLatin1().constData());
        }
    }
    return config;
}

} // namespace bd::ui
