#pragma once

// Shared bits of the libFuzzer targets: bytes as Qt types, a device that hands its bytes
// out a few at a time (the reader's sequential path), and a quiet Qt.

#include <cstddef>
#include <cstdint>
#include <QByteArray>
#include <QIODevice>
#include <QtGlobal>

namespace bd::fuzz {

inline QByteArray bytes(const uint8_t *data, size_t size)
{
    return QByteArray(reinterpret_cast<const char *>(data), qsizetype(size));
}

// Splits the input at the first 0xFF byte (not valid in UTF-8, so never part of text a
// seed would carry): the part before and the part after.
inline std::pair<QByteArray, QByteArray> split(const QByteArray &input)
{
    const qsizetype at = input.indexOf('\xFF');
    if (at < 0)
        return {input, {}};
    return {input.left(at), input.mid(at + 1)};
}

// Qt's messages would flood the fuzzer's output.
inline void silenceQt()
{
    qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &) {});
}

// A sequential device that returns at most `step` bytes per read.
class TrickleDevice final : public QIODevice
{
public:
    TrickleDevice(const QByteArray &data, qint64 step)
        : m_data(data)
        , m_step(qMax<qint64>(1, step))
    {
        open(QIODevice::ReadOnly);
    }
    bool isSequential() const override { return true; }
    qint64 bytesAvailable() const override
    {
        return m_data.size() - m_pos + QIODevice::bytesAvailable();
    }

protected:
    qint64 readData(char *out, qint64 max) override
    {
        const qint64 n = qMin(qMin(max, m_step), qint64(m_data.size()) - m_pos);
        if (n <= 0)
            return 0;
        memcpy(out, m_data.constData() + m_pos, size_t(n));
        m_pos += n;
        return n;
    }
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    QByteArray m_data;
    qint64 m_pos = 0;
    qint64 m_step;
};

} // namespace bd::fuzz
