#pragma once

#include "api/types.h"
#include "api/providers.h"

#include <functional>

class QObject;

namespace bd::ui {

// How the console reaches a job's provider. The key comes from the environment
// (OPENAI_API_KEY, ANTHROPIC_API_KEY ...) when set, else from the OS keychain — asked
// asynchronously, so the GUI thread never waits on D-Bus. A provider whose key is optional
// (a local OpenAI-compatible server) gets only the variable. Keys stay in memory.
//
// ready runs later on context's thread with the config and, when a required key was found
// nowhere, a one-line problem naming both places (the config then has no key). Nothing
// runs if context is destroyed first.
using ProviderConfigReady =
    std::function<void(const ProviderConfig &config, const QString &problem)>;
void resolveProviderConfig(const JobSpec &spec, QObject *context, ProviderConfigReady ready);

// The endpoint: the job's own base URL, else OPENAI_BASE_URL / ANTHROPIC_BASE_URL, else the
// settings value providers/<account>/base_url (account: openai, anthropic); empty means the
// provider's default.
QString providerBaseUrl(const JobSpec &spec);

} // namespace bd::ui
