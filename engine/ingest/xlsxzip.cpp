#include "xlsxzip.h"

#include <cerrno>
#include <cstring>
#include <QDateTime>
#include <unistd.h>
#include <zlib.h>

// Layout (APPNOTE.TXT 4.3): per entry a local header with general purpose bit 3 set (CRC and
// sizes follow the data in a data descriptor), the deflated data, the descriptor; then the
// central directory with the real CRC and sizes, and the end record.

namespace bd::ingest {

namespace {

constexpr std::size_t kOutBytes = 1 << 20;
constexpr std::uint64_t kZip32Max = 0xFFFFFFFFu;
constexpr std::uint16_t kFlags = 0x0008 | 0x0800; // data descriptor, UTF-8 names
constexpr std::uint16_t kDeflated = 8;
constexpr std::uint16_t kVersion = 20;

char *put16(char *p, std::uint16_t v)
{
    *p++ = char(v & 0xFF);
    *p++ = char(v >> 8);
    return p;
}

char *put32(char *p, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        *p++ = char((v >> (8 * i)) & 0xFF);
    return p;
}

} // namespace

struct ZipStream::Deflater
{
    z_stream stream = {};
    bool initialised = false;
    std::uint32_t crc = 0;
    ~Deflater()
    {
        if (initialised)
            deflateEnd(&stream);
    }
};

ZipStream::ZipStream(int fd)
    : m_fd(fd)
    , m_deflater(std::make_unique<Deflater>())
    , m_out(new char[kOutBytes])
{
    const QDateTime now = QDateTime::currentDateTime();
    const QDate date = now.date();
    const QTime time = now.time();
    m_dosTime = std::uint16_t((time.hour() << 11) | (time.minute() << 5) | (time.second() / 2));
    m_dosDate =
        std::uint16_t(((qMax(1980, date.year()) - 1980) << 9) | (date.month() << 5) | date.day());
}

ZipStream::~ZipStream() = default;

bool ZipStream::fail(const QString &what)
{
    if (m_error.isEmpty())
        m_error = what;
    return false;
}

bool ZipStream::flushOut()
{
    const char *p = m_out.get();
    std::size_t left = m_outSize;
    while (left > 0) {
        const ssize_t written = ::write(m_fd, p, left);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return fail(QStringLiteral("cannot write the file: ") +
                        QString::fromLocal8Bit(std::strerror(errno)));
        }
        p += written;
        left -= std::size_t(written);
    }
    m_outSize = 0;
    return true;
}

bool ZipStream::put(const char *data, std::size_t size)
{
    m_offset += size;
    while (size > 0) {
        const std::size_t n = qMin(size, kOutBytes - m_outSize);
        std::memcpy(m_out.get() + m_outSize, data, n);
        m_outSize += n;
        data += n;
        size -= n;
        if (m_outSize == kOutBytes && !flushOut())
            return false;
    }
    return true;
}

bool ZipStream::beginEntry(const QByteArray &name)
{
    if (!m_error.isEmpty())
        return false;
    Q_ASSERT(!m_inEntry);
    if (m_offset > kZip32Max) {
        return fail(QStringLiteral("the file passes the 4 GB a ZIP file without ZIP64 extensions "
                                   "holds; export to .csv or .jsonl instead"));
    }
    Entry entry;
    entry.name = name;
    entry.offset = m_offset;
    m_entries.append(entry);

    char header[30];
    char *p = put32(header, 0x04034b50);
    p = put16(p, kVersion);
    p = put16(p, kFlags);
    p = put16(p, kDeflated);
    p = put16(p, m_dosTime);
    p = put16(p, m_dosDate);
    p = put32(p, 0); // CRC, compressed size and size: in the data descriptor
    p = put32(p, 0);
    p = put32(p, 0);
    p = put16(p, std::uint16_t(name.size()));
    p = put16(p, 0);
    if (!put(header, sizeof header) || !put(name.constData(), std::size_t(name.size())))
        return false;

    Deflater &d = *m_deflater;
    if (!d.initialised) {
        // Level 1: several times faster than the default on sheet XML, and its size
        // hardly differs (the markup repeats itself).
        if (deflateInit2(&d.stream, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return fail(QStringLiteral("cannot start compressing"));
        d.initialised = true;
    } else if (deflateReset(&d.stream) != Z_OK) {
        return fail(QStringLiteral("cannot start compressing"));
    }
    d.crc = std::uint32_t(crc32(0L, nullptr, 0));
    m_inEntry = true;
    return true;
}

bool ZipStream::deflateInto(const char *data, std::size_t size, int flush)
{
    z_stream &zs = m_deflater->stream;
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data));
    zs.avail_in = uInt(size);
    Entry &entry = m_entries.last();
    for (;;) {
        zs.next_out = reinterpret_cast<Bytef *>(m_out.get() + m_outSize);
        zs.avail_out = uInt(kOutBytes - m_outSize);
        const int result = deflate(&zs, flush);
        if (result == Z_STREAM_ERROR || (result == Z_BUF_ERROR && zs.avail_out > 0))
            return fail(QStringLiteral("cannot compress the sheet"));
        const std::size_t produced = kOutBytes - m_outSize - zs.avail_out;
        m_outSize += produced;
        m_offset += produced;
        entry.compressedSize += produced;
        if (m_outSize == kOutBytes) {
            if (!flushOut())
                return false;
            continue; // deflate may have more output
        }
        if (flush == Z_FINISH ? result == Z_STREAM_END : zs.avail_in == 0)
            return true;
    }
}

