#pragma once

// Runs the real batchctl from an integration test whose loopback server lives in the
// test process: the wait keeps the event loop running so the server can answer.

#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSignalSpy>

struct BatchctlRun
{
    int exitCode = -1;
    QProcess::ExitStatus status = QProcess::CrashExit;
    QByteArray out;
    QByteArray err;

    QJsonObject json() const { return QJsonDocument::fromJson(out).object(); }
    QString describe() const
    {
        return QStringLiteral("exit %1%2\nstdout: %3\nstderr: %4")
            .arg(exitCode)
            .arg(status == QProcess::NormalExit ? QString() : QStringLiteral(" (crashed/killed)"))
            .arg(QString::fromUtf8(out.left(3000)), QString::fromUtf8(err.right(3000)));
    }
};

// The caller's environment with the user's own config, data and home (a price file, the
// default database, a keychain) replaced by folders under dir.
inline QProcessEnvironment isolatedEnvironment(const QString &dir)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir + QStringLiteral("/config"));
    env.insert(QStringLiteral("XDG_DATA_HOME"), dir + QStringLiteral("/data"));
    env.insert(QStringLiteral("HOME"), dir);
    return env;
}

inline BatchctlRun runBatchctl(const QString &program, const QStringList &arguments,
                               const QProcessEnvironment &env, const QString &workingDirectory,
                               int timeoutMs)
{
    BatchctlRun run;
    QProcess process;
    process.setProcessEnvironment(env);
    process.setWorkingDirectory(workingDirectory);
    QSignalSpy finished(&process, &QProcess::finished);
    process.start(program, arguments);
    if (!process.waitForStarted(10'000))
        return run;
    bool timedOut = false;
    if (finished.isEmpty() && !finished.wait(timeoutMs) && process.state() != QProcess::NotRunning) {
        timedOut = true;
        process.kill();
        process.waitForFinished(5'000);
    }
    run.exitCode = process.exitCode();
    run.status = process.exitStatus();
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    if (timedOut)
        run.err += "\n[test: batchctl " + arguments.value(0).toUtf8() + " did not finish within "
                   + QByteArray::number(timeoutMs) + " ms and was killed]";
    return run;
}
