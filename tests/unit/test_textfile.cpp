#include "ingest/textfile.h"

#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <sys/stat.h>

using namespace Qt::StringLiterals;
using bd::ingest::checkRegularFile;
using bd::ingest::readTextFile;

// Template and system prompt files: bounded, regular files only, UTF-8.
class TestTextFile : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }
    void readsUtf8();
    void capIsEnforced();
    void refusesNonRegularFiles();
    void refusesBinaryAndInvalidUtf8();
    void checkRegularFileMessages();

private:
    QString write(const QString &name, const QByteArray &bytes)
    {
        const QString path = m_dir.filePath(name);
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size())
            qFatal("cannot write %s", qPrintable(path));
        return path;
    }

    QTemporaryDir m_dir;
};

void TestTextFile::readsUtf8()
{
    QString error;
    const auto text = readTextFile(
        write(u"t.txt"_s, "\xEF\xBB\xBFSummarise: {{text}}\nCaf\xC3\xA9 \xF0\x9F\x98\x80\n"),
        &error);
    QVERIFY2(text, qPrintable(error));
    QCOMPARE(*text, u"Summarise: {{text}}\nCafé 😀\n"_s);

    const auto empty = readTextFile(write(u"empty.txt"_s, {}), &error);
    QVERIFY2(empty, qPrintable(error));
    QVERIFY(empty->isEmpty());
}

void TestTextFile::capIsEnforced()
{
    QString error;
    const QByteArray exact(1024 * 1024, 'a');
    const auto atCap = readTextFile(write(u"exact.txt"_s, exact), &error);
    QVERIFY2(atCap, qPrintable(error));
    QCOMPARE(atCap->size(), exact.size());

    const QString big = write(u"big.txt"_s, exact + 'b');
    QVERIFY(!readTextFile(big, &error));
    QCOMPARE(error, big + u": larger than the 1 MiB a template or system prompt file may have"_s);

    // A smaller cap given by the caller.
    QVERIFY(!readTextFile(write(u"small.txt"_s, "12345"), &error, 4));
    QVERIFY2(error.contains(u"larger than the 4 bytes"_s), qPrintable(error));
}

void TestTextFile::refusesNonRegularFiles()
{
    QString error;
    // /dev/zero never ends: read before, it ran until memory was gone.
    QElapsedTimer timer;
    timer.start();
    QVERIFY(!readTextFile(u"/dev/zero"_s, &error));
    QCOMPARE(error, u"/dev/zero: not a regular file (a character device)"_s);

    QVERIFY(!readTextFile(m_dir.path(), &error));
    QCOMPARE(error, m_dir.path() + u": is a directory, not a file"_s);

    // A FIFO without a writer: opening it normally would block for ever.
    const QString fifo = m_dir.filePath(u"fifo"_s);
    QCOMPARE(::mkfifo(QFile::encodeName(fifo).constData(), 0600), 0);
    QVERIFY(!readTextFile(fifo, &error));
    QCOMPARE(error, fifo + u": not a regular file (a FIFO)"_s);
    QVERIFY(timer.elapsed() < 5'000);

    const QString missing = m_dir.filePath(u"missing.txt"_s);
    QVERIFY(!readTextFile(missing, &error));
    QCOMPARE(error, missing + u": no such file"_s);
}

void TestTextFile::refusesBinaryAndInvalidUtf8()
{
    QString error;
    const QString nul = write(u"nul.txt"_s, QByteArray("line one\nline\0two\n", 18));
    QVERIFY(!readTextFile(nul, &error));
    QVERIFY2(error.startsWith(nul + u":2: contains a NUL byte"_s), qPrintable(error));

    const QString latin = write(u"latin.txt"_s, "ok\r\nCaf\xC3\xA9\nRen\xE9\n");
    QVERIFY(!readTextFile(latin, &error));
    QCOMPARE(error, latin + u":3: not valid UTF-8 (save the file as UTF-8)"_s);
}

void TestTextFile::checkRegularFileMessages()
{
    QString error;
    QVERIFY(checkRegularFile(write(u"ok.csv"_s, "a\n1\n"), &error));
    QVERIFY(!checkRegularFile(m_dir.path(), &error));
    QCOMPARE(error, m_dir.path() + u": is a directory, not a file"_s);
    QVERIFY(!checkRegularFile(u"/dev/null"_s, &error));
    QCOMPARE(error, u"/dev/null: not a regular file (a character device)"_s);
    const QString missing = m_dir.filePath(u"nope.csv"_s);
    QVERIFY(!checkRegularFile(missing, &error));
    QCOMPARE(error, missing + u": no such file"_s);
}

QTEST_GUILESS_MAIN(TestTextFile)
#include "test_textfile.moc"
