#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <QByteArray>
#include <QList>
#include <QString>

namespace bd::ingest {

// A ZIP archive written front to back into a file descriptor, as an XLSX package needs:
// every entry deflated (raw deflate, level 1) while it is written, its CRC and sizes in a
// data descriptor after its data, the central directory at the end. Memory stays the same
// whatever the size. No ZIP64: an entry or archive that would pass 4 GB fails with a
// message that says so (Excel handles ZIP64 packages badly anyway). Not thread-safe; the
// caller owns the descriptor. The first failure is final.
class ZipStream
{
public:
    explicit ZipStream(int fd);
    ~ZipStream();
    Q_DISABLE_COPY_MOVE(ZipStream)

    bool beginEntry(const QByteArray &name);
    bool write(const char *data, std::size_t size);
    bool endEntry();
    // Writes the central directory and flushes; the archive is complete after this.
    bool finish();

    QString errorString() const { return m_error; }

private:
    struct Entry
    {
        QByteArray name;
        std::uint32_t crc = 0;
        std::uint64_t compressedSize = 0;
        std::uint64_t size = 0;
        std::uint64_t offset = 0;
    };

    bool deflateInto(const char *data, std::size_t size, int flush);
    bool put(const char *data, std::size_t size); // through m_out
    bool flushOut();
    bool fail(const QString &what);

    int m_fd;
    struct Deflater;
    std::unique_ptr<Deflater> m_deflater;
    QList<Entry> m_entries;
    bool m_inEntry = false;
    std::uint64_t m_offset = 0; // bytes of the archive so far (written or in m_out)
    std::unique_ptr<char[]> m_out;
    std::size_t m_outSize = 0;
    std::uint16_t m_dosTime = 0;
    std::uint16_t m_dosDate = 0;
    QString m_error;
};

} // namespace bd::ingest
