// The CSV reader over any bytes: the first byte picks a forced encoding or delimiter and
// whether the input arrives all at once or a few bytes at a time.

#include "fuzzsupport.h"
#include "ingest/csvreader.h"

#include <QBuffer>

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    bd::fuzz::silenceQt();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t mode = data[0];
    const QByteArray input = bd::fuzz::bytes(data + 1, size - 1);

    bd::ingest::CsvReader::Options options;
    static const char *const kEncodings[] = {nullptr,    "UTF-8",  "UTF-16LE",
                                             "UTF-16BE", "cp1252", "bogus"};
    options.encoding = QString::fromLatin1(kEncodings[mode % 6]);
    if (mode & 0x40)
        options.delimiter = QChar(u';');

    std::unique_ptr<QIODevice> device;
    if (mode & 0x80) {
        device = std::make_unique<bd::fuzz::TrickleDevice>(input, 1 + (mode >> 3) % 7);
    } else {
        auto buffer = std::make_unique<QBuffer>();
        buffer->setData(input);
        buffer->open(QIODevice::ReadOnly);
        device = std::move(buffer);
    }

    bd::ingest::CsvReader reader;
    if (reader.open(device.get(), QStringLiteral("fuzz.csv"), options)) {
        QStringList fields;
        qsizetype columns = reader.header().size();
        while (reader.readRow(fields)) {
            if (fields.size() != columns)
                __builtin_trap(); // the reader promised one field per column
        }
        (void)reader.encodingNote();
        (void)reader.recordLine();
    }
    (void)reader.errorString();
    return 0;
}
