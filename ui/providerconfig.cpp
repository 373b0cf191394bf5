#include "providerconfig.h"

namespace bd::ui {

using namespace Qt::StringLiterals;

QString apiKeyVariable(const QString &provider)
{
    if (provider == u"openai"_s || provider == u"openai-compatible"_s || provider == u"openai-batch"_s)
        return u"OPENAI_API_KEY"_s;
    if (provider.startsWith(u"anthropic"_s))
        return u"ANTHROPIC_API_KEY"_s;
    return {};
}

providers::ProviderConfig providerConfigFor(const JobSpec &spec)
{
    providers::ProviderConfig config;
    config.id = spec.provider;
    config.baseUrl = spec.baseUrl;
    config.settings = spec.settings;
    const QString keyVariable = apiKeyVariable(spec.provider);
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
