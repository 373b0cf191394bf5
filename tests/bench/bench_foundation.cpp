// Foundation benchmark: import a generated CSV of N rows, drain it through the simulator at
// zero latency, and compare the import with a plain sqlite3 bulk insert of the same rows
// into a table of the same shape. Prints figures; asserts nothing.
//
//   bench_foundation [--rows N] [--dir DIR]

#include "core/clock.h"
#include "core/jsonutil.h"
#include "cost/pricetable.h"
#include "dispatch/jobrunner.h"
#include "jobio.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/sqliteconnection.h"
#include "store/sqlite/sqlitestore.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QTemporaryDir>

#include <sqlite3.h>

#include <cstdio>

using namespace Qt::StringLiterals;

namespace {

// Peak resident set size of this process so far, in MiB (Linux VmHWM).
double peakRssMiB()
{
    QFile status(u"/proc/self/status"_s);
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').first().toDouble() / 1024.0;
    }
    return -1;
}

// Deterministic rows of about 150 bytes: id, customer, product, rating, review text.
struct RowGenerator
{
    QList<QByteArray> fields(qint64 i) const
    {
        static const char *const products[] = {"wireless earbuds", "standing desk",
                                               "espresso machine", "trail shoes", "4K monitor"};
        static const char *const phrases[] = {
            "works exactly as described, arrived a day early and the setup took minutes",
            "stopped working after two weeks, and support never replied to my emails",
            "has great sound but the case feels cheap and scratches far too easily",
            "does the job; nothing special, but a fair deal for the price we paid"};
        return {QByteArray("R") + QByteArray::number(i), QByteArray("customer-") + QByteArray::number(i % 9973),
                products[i % 5], QByteArray::number(1 + i % 5),
                QByteArray("2026-") + QByteArray::number(10 + i % 3) + '-' + QByteArray::number(10 + i % 19),
                QByteArray("The ") + products[i % 5] + ' ' + phrases[(i / 5) % 4] + ". Order "
                    + QByteArray::number(i * 7919 % 1000003) + '.'};
    }
};

void generateCsv(const QString &path, qint64 rows)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    RowGenerator generator;
    QByteArray buffer = "review_id,customer,product,rating,date,review\n";
    for (qint64 i = 1; i <= rows; ++i) {
        const QList<QByteArray> fields = generator.fields(i);
        for (int f = 0; f < fields.size(); ++f) {
            if (f)
                buffer += ',';
            // Quote the free-text column as a spreadsheet would: it holds commas.
            if (f == fields.size() - 1)
                buffer += '"' + fields.at(f) + '"';
            else
                buffer += fields.at(f);
        }
        buffer += '\n';
        if (buffer.size() > (1 << 20)) {
            file.write(buffer);
            buffer.clear();
        }
    }
    file.write(buffer);
}

