#include "privatepostgres.h"

#include <atomic>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QTcpServer>
#include <QUrl>
#include <unistd.h>

namespace bd::storetest {

using namespace Qt::StringLiterals;

namespace {

bool asRoot()
{
    return ::geteuid() == 0;
}

int freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

} // namespace

QString PrivatePostgres::binDir()
{
    const QString fromEnv = qEnvironmentVariable("BD_PG_BINDIR");
    if (!fromEnv.isEmpty())
        return QFileInfo::exists(fromEnv + u"/initdb"_s) ? fromEnv : QString();
    QDir versions(u"/usr/lib/postgresql"_s);
    QStringList found = versions.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    std::sort(found.begin(), found.end(),
              [](const QString &a, const QString &b) { return a.toInt() > b.toInt(); });
    for (const QString &version : std::as_const(found)) {
        const QString bin = versions.filePath(version + u"/bin"_s);
        if (QFileInfo::exists(bin + u"/initdb"_s) && QFileInfo::exists(bin + u"/pg_ctl"_s))
            return bin;
    }
    return {};
}

bool PrivatePostgres::available()
{
    return qEnvironmentVariableIsSet("BD_TEST_POSTGRES_URL") || !binDir().isEmpty();
}

PrivatePostgres::PrivatePostgres()
    : m_bin(binDir())
{
}

PrivatePostgres::~PrivatePostgres()
{
    if (!m_suiteHost.isEmpty())
        dropDatabases();
    if (m_started)
        run(m_bin + u"/pg_ctl"_s,
            {u"-D"_s, m_dir->filePath(u"data"_s), u"-m"_s, u"immediate"_s, u"-w"_s, u"stop"_s},
            30'000);
    // QTemporaryDir removes the folder (we own it, or are root).
}

bool PrivatePostgres::run(const QString &program, const QStringList &arguments, int timeoutMs)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.setWorkingDirectory(m_dir->path());
    if (asRoot())
        process.start(u"runuser"_s,
                      QStringList{u"-u"_s, u"postgres"_s, u"--"_s, program} + arguments);
    else
        process.start(program, arguments);
    if (!process.waitForStarted(10'000) || !process.waitForFinished(timeoutMs)) {
        m_error = u"%1 did not run: %2"_s.arg(program, process.errorString());
        process.kill();
        process.waitForFinished(5'000);
        return false;
    }
    if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
        m_error = u"%1 failed: %2"_s.arg(program, QString::fromLocal8Bit(process.readAll()));
        return false;
    }
    return true;
}

bool PrivatePostgres::useSuiteServer(const QString &url)
{
    const QUrl parsed(url);
    if (!parsed.isValid() || parsed.host().isEmpty() || parsed.port() <= 0) {
        m_error = u"BD_TEST_POSTGRES_URL=%1 is not postgresql://user@host:port/db"_s.arg(url);
        return false;
    }
    m_suiteHost = parsed.host();
    m_suiteUser = parsed.userName().isEmpty() ? u"postgres"_s : parsed.userName();
    m_port = parsed.port();
    // ctest runs tests side by side on the one server: names of this process and object.
    static std::atomic<int> objects{0};
    m_prefix = u"t%1_%2_"_s.arg(QCoreApplication::applicationPid()).arg(++objects);
    return true;
}

void PrivatePostgres::dropDatabases()
{
    // The server goes with the suite; dropping keeps its folder small while the suite runs.
    const QString psql = m_bin.isEmpty() ? u"psql"_s : m_bin + u"/psql"_s;
    for (const QString &name : std::as_const(m_handedOut)) {
        QProcess process;
        process.start(psql, {u"-q"_s, u"-h"_s, m_suiteHost, u"-p"_s, QString::number(m_port),
                             u"-U"_s, m_suiteUser, u"-d"_s, u"postgres"_s, u"-c"_s,
                             u"DROP DATABASE IF EXISTS \"%1\" WITH (FORCE)"_s.arg(name)});
        if (!process.waitForFinished(30'000))
            process.kill();
        process.waitForFinished(5'000);
    }
    m_handedOut.clear();
}

bool PrivatePostgres::start(Server server)
{
    if (const QString suite = qEnvironmentVariable("BD_TEST_POSTGRES_URL");
        !suite.isEmpty() && server == Server::SuiteOrOwn)
        return useSuiteServer(suite);
    if (m_bin.isEmpty()) {
        m_error = u"PostgreSQL's server binaries (initdb, pg_ctl) are not installed"_s;
        return false;
    }
    m_dir = std::make_unique<QTemporaryDir>(QDir::tempPath() + u"/bd-pg-XXXXXX"_s);
    if (!m_dir->isValid()) {
        m_error = u"cannot make a temporary folder"_s;
        return false;
    }
    // The server runs as postgres and must own its folder.
    if (asRoot() && QProcess::execute(u"chown"_s, {u"postgres:postgres"_s, m_dir->path()}) != 0) {
        m_error = u"cannot hand %1 to the postgres user"_s.arg(m_dir->path());
        return false;
    }
    const QString data = m_dir->filePath(u"data"_s);
    if (!run(m_bin + u"/initdb"_s,
             {u"-D"_s, data, u"-U"_s, u"postgres"_s, u"-A"_s, u"trust"_s, u"-E"_s, u"UTF8"_s,
              u"--no-sync"_s, u"--no-instructions"_s},
             120'000))
        return false;
    // A port can be taken between the probe and the start; try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (startOn(freeLoopbackPort()))
            return true;
    }
    QFile log(m_dir->filePath(u"server.log"_s));
    if (log.open(QIODevice::ReadOnly))
        m_error += u"\nserver log: "_s + QString::fromLocal8Bit(log.readAll().right(2000));
    return false;
}

bool PrivatePostgres::startOn(int port)
{
    m_port = port;
    const QString options =
        u"-c listen_addresses=127.0.0.1 -c port=%1 -c unix_socket_directories=%2 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=100"_s.arg(m_port)
            .arg(m_dir->path());
    m_started = run(m_bin + u"/pg_ctl"_s,
                    {u"-D"_s, m_dir->filePath(u"data"_s), u"-o"_s, options, u"-l"_s,
                     m_dir->filePath(u"server.log"_s), u"-w"_s, u"-t"_s, u"60"_s, u"start"_s},
                    90'000);
    return m_started;
}

bool PrivatePostgres::stopServer()
{
    if (!m_started)
        return false;
    m_started =
        !run(m_bin + u"/pg_ctl"_s,
             {u"-D"_s, m_dir->filePath(u"data"_s), u"-m"_s, u"fast"_s, u"-w"_s, u"stop"_s}, 60'000);
    return !m_started;
}

bool PrivatePostgres::startServer()
{
    return m_dir && !m_started && startOn(m_port);
}

QString PrivatePostgres::url(const QString &database) const
{
    if (m_suiteHost.isEmpty())
        return u"postgresql://postgres@127.0.0.1:%1/%2"_s.arg(m_port).arg(database);
    const QString name = QString(m_prefix + database).left(63); // PostgreSQL's identifier limit
    if (!m_handedOut.contains(name))
        m_handedOut.append(name);
    return u"postgresql://%1@%2:%3/%4"_s.arg(m_suiteUser, m_suiteHost).arg(m_port).arg(name);
}

} // namespace bd::storetest
