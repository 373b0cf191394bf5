#pragma once

// A small tmpfs mounted for one test, to run out of disk space for real. Only root may
// mount; elsewhere (or when mount fails, e.g. in a container without CAP_SYS_ADMIN)
// isMounted() is false and skipReason() says why, for a QSKIP.

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <unistd.h>

namespace bd::test {

class TinyTmpfs
{
public:
    // Mounts a tmpfs of sizeBytes on a fresh directory `dir` (created if missing).
    TinyTmpfs(const QString &dir, qint64 sizeBytes)
        : m_dir(dir)
    {
        if (::geteuid() != 0) {
            m_skipReason = QStringLiteral("not root: cannot mount a small tmpfs to fill");
            return;
        }
        QDir().mkpath(dir);
        QProcess mount;
        mount.start(QStringLiteral("mount"),
                    {QStringLiteral("-t"), QStringLiteral("tmpfs"), QStringLiteral("-o"),
                     QStringLiteral("size=%1").arg(sizeBytes), QStringLiteral("tmpfs"), dir});
        if (!mount.waitForFinished(10'000) || mount.exitStatus() != QProcess::NormalExit ||
            mount.exitCode() != 0) {
            m_skipReason = QStringLiteral("mount -t tmpfs failed: ") +
                           QString::fromLocal8Bit(mount.readAllStandardError()).trimmed();
            return;
        }
        m_mounted = true;
    }

    ~TinyTmpfs()
    {
        if (m_mounted)
            QProcess::execute(QStringLiteral("umount"), {QStringLiteral("-l"), m_dir});
    }

    TinyTmpfs(const TinyTmpfs &) = delete;
    TinyTmpfs &operator=(const TinyTmpfs &) = delete;

    bool isMounted() const { return m_mounted; }
    QString skipReason() const { return m_skipReason; }
    QString path() const { return m_dir; }

    // Writes `name` until the file system refuses another byte; its size, or -1 when the
    // file could not even be created.
    qint64 fill(const QString &name) const
    {
        QFile filler(m_dir + u'/' + name);
        if (!filler.open(QIODevice::WriteOnly | QIODevice::Unbuffered))
            return -1;
        const QByteArray block(4096, 'f');
        while (filler.write(block) == block.size()) {
        }
        // The last block may have gone in part: top up byte by byte.
        while (filler.write("f", 1) == 1) {
        }
        return filler.size();
    }

private:
    QString m_dir;
    QString m_skipReason;
    bool m_mounted = false;
};

} // namespace bd::test
