#include "keystore.h"

#include <qt6keychain/keychain.h>

namespace bd::secrets {

using namespace Qt::StringLiterals;

namespace {

// Runs one keychain job; qtkeychain deletes it after finished() (autoDelete).
template<typename JobType, typename Finish>
void runJob(JobType *job, QObject *context, Finish finish)
{
    job->setAutoDelete(true);
    // Never fall back to a plain-text settings file: a key stays in the keychain or nowhere.
    job->setInsecureFallback(false);
    QObject::connect(job, &QKeychain::Job::finished, context,
                     [job, finish = std::move(finish)](QKeychain::Job *) { finish(job); });
    job->start();
}

QString describe(QKeychain::Job *job)
{
    return u"OS keychain: %1"_s.arg(job->errorString());
}

} // namespace

KeyStore::KeyStore(QObject *parent)
    : QObject(parent)
{
}

QString KeyStore::serviceName()
{
    return u"BatchDesk"_s;
}

QString apiKeyVariable(const QString &provider)
{
    if (provider == u"openai"_s || provider == u"openai-compatible"_s || provider == u"openai-batch"_s)
        return u"OPENAI_API_KEY"_s;
    if (provider.startsWith(u"anthropic"_s))
        return u"ANTHROPIC_API_KEY"_s;
    return {};
}

QString keyAccount(const QString &provider)
{
    const QString variable = apiKeyVariable(provider);
    if (variable.isEmpty())
        return provider;
    return variable.left(variable.indexOf(u'_')).toLower();
}

void KeyStore::readKey(const QString &provider, ReadDone done)
{
    auto *job = new QKeychain::ReadPasswordJob(serviceName());
    job->setKey(keyAccount(provider));
    runJob(job, this, [done = std::move(done)](QKeychain::ReadPasswordJob *finished) {
        if (finished->error() == QKeychain::EntryNotFound)
            done({}, {});
        else if (finished->error() != QKeychain::NoError)
            done({}, describe(finished));
        else
            done(finished->textData(), {});
    });
}

void KeyStore::writeKey(const QString &provider, const QString &key, Done done)
{
    auto *job = new QKeychain::WritePasswordJob(serviceName());
    job->setKey(keyAccount(provider));
    job->setTextData(key);
    runJob(job, this, [done = std::move(done)](QKeychain::WritePasswordJob *finished) {
        done(finished->error() == QKeychain::NoError ? QString() : describe(finished));
    });
}

void KeyStore::deleteKey(const QString &provider, Done done)
{
    auto *job = new QKeychain::DeletePasswordJob(serviceName());
    job->setKey(keyAccount(provider));
    runJob(job, this, [done = std::move(done)](QKeychain::DeletePasswordJob *finished) {
        const bool ok = finished->error() == QKeychain::NoError
                        || finished->error() == QKeychain::EntryNotFound;
        done(ok ? QString() : describe(finished));
    });
}

} // namespace bd::secrets