bool ZipStream::write(const char *data, std::size_t size)
{
    if (!m_error.isEmpty())
        return false;
    Q_ASSERT(m_inEntry);
    Entry &entry = m_entries.last();
    entry.size += size;
    if (entry.size > kZip32Max) {
        return fail(QStringLiteral("the sheet passes the 4 GB an XLSX part holds; export to "
                                   ".csv or .jsonl instead"));
    }
    // zlib takes 32-bit lengths; the callers write far less at a time.
    while (size > 0) {
        const std::size_t n = qMin<std::size_t>(size, 1u << 30);
        m_deflater->crc =
            std::uint32_t(crc32(m_deflater->crc, reinterpret_cast<const Bytef *>(data), uInt(n)));
        if (!deflateInto(data, n, Z_NO_FLUSH))
            return false;
        data += n;
        size -= n;
    }
    return true;
}

bool ZipStream::endEntry()
{
    if (!m_error.isEmpty())
        return false;
    Q_ASSERT(m_inEntry);
    m_inEntry = false;
    if (!deflateInto(nullptr, 0, Z_FINISH))
        return false;
    Entry &entry = m_entries.last();
    entry.crc = m_deflater->crc;
    if (entry.compressedSize > kZip32Max) {
        return fail(QStringLiteral("the sheet passes the 4 GB an XLSX part holds; export to "
                                   ".csv or .jsonl instead"));
    }
    char descriptor[16];
    char *p = put32(descriptor, 0x08074b50);
    p = put32(p, entry.crc);
    p = put32(p, std::uint32_t(entry.compressedSize));
    put32(p, std::uint32_t(entry.size));
    return put(descriptor, sizeof descriptor);
}

bool ZipStream::finish()
{
    if (!m_error.isEmpty())
        return false;
    Q_ASSERT(!m_inEntry);
    const std::uint64_t directoryOffset = m_offset;
    for (const Entry &entry : std::as_const(m_entries)) {
        char header[46];
        char *p = put32(header, 0x02014b50);
        p = put16(p, kVersion); // made by: MS-DOS attributes, version 2.0
        p = put16(p, kVersion);
        p = put16(p, kFlags);
        p = put16(p, kDeflated);
        p = put16(p, m_dosTime);
        p = put16(p, m_dosDate);
        p = put32(p, entry.crc);
        p = put32(p, std::uint32_t(entry.compressedSize));
        p = put32(p, std::uint32_t(entry.size));
        p = put16(p, std::uint16_t(entry.name.size()));
        p = put16(p, 0); // extra field
        p = put16(p, 0); // comment
        p = put16(p, 0); // disk
        p = put16(p, 0); // internal attributes
        p = put32(p, 0); // external attributes
        put32(p, std::uint32_t(entry.offset));
        if (!put(header, sizeof header) ||
            !put(entry.name.constData(), std::size_t(entry.name.size()))) {
            return false;
        }
    }
    const std::uint64_t directorySize = m_offset - directoryOffset;
    if (m_offset > kZip32Max) {
        return fail(QStringLiteral("the file passes the 4 GB a ZIP file without ZIP64 extensions "
                                   "holds; export to .csv or .jsonl instead"));
    }
    char end[22];
    char *p = put32(end, 0x06054b50);
    p = put16(p, 0); // this disk
    p = put16(p, 0); // the directory's disk
    p = put16(p, std::uint16_t(m_entries.size()));
    p = put16(p, std::uint16_t(m_entries.size()));
    p = put32(p, std::uint32_t(directorySize));
    p = put32(p, std::uint32_t(directoryOffset));
    put16(p, 0); // comment
    return put(end, sizeof end) && flushOut();
}

} // namespace bd::ingest
