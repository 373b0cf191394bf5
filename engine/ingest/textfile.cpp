#include "textfile.h"

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QFileInfo>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

using namespace Qt::StringLiterals;

namespace bd::ingest {

namespace {

QString shown(const QString &path)
{
    return QDir::toNativeSeparators(path);
}

QString sizeText(qint64 bytes)
{
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
        return QString::number(bytes / (1024 * 1024)) + u" MiB"_s;
    if (bytes >= 1024 && bytes % 1024 == 0)
        return QString::number(bytes / 1024) + u" KiB"_s;
    return QString::number(bytes) + u" bytes"_s;
}

#ifdef Q_OS_UNIX
// What a stat mode is, for "not a regular file (...)"; empty for a regular file.
QString kindOf(mode_t mode)
{
    if (S_ISREG(mode))
        return {};
    if (S_ISDIR(mode))
        return u"a directory"_s;
    if (S_ISFIFO(mode))
        return u"a FIFO"_s;
    if (S_ISCHR(mode))
        return u"a character device"_s;
    if (S_ISBLK(mode))
        return u"a block device"_s;
    if (S_ISSOCK(mode))
        return u"a socket"_s;
    return u"a special file"_s;
}

QString notRegular(const QString &path, const QString &kind)
{
    if (kind == u"a directory"_s)
        return shown(path) + u": is a directory, not a file"_s;
    return shown(path) + u": not a regular file ("_s + kind + u')';
}

QString errnoText(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}
#endif

} // namespace

bool checkRegularFile(const QString &path, QString *error)
{
#ifdef Q_OS_UNIX
    struct stat info = {};
    if (::stat(QFile::encodeName(path).constData(), &info) != 0) {
        const int code = errno;
        *error = shown(path) + (code == ENOENT ? u": no such file"_s : u": "_s + errnoText(code));
        return false;
    }
    const QString kind = kindOf(info.st_mode);
    if (!kind.isEmpty()) {
        *error = notRegular(path, kind);
        return false;
    }
    return true;
#else
    const QFileInfo info(path);
    if (!info.exists()) {
        *error = shown(path) + u": no such file"_s;
        return false;
    }
    if (info.isDir()) {
        *error = shown(path) + u": is a directory, not a file"_s;
        return false;
    }
    if (!info.isFile()) {
        *error = shown(path) + u": not a regular file"_s;
        return false;
    }
    return true;
#endif
}

std::optional<QString> readTextFile(const QString &path, QString *error, qint64 maxBytes)
{
    QByteArray bytes;
#ifdef Q_OS_UNIX
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one.
    const int fd = ::open(QFile::encodeName(path).constData(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        const int code = errno;
        *error = shown(path) + (code == ENOENT ? u": no such file"_s : u": "_s + errnoText(code));
        return std::nullopt;
    }
    struct stat info = {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        *error = notRegular(path, kindOf(info.st_mode));
        ::close(fd);
        return std::nullopt;
    }
    // Regular files never block; reading stops one byte past the cap.
    bytes.resize(qsizetype(qMin<qint64>(maxBytes + 1, qMax<qint64>(info.st_size + 1, 4096))));
    qsizetype length = 0;
    for (;;) {
        if (length == bytes.size()) {
            if (length > maxBytes)
                break;
            bytes.resize(qsizetype(qMin<qint64>(maxBytes + 1, qint64(bytes.size()) * 2)));
        }
        const ssize_t n = ::read(fd, bytes.data() + length, size_t(bytes.size() - length));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error = shown(path) + u": read error: "_s + errnoText(errno);
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0)
            break;
        length += n;
    }
    ::close(fd);
    bytes.truncate(length);
#else
    if (!checkRegularFile(path, error))
        return std::nullopt;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = shown(path) + u": "_s + file.errorString();
        return std::nullopt;
    }
    bytes = file.read(maxBytes + 1);
#endif
    if (bytes.size() > maxBytes) {
        *error = shown(path) + u": larger than the "_s + sizeText(maxBytes) +
                 u" a template or system prompt file may have"_s;
        return std::nullopt;
    }
    if (bytes.startsWith("\xEF\xBB\xBF"))
        bytes.remove(0, 3);
    if (const qsizetype nul = bytes.indexOf('\0'); nul >= 0) {
        *error = shown(path) + u':' + QString::number(bytes.left(nul).count('\n') + 1) +
                 u": contains a NUL byte (is it a binary file, or UTF-16?)"_s;
        return std::nullopt;
    }
    if (!bytes.isValidUtf8()) {
        // A line at a time: a UTF-8 sequence never contains the byte '\n'.
        qint64 line = 1;
        qsizetype start = 0;
        for (;;) {
            const qsizetype end = bytes.indexOf('\n', start);
            const QByteArrayView part(bytes.constData() + start,
                                      (end < 0 ? bytes.size() : end) - start);
            if (!part.isValidUtf8() || end < 0)
                break;
            start = end + 1;
            ++line;
        }
        *error = shown(path) + u':' + QString::number(line) +
                 u": not valid UTF-8 (save the file as UTF-8)"_s;
        return std::nullopt;
    }
    return QString::fromUtf8(bytes);
}

} // namespace bd::ingest