// The baseline: one prepared INSERT in one transaction, same schema, same pragmas.
double plainInsertRowsPerSecond(const QString &path, qint64 rows)
{
    {
        bd::store::SqliteStore schemaOnly(path); // same tables and indexes
        if (!schemaOnly.createJob(bd::JobSpec{}, {u"a"_s}, 0))
            qFatal("baseline schema: %s", qPrintable(schemaOnly.errorString()));
    }
    sqlite3 *db = nullptr;
    sqlite3_open(path.toUtf8().constData(), &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt *insert = nullptr;
    sqlite3_prepare_v2(db,
                       "INSERT INTO tasks (job_id, row_no, vals, priority, created_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
                       -1, &insert, nullptr);
    RowGenerator generator;
    QElapsedTimer timer;
    timer.start();
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    QByteArray vals;
    for (qint64 i = 1; i <= rows; ++i) {
        // The row as the store keeps it (a JSON array of strings), built without Qt strings.
        vals = "[";
        const QList<QByteArray> fields = generator.fields(i);
        for (int f = 0; f < fields.size(); ++f) {
            if (f)
                vals += ',';
            vals += '"';
            vals += fields.at(f);
            vals += '"';
        }
        vals += ']';
        sqlite3_bind_int64(insert, 1, 1);
        sqlite3_bind_int64(insert, 2, i);
        sqlite3_bind_text(insert, 3, vals.constData(), int(vals.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(insert, 4, 2);
        sqlite3_bind_int64(insert, 5, 0);
        if (sqlite3_step(insert) != SQLITE_DONE)
            qFatal("baseline insert failed: %s", sqlite3_errmsg(db));
        sqlite3_reset(insert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    const double seconds = double(timer.nsecsElapsed()) / 1e9;
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return double(rows) / seconds;
}

} // namespace

// What checking the database's pages costs at this size: the full and quick checks SQLite
// offers, and what every open pays (the bounded check, engine/store/sqlite/sqliteconnection).
void printIntegrityFigures(const QString &dbPath, qint64 tasks)
{
    using bd::store::SqliteConnection;
    const double mib = double(QFileInfo(dbPath).size()) / (1024.0 * 1024.0);
    QElapsedTimer timer;
    for (const bool full : {false, true}) {
        SqliteConnection connection(dbPath, bd::store::Database::Access::ReadOnly,
                                    SqliteConnection::OpenCheck::None);
        timer.start();
        const auto problems = connection.integrityProblems(full);
        const double seconds = double(timer.nsecsElapsed()) / 1e9;
        std::printf("integrity: %s over %lld tasks, %.0f MiB: %.3f s (%.0f MiB/s)%s\n",
                    full ? "integrity_check" : "quick_check    ", tasks, mib, seconds,
                    mib / seconds, problems && problems->isEmpty() ? "" : " NOT OK");
    }
    timer.start();
    const SqliteConnection opened(dbPath, bd::store::Database::Access::ReadOnly);
    std::printf("integrity: open with the bounded check: %.3f s%s\n",
                double(timer.nsecsElapsed()) / 1e9, opened.isOpen() ? "" : " FAILED");
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    QCommandLineParser parser;
    parser.addOption({u"rows"_s, u"Rows to generate."_s, u"N"_s, u"1000000"_s});
    parser.addOption({u"dir"_s, u"Scratch folder (default: a temporary one)."_s, u"DIR"_s});
    parser.addOption({u"concurrency"_s, u"Simulated requests in flight."_s, u"N"_s, u"256"_s});
    parser.addHelpOption();
    parser.process(app);
    const qint64 rows = parser.value(u"rows"_s).toLongLong();
    QTemporaryDir tempDir;
    const QString dir = parser.isSet(u"dir"_s) ? parser.value(u"dir"_s) : tempDir.path();
    const QString csvPath = dir + u"/bench.csv"_s;
    const QString dbPath = dir + u"/bench.sqlite"_s;
    const QString baselinePath = dir + u"/baseline.sqlite"_s;
    for (const QString &p : {dbPath, baselinePath}) {
        for (const QString &suffix : {u""_s, u"-wal"_s, u"-shm"_s})
            QFile::remove(p + suffix);
    }

    generateCsv(csvPath, rows);
    const qint64 csvBytes = QFileInfo(csvPath).size();
    std::printf("input: %lld rows, %.1f MB (%.0f bytes/row)\n", rows, csvBytes / 1e6,
                double(csvBytes) / double(rows));

    bd::store::SqliteStore store(dbPath);
    if (!store.isOpen())
        qFatal("%s", qPrintable(store.errorString()));
    bd::JobSpec spec;
    spec.sourcePath = csvPath;
    spec.templateText = u"Classify the sentiment of this {{product}} review: {{review}}"_s;
    spec.model = u"sim-1"_s;
    QElapsedTimer timer;
    timer.start();
    const bd::ImportResult imported = bd::importJob(store, spec, bd::SystemClock::instance()->nowMs());
    const double importSeconds = double(timer.nsecsElapsed()) / 1e9;
    if (!imported.ok)
        qFatal("import failed: %s", qPrintable(imported.error));
    const double importRate = double(imported.rows) / importSeconds;
    std::printf("import:  %lld rows in %.2f s = %.0f rows/s (parse, hash, encode, insert)\n",
                imported.rows, importSeconds, importRate);

    bd::dispatch::JobRunner::Options options;
    options.concurrency = parser.value(u"concurrency"_s).toInt();
    options.claimBatch = 2048;
    options.flushMaxTransitions = 4096;
    bd::ProviderConfig simulator;
    const auto job = store.job(imported.jobId);
    bd::dispatch::JobRunner runner(
        &store, std::make_unique<bd::providers::SimulatorProvider>(simulator, bd::SystemClock::instance()),
        *job, bd::cost::PriceTable::builtIn(), bd::SystemClock::instance(), u"bench:1:0"_s, options);
    QEventLoop loop;
    QObject::connect(&runner, &bd::dispatch::JobRunner::finished, &loop, &QEventLoop::quit);
    QObject::connect(&runner, &bd::dispatch::JobRunner::failed, &loop,
                     [&](qint64, const QString &error) { qFatal("drain failed: %s", qPrintable(error)); });
    timer.restart();
    runner.start();
    loop.exec();
    const double drainSeconds = double(timer.nsecsElapsed()) / 1e9;
    const bd::TaskCounts counts = store.taskCounts(imported.jobId);
    std::printf("drain:   %lld tasks in %.2f s = %.0f tasks/s (claim, render, simulate, record)\n",
                counts.completed, drainSeconds, double(counts.completed) / drainSeconds);
    if (counts.completed != rows)
        std::printf("WARNING: %lld of %lld completed\n", counts.completed, rows);
    const double peak = peakRssMiB();
    std::printf("peak RSS (import + drain): %.0f MiB\n", peak);

    const double plainRate = plainInsertRowsPerSecond(baselinePath, rows);
    std::printf("baseline: plain sqlite3 insert of the same rows = %.0f rows/s\n", plainRate);
    std::printf("ratio:   import / plain insert = %.2f\n", importRate / plainRate);
    std::printf("goals:   ratio >= 0.50, drain >= 20000 tasks/s, peak RSS <= 250 MiB\n");
    printIntegrityFigures(dbPath, rows);
    return 0;
}
