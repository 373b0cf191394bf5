#pragma once

#include "core/types.h"
#include "providers/provider.h"

namespace bd::ui {

// How the console reaches a job's provider: the stored settings plus, for real providers,
// the key and base URL from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...) until
// the settings dialog keeps keys in the OS keychain. Keys stay in memory.
providers::ProviderConfig providerConfigFor(const JobSpec &spec);

} // namespace bd::ui
