#include "core/sha256.h"

#include <QBuffer>
#include <QCryptographicHash>
#include <QRandomGenerator>
#include <QTemporaryFile>
#include <QtTest>

using bd::Sha256;

class TestSha256 : public QObject
{
    Q_OBJECT

private slots:
    void knownVectors_data();
    void knownVectors();
    void aMegabyteStreamedInPieces();
    void aDeviceReadToItsEnd();
    void sameDigestAsQtForEveryLength();
    void resultStartsOver();
};

void TestSha256::knownVectors_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("hex");
    // FIPS 180-2's examples.
    QTest::newRow("empty")
        << QByteArray()
        << QByteArray("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    QTest::newRow("abc") << QByteArray("abc")
                         << QByteArray(
                                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    QTest::newRow("two blocks")
        << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        << QByteArray("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

void TestSha256::knownVectors()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, hex);
    QCOMPARE(Sha256::hexHash(input), hex);
    QCOMPARE(Sha256::hash(input), QByteArray::fromHex(hex));
}

void TestSha256::aMegabyteStreamedInPieces()
{
    // FIPS 180-2: one million 'a', fed in pieces that straddle the 64-byte blocks.
    const QByteArray million(1'000'000, 'a');
    const int pieces[] = {1, 63, 64, 65, 127, 1000, 4096, 65537};
    Sha256 sha;
    qsizetype at = 0;
    for (int i = 0; at < million.size(); ++i) {
        const qsizetype size = qMin<qsizetype>(pieces[i % std::size(pieces)], million.size() - at);
        sha.addData(QByteArrayView(million).sliced(at, size));
        at += size;
    }
    QCOMPARE(sha.hexResult(),
             QByteArray("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

void TestSha256::aDeviceReadToItsEnd()
{
    // Larger than the reading buffer, not a multiple of it: the input file's hash.
    QByteArray data(200'003, Qt::Uninitialized);
    for (qsizetype i = 0; i < data.size(); ++i)
        data[i] = char(i * 131 % 251);
    QTemporaryFile file;
    QVERIFY(file.open());
    QCOMPARE(file.write(data), data.size());
    QVERIFY(file.seek(0));
    Sha256 sha;
    QVERIFY(sha.addData(&file));
    QCOMPARE(sha.result(), QCryptographicHash::hash(data, QCryptographicHash::Sha256));

    QBuffer empty;
    QVERIFY(empty.open(QIODevice::ReadOnly));
    QVERIFY(sha.addData(&empty));
    QCOMPARE(sha.hexResult(),
             QByteArray("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));

    QBuffer unreadable; // never opened: read() fails
    QTest::ignoreMessage(QtWarningMsg, "QIODevice::read (QBuffer): device not open");
    QVERIFY(!sha.addData(&unreadable));
}

void TestSha256::sameDigestAsQtForEveryLength()
{
    // Every length over a few blocks, so each padding case is met (55, 56, 63, 64 bytes...).
    QRandomGenerator random(19);
    QByteArray data(300, Qt::Uninitialized);
    for (char &byte : data)
        byte = char(random.bounded(256));
    Sha256 sha;
    for (qsizetype size = 0; size <= data.size(); ++size) {
        const QByteArrayView input = QByteArrayView(data).first(size);
        sha.addData(input.first(size / 3));
        sha.addData(input.sliced(size / 3));
        QCOMPARE(sha.result(), QCryptographicHash::hash(input, QCryptographicHash::Sha256));
    }
}

void TestSha256::resultStartsOver()
{
    Sha256 sha;
    sha.addData("ab");
    QCOMPARE(sha.hexResult(), Sha256::hexHash("ab"));
    sha.addData("c");
    QCOMPARE(sha.hexResult(), Sha256::hexHash("c")); // not "abc"
}

QTEST_GUILESS_MAIN(TestSha256)
#include "test_sha256.moc"
