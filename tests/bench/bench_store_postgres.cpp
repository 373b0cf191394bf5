// The claim/complete hot path on PostgreSQL through the store (QPSQL), on a private server
// (tests/store/privatepostgres.h) or BD_BENCH_PG_URL: import N tasks, then claim groups of G and
// complete each group in one transaction until none is left. Prints tasks/s for the import and the
// claim+complete loop. Usage: bench_store_postgres [N=20000] [G=100]

#include "../store/privatepostgres.h"
#include "core/tasktypes.h"
#include "store/database.h"
#include "store/store.h"

#include <cstdio>
#include <QCoreApplication>
#include <QElapsedTimer>

using namespace Qt::StringLiterals;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const int total = args.size() > 1 ? args.at(1).toInt() : 20'000;
    const int group = args.size() > 2 ? args.at(2).toInt() : 100;
    // BD_BENCH_PG_URL: a server of one's own (say, to compare with pgbench on the same data).
    QString url = qEnvironmentVariable("BD_BENCH_PG_URL");
    bd::storetest::PrivatePostgres server;
    if (url.isEmpty()) {
        if (!server.start()) {
            std::fprintf(stderr, "%s\n", qPrintable(server.errorString()));
            return 1;
        }
        url = server.url(u"bench"_s);
    }
    QString error;
    auto db = bd::store::Database::open(url, bd::store::Database::Access::ReadWrite, &error);
    if (!db) {
        std::fprintf(stderr, "%s\n", qPrintable(error));
        return 1;
    }
    bd::store::Store &store = db->queue();
    bd::JobSpec spec;
    spec.sourcePath = u"/bench.csv"_s;
    spec.templateText = u"{{a}}"_s;
    spec.model = u"sim"_s;
    const qint64 job = store.createJob(spec, {u"a"_s}, 1);
    QElapsedTimer timer;
    timer.start();
    for (int first = 0; first < total; first += 8192) {
        QList<QStringList> rows;
        for (int i = first; i < qMin(total, first + 8192); ++i)
            rows.append({u"row %1"_s.arg(i)});
        if (!store.appendTasks(job, first + 1, rows, 2, 1)) {
            std::fprintf(stderr, "%s\n", qPrintable(store.errorString()));
            return 1;
        }
    }
    const double importS = timer.nsecsElapsed() / 1e9;
    timer.restart();
    qint64 done = 0;
    QList<bd::ClaimedTask> claimed;
    for (;;) {
        if (!store.claimTasks(job, u"bench:1:1"_s, group, 10, 1'000'000, &claimed)) {
            std::fprintf(stderr, "%s\n", qPrintable(store.errorString()));
            return 1;
        }
        if (claimed.isEmpty())
            break;
        QList<bd::TaskTransition> transitions;
        for (const bd::ClaimedTask &task : std::as_const(claimed)) {
            bd::TaskTransition t;
            t.outcome.taskId = task.id;
            t.outcome.output = u"answer"_s;
            t.outcome.model = u"sim"_s;
            t.outcome.costUsd = 0.0001;
            t.outcome.httpStatus = 200;
            transitions.append(t);
        }
        if (!store.applyTransitions(u"bench:1:1"_s, transitions, 20)) {
            std::fprintf(stderr, "%s\n", qPrintable(store.errorString()));
            return 1;
        }
        done += claimed.size();
    }
    const double loopS = timer.nsecsElapsed() / 1e9;
    std::printf("QPSQL: import %d tasks: %.0f tasks/s; claim+complete (groups of %d): %lld tasks "
                "in %.2f s = %.0f tasks/s\n",
                total, total / importS, group, done, loopS, done / loopS);
    return 0;
}
