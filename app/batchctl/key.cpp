#include "api/credentials.h"
#include "cli.h"
#include "commands.h"
#include "keystore.h"

#include <QEventLoop>
#include <QJsonArray>

#include <csignal>
#include <cstdio>
#include <termios.h>
#include <unistd.h>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

// `key set|delete|status`: provider keys in the OS keychain. A key is read from stdin
// (without echo on a terminal), never from the command line, and never printed.
QString keyProviderArgument(const QString &name)
{
    if (bd::apiKeyVariable(name).isEmpty())
        throw UsageError{u"'%1' takes no API key (key providers: openai, anthropic, gemini)"_s.arg(name)};
    return bd::keyAccount(name);
}

// The terminal as it was before echo went off; Ctrl-C during the prompt restores it.
termios s_echoingTerminal = {};

QString readKeyFromStdin(const QString &account)
{
    const bool terminal = ::isatty(STDIN_FILENO);
    struct sigaction previous = {};
    if (terminal) {
        std::fputs(qPrintable(u"API key for %1 (not shown): "_s.arg(account)), stderr);
        std::fflush(stderr);
        ::tcgetattr(STDIN_FILENO, &s_echoingTerminal);
        struct sigaction restore = {};
        restore.sa_handler = [](int signal) {
            ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &s_echoingTerminal);
            ::signal(signal, SIG_DFL);
            ::raise(signal);
        };
        sigemptyset(&restore.sa_mask);
        ::sigaction(SIGINT, &restore, &previous);
        termios silent = s_echoingTerminal;
        silent.c_lflag &= ~tcflag_t(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
    }
    QByteArray line;
    for (int c = std::getchar(); c != EOF && c != '\n'; c = std::getchar())
        line.append(char(c));
    if (terminal) {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &s_echoingTerminal);
        ::sigaction(SIGINT, &previous, nullptr);
        std::fputs("\n", stderr);
    }
    return QString::fromUtf8(line).trimmed();
}

} // namespace

int commandKey(const Invocation &in)
{
    const QCommandLineParser &parser = in.parser;
    const QStringList &positional = in.positional;
    const QString action = positional.value(1);
    if (action != u"set"_s && action != u"delete"_s && action != u"status"_s)
        throw UsageError{u"key needs set, delete or status"_s};
    if (action == u"set"_s && positional.size() > 3)
        throw UsageError{u"key set reads the key from stdin, never from the command line"_s};
    if (action != u"status"_s && positional.size() != 3)
        throw UsageError{u"key %1 needs one PROVIDER (openai, anthropic or gemini)"_s.arg(action)};
    if (positional.size() > 3)
        throw UsageError{u"key status takes at most one PROVIDER"_s};

    bd::secrets::KeyStore keyStore;
    // Asked for on purpose: a locked keyring may first show its unlock prompt.
    if (action != u"status"_s)
        keyStore.setTimeoutMs(60'000);
    QEventLoop loop;
    QString error;
    const auto finish = [&](const QString &message) {
        error = message;
        loop.quit();
    };
    if (action == u"set"_s) {
        const QString account = keyProviderArgument(positional.at(2));
        const QString key = readKeyFromStdin(account);
        if (key.isEmpty())
            throw UsageError{u"key set: no key on stdin"_s};
        keyStore.writeKey(account, key, finish);
        loop.exec();
        if (!error.isEmpty()) {
            printErr(u"key set %1: %2"_s.arg(account, error));
            return ExitFatal;
        }
        printErr(u"stored the %1 key in the OS keychain"_s.arg(account));
        const QString variable = bd::apiKeyVariable(account);
        if (!qEnvironmentVariableIsEmpty(variable.toLatin1().constData()))
            printErr(
                u"note: %1 is set in this environment and wins over the keychain"_s.arg(variable));
        return ExitFinished;
    }
    if (action == u"delete"_s) {
        const QString account = keyProviderArgument(positional.at(2));
        keyStore.deleteKey(account, finish);
        loop.exec();
        if (!error.isEmpty()) {
            printErr(u"key delete %1: %2"_s.arg(account, error));
            return ExitFatal;
        }
        printErr(u"the OS keychain holds no %1 key now"_s.arg(account));
        return ExitFinished;
    }

    const QStringList accounts = positional.size() == 3
                                     ? QStringList{keyProviderArgument(positional.at(2))}
                                     : QStringList{u"openai"_s, u"anthropic"_s, u"gemini"_s};
    QJsonArray entries;
    for (const QString &account : accounts) {
        bool inKeychain = false;
        keyStore.readKey(account, [&](const QString &key, const QString &readError) {
            inKeychain = !key.isEmpty();
            finish(readError);
        });
        loop.exec();
        const QString variable = bd::apiKeyVariable(account);
        const bool inEnvironment = !bd::apiKeyFromEnvironment(account).isEmpty();
        const QString uses = inEnvironment ? u"environment"_s
                             : inKeychain  ? u"keychain"_s
                                           : u"none"_s;
        if (parser.isSet(u"json"_s)) {
            QJsonObject entry{
                {u"provider"_s, account},
                {u"variable"_s, variable},
                {u"environment"_s, inEnvironment},
                {u"keychain"_s, error.isEmpty() ? QJsonValue(inKeychain) : QJsonValue()},
                {u"uses"_s, uses}};
            if (!error.isEmpty())
                entry.insert(u"keychain_error"_s, error);
            entries.append(entry);
            continue;
        }
        const QString keychain = !error.isEmpty() ? error
                                 : inKeychain     ? u"OS keychain has a key"_s
                                                  : u"OS keychain has no key"_s;
        const QString environment =
            u"%1 %2"_s.arg(variable, inEnvironment ? u"set"_s : u"not set"_s);
        const QString used =
            inEnvironment ? u"runs use %1"_s.arg(variable)
            : inKeychain  ? u"runs use the keychain entry"_s
                          : u"no key: `batchctl key set %1` or set %2"_s.arg(account, variable);
        printOut(u"%1: %2; %3; %4"_s.arg(account, keychain, environment, used));
    }
    if (parser.isSet(u"json"_s))
        printJson(QJsonObject{{u"keys"_s, entries}});
    return ExitFinished;
}

} // namespace batchctl
