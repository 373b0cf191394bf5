#include "keystore.h"

#include <QFileInfo>
#include <QTimer>

#include <memory>
#include <qt6keychain/keychain.h>
#include <utility>

namespace bd::secrets {

using namespace Qt::StringLiterals;

namespace {

QString describe(QKeychain::Job *job)
{
    return u"OS keychain: %1"_s.arg(job->errorString());
}

// Runs one keychain job; qtkeychain deletes it after finished() (autoDelete). Exactly one
// of finish(job) and fail(message) runs: whichever comes first of the job's answer and the
// timeout.
template<typename JobType, typename Finish>
void runJob(JobType *job, QObject *context, int timeoutMs, Finish finish,
            std::function<void(const QString &)> fail)
{
    job->setAutoDelete(true);
    // Never fall back to a plain-text settings file: a key stays in the keychain or nowhere.
    job->setInsecureFallback(false);
    auto answered = std::make_shared<bool>(false);
    const QString unavailable = KeyStore::unavailableReason();
    if (!unavailable.isEmpty()) {
        delete job; // never started, so never deletes itself
        QTimer::singleShot(0, context, [fail, unavailable] { fail(unavailable); });
        return;
    }
    QObject::connect(job, &QKeychain::Job::finished, context,
                     [job, answered, finish = std::move(finish)](QKeychain::Job *) {
                         if (!std::exchange(*answered, true))
                             finish(job);
                     });
    QTimer::singleShot(timeoutMs, context, [answered, fail, timeoutMs] {
        if (!std::exchange(*answered, true))
            fail(u"OS keychain: no answer within %1 s"_s.arg(double(timeoutMs) / 1000.0));
    });
    job->start();
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

QString KeyStore::unavailableReason()
{
    // Without a session bus the Secret Service cannot exist; asking would only try D-Bus
    // autolaunch. $XDG_RUNTIME_DIR/bus is where systemd puts the bus when the variable is
    // not exported.
    if (!qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS"))
        return {};
    const QString runtimeDir = qEnvironmentVariable("XDG_RUNTIME_DIR");
    if (!runtimeDir.isEmpty() && QFileInfo(runtimeDir + u"/bus"_s).exists())
        return {};
    return u"OS keychain unavailable: no D-Bus session bus"_s;
}

void KeyStore::readKey(const QString &provider, ReadDone done)
{
    auto *job = new QKeychain::ReadPasswordJob(serviceName());
    job->setKey(keyAccount(provider));
    runJob(
        job, this, m_timeoutMs,
        [done](QKeychain::ReadPasswordJob *finished) {
            if (finished->error() == QKeychain::EntryNotFound)
                done({}, {});
            else if (finished->error() != QKeychain::NoError)
                done({}, describe(finished));
            else
                done(finished->textData(), {});
        },
        [done](const QString &error) { done({}, error); });
}

void KeyStore::writeKey(const QString &provider, const QString &key, Done done)
{
    auto *job = new QKeychain::WritePasswordJob(serviceName());
    job->setKey(keyAccount(provider));
    job->setTextData(key);
    runJob(
        job, this, m_timeoutMs,
        [done](QKeychain::WritePasswordJob *finished) {
            done(finished->error() == QKeychain::NoError ? QString() : describe(finished));
        },
        done);
}

void KeyStore::deleteKey(const QString &provider, Done done)
{
    auto *job = new QKeychain::DeletePasswordJob(serviceName());
    job->setKey(keyAccount(provider));
    runJob(
        job, this, m_timeoutMs,
        [done](QKeychain::DeletePasswordJob *finished) {
            const bool ok = finished->error() == QKeychain::NoError
                            || finished->error() == QKeychain::EntryNotFound;
            done(ok ? QString() : describe(finished));
        },
        done);
}

void KeyStore::resolveKey(const QString &provider, ResolveDone done)
{
    // Answered later, never inside the call, as every other KeyStore call.
    CredentialResolver(keychainLookup())
        .resolveKey(provider, true, [this, done](const ResolvedKey &resolved) {
            QTimer::singleShot(0, this, [done, resolved] { done(resolved); });
        });
}

CredentialResolver::KeychainLookup KeyStore::keychainLookup()
{
    return [this](const QString &account, CredentialResolver::KeyAnswer answer) {
        readKey(account, std::move(answer));
    };
}

} // namespace bd::secrets
