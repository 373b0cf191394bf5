// Import and export through the engine's job I/O on a real SQLite store: what a user is
// told about a file that is not a file, an encoding that was guessed, and XLSX cells that
// were cut.

#include "ingest/csvreader.h"
#include "jobio.h"
#include "store/sqlite/sqlitestore.h"

#include <QDateTime>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <sys/stat.h>

using namespace Qt::StringLiterals;

class TestJobIoHardening : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }
    void inputThatIsNotAFileSaysWhat();
    void encodingFallbackIsReported();
    void xlsxExportReportsCutCells();
    void emptyPromptsAreCounted();

private:
    QString write(const QString &name, const QByteArray &bytes)
    {
        const QString path = m_dir.filePath(name);
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size())
            qFatal("cannot write %s", qPrintable(path));
        return path;
    }
    bd::JobSpec spec(const QString &path, const QString &templateText) const
    {
        bd::JobSpec s;
        s.sourcePath = path;
        s.templateText = templateText;
        s.model = u"sim-1"_s;
        return s;
    }

    QTemporaryDir m_dir;
};

void TestJobIoHardening::inputThatIsNotAFileSaysWhat()
{
    QString error;
    bd::JobSpec directory = spec(m_dir.path(), u"x"_s);
    QVERIFY(!bd::validateJobSpec(directory, nullptr, &error));
    QCOMPARE(error, m_dir.path() + u": is a directory, not a file"_s); // was "no such file"

    const QString fifo = m_dir.filePath(u"input.csv"_s);
    QCOMPARE(::mkfifo(QFile::encodeName(fifo).constData(), 0600), 0);
    bd::JobSpec pipe = spec(fifo, u"x"_s);
    QVERIFY(!bd::validateJobSpec(pipe, nullptr, &error));
    QCOMPARE(error, fifo + u": not a regular file (a FIFO)"_s);

    bd::JobSpec device = spec(u"/dev/null"_s, u"x"_s);
    QVERIFY(!bd::validateJobSpec(device, nullptr, &error));
    QCOMPARE(error, u"/dev/null: not a regular file (a character device)"_s);

    bd::JobSpec missing = spec(m_dir.filePath(u"missing.csv"_s), u"x"_s);
    QVERIFY(!bd::validateJobSpec(missing, nullptr, &error));
    QVERIFY2(error.endsWith(u": no such file"_s), qPrintable(error));
}

void TestJobIoHardening::emptyPromptsAreCounted()
{
    bd::store::SqliteStore store(m_dir.filePath(u"empty.sqlite"_s));
    QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
    // Rows 2 and 4 render to nothing but white space; a template with text of its own never.
    const QString path = write(u"blanks.csv"_s, "id,text\n1,hello\n2,  \n3,world\n4,\n");
    const bd::ImportResult blank =
        bd::importJob(store, spec(path, u" {{text}}\n"_s), QDateTime::currentMSecsSinceEpoch());
    QVERIFY2(blank.ok, qPrintable(blank.error));
    QCOMPARE(blank.rows, 4);
    const QStringList said = blank.warnings.filter(u"render an empty prompt"_s);
    QCOMPARE(said.size(), 1);
    QVERIFY2(said.constFirst().contains(u"2 row(s) render an empty prompt (first: data row 2)"_s),
             qPrintable(said.constFirst()));
    const bd::ImportResult worded =
        bd::importJob(store, spec(path, u"Say {{text}}"_s), QDateTime::currentMSecsSinceEpoch());
    QVERIFY2(worded.ok, qPrintable(worded.error));
    QVERIFY(worded.warnings.filter(u"render an empty prompt"_s).isEmpty());
}

void TestJobIoHardening::encodingFallbackIsReported()
{
    bd::store::SqliteStore store(m_dir.filePath(u"encoding.sqlite"_s));
    QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
    // Valid UTF-8 on line 2, a Windows-1252 byte on line 3: the file is read as Windows-1252.
    const QString path = write(u"mixed.csv"_s, "name,note\ncaf\xC3\xA9,x\nRen\xE9,y\n");
    const bd::ImportResult result =
        bd::importJob(store, spec(path, u"Say {{name}}"_s), QDateTime::currentMSecsSinceEpoch());
    QVERIFY2(result.ok, qPrintable(result.error));
    QCOMPARE(result.encoding, u"Windows-1252"_s);
    QVERIFY2(result.encodingNote.contains(u"not valid UTF-8 at line 3 (byte 0xE9)"_s),
             qPrintable(result.encodingNote));
    QVERIFY(!result.warnings.filter(u"read as Windows-1252"_s).isEmpty());

    // Said explicitly, nothing is guessed and nothing to say.
    bd::JobSpec given = spec(path, u"Say {{name}}!"_s);
    given.settings.insert(u"csv_encoding"_s, u"Windows-1252"_s);
    const bd::ImportResult explicitResult =
        bd::importJob(store, given, QDateTime::currentMSecsSinceEpoch());
    QVERIFY2(explicitResult.ok, qPrintable(explicitResult.error));
    QCOMPARE(explicitResult.encoding, u"Windows-1252"_s);
    QVERIFY(explicitResult.encodingNote.isEmpty());

    const QString utf8 = write(u"utf8.csv"_s, "name\ncaf\xC3\xA9\n");
    const bd::ImportResult clean =
        bd::importJob(store, spec(utf8, u"Say {{name}}"_s), QDateTime::currentMSecsSinceEpoch());
    QVERIFY(clean.ok);
    QCOMPARE(clean.encoding, u"UTF-8"_s);
    QVERIFY(clean.encodingNote.isEmpty());
    QVERIFY(clean.warnings.isEmpty());
}

void TestJobIoHardening::xlsxExportReportsCutCells()
{
    bd::store::SqliteStore store(m_dir.filePath(u"export.sqlite"_s));
    QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
    const QByteArray longText(40'000, 'a');
    const QString path =
        write(u"long.csv"_s, "id,text\n1," + longText + "\n2,short\n3," + longText + "\n");
    const bd::ImportResult imported = bd::importJob(store, spec(path, u"Summarise {{text}}"_s),
                                                    QDateTime::currentMSecsSinceEpoch());
    QVERIFY2(imported.ok, qPrintable(imported.error));

    const std::optional<bd::JobInfo> job = store.job(imported.jobId);
    QVERIFY(job);
    QString error;
    QStringList warnings{u"stale"_s};
    const QString xlsx = m_dir.filePath(u"out.xlsx"_s);
    QVERIFY2(bd::exportJob(store, *job, xlsx, &error, {}, {}, &warnings),
             qPrintable(error));
    QCOMPARE(warnings.size(), 1);
    QVERIFY2(warnings.first().contains(u"2 cell(s) longer than the 32767 characters"_s),
             qPrintable(warnings.first()));
    QVERIFY2(warnings.first().contains(u"column 'text'"_s), qPrintable(warnings.first()));

    // CSV holds any length: nothing to say, and the old warnings are gone.
    QVERIFY2(bd::exportJob(store, *job, m_dir.filePath(u"out.csv"_s), &error, {}, {},
                           &warnings),
             qPrintable(error));
    QVERIFY(warnings.isEmpty());
}

QTEST_GUILESS_MAIN(TestJobIoHardening)
#include "test_jobio_hardening.moc"
