#include "provider.h"

#include "simulatorprovider.h"

namespace bd::providers {

using namespace Qt::StringLiterals;

QStringList providerIds()
{
    return {u"simulator"_s};
}

std::unique_ptr<Provider> createProvider(const ProviderConfig &config, Clock *clock,
                                         QString *error)
{
    if (config.id == u"simulator"_s)
        return std::make_unique<SimulatorProvider>(config, clock);
    *error = u"unknown provider '%1' (known: %2)"_s.arg(config.id, providerIds().join(u", "_s));
    return nullptr;
}

} // namespace bd::providers
