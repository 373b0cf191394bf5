#pragma once

#include <QJsonObject>
#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

namespace bd {

// How a job reaches its provider. The key is held in memory only: never stored, logged or
// exported.
struct ProviderConfig
{
    // simulator | openai | anthropic | openai-compatible | gemini
    QString id = QStringLiteral("simulator");
    QString baseUrl;
    QString apiKey;
    QJsonObject settings; // provider-specific knobs (simulator: latency_ms, failure_rate, rpm)
};

// What a provider offers, for pickers and checks (no network).
struct ProviderInfo
{
    QString id;
    QString displayName;
    QString defaultModel;
    QStringList knownModels; // empty: any name the server serves (a local server)
    bool hasBatchApi = false;
    bool requiresKey = false;
    bool simulated = false;
    // The user must name the model (a local server serves whatever it has loaded).
    bool needsModelName = false;
};

} // namespace bd

Q_DECLARE_METATYPE(bd::ProviderConfig)
