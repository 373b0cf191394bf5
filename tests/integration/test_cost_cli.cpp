// The cost commands of batchctl on the simulator: `estimate` and `run --dry-run` (tokens
// and cost per lane before anything is imported or sent, calibrated and cache-aware once a
// database has answers), and the cost report of `status` (spend by lane, model and token
// kind, response-cache hits, the naive run and the savings), in JSON and as text.

#include "../support/batchctlrun.h"
#include "cost/pricetable.h"

#include <cmath>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;

namespace {

const QString kTemplate = u"Label this: {{text}}"_s;
const QString kSystem = u"You label things in one word."_s;
constexpr int kRows = 40;

bool near(double a, double b)
{
    return std::fabs(a - b) <= 1e-6 * std::max(1.0, std::fabs(b)) + 1e-9;
}

qint64 tokensOf(qsizetype chars)
{
    return (qint64(chars) + 3) / 4;
}

} // namespace

class TestCostCli : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void estimateBeforeAnythingRuns();
    void dryRunIsTheEstimate();
    void statusReportsWhereTheMoneyWent();

private:
    BatchctlRun batchctl(const QStringList &arguments);
    QStringList jobArguments(const QString &command, const QString &db) const;

    QTemporaryDir m_dir;
    QProcessEnvironment m_env;
    QString m_csv;
    QStringList m_texts; // every fifth row repeats an earlier one
};

void TestCostCli::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_env = QProcessEnvironment::systemEnvironment();
    m_env.insert(u"XDG_CONFIG_HOME"_s, m_dir.filePath(u"config"_s));
    m_env.insert(u"XDG_DATA_HOME"_s, m_dir.filePath(u"data"_s));
    m_env.insert(u"HOME"_s, m_dir.path());
    m_csv = m_dir.filePath(u"rows.csv"_s);
    QFile file(m_csv);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("id,text\n");
    for (int i = 0; i < kRows; ++i) {
        m_texts.append(i % 5 == 4 ? m_texts.at(i - 1) : u"review %1 of the kettle"_s.arg(i));
        file.write(QByteArray::number(i) + ',' + m_texts.constLast().toUtf8() + '\n');
    }
}

BatchctlRun TestCostCli::batchctl(const QStringList &arguments)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, m_env, m_dir.path(), 60'000);
}

QStringList TestCostCli::jobArguments(const QString &command, const QString &db) const
{
    return {command,
            m_csv,
            u"--template"_s,
            kTemplate,
            u"--system"_s,
            kSystem,
            u"--max-output-tokens"_s,
            u"64"_s,
            u"--db"_s,
            db,
            u"--json"_s};
}

void TestCostCli::estimateBeforeAnythingRuns()
{
    const QString db = m_dir.filePath(u"estimate.sqlite"_s);
    const BatchctlRun run = batchctl(jobArguments(u"estimate"_s, db));
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    QVERIFY(!QFileInfo::exists(db)); // nothing imported, no database made
    const QJsonObject e = run.json();
    const int duplicates = kRows / 5;
    QCOMPARE(e.value(u"rows"_s).toInt(), kRows);
    QCOMPARE(e.value(u"duplicate_rows"_s).toInt(), duplicates);
    QCOMPARE(e.value(u"distinct_prompts"_s).toInt(), kRows - duplicates);
    QCOMPARE(e.value(u"rows_to_send"_s).toInt(), kRows - duplicates);
    QCOMPARE(e.value(u"model"_s).toString(), u"sim-1"_s);
    QCOMPARE(e.value(u"simulated"_s).toBool(), true);

    // chars/4 of the system prompt and the rendered row, each row; the rows sent are the
    // distinct ones (the response cache answers the rest).
    qint64 all = 0;
    qint64 sent = 0;
    QSet<QString> seen;
    for (const QString &text : std::as_const(m_texts)) {
        const qint64 tokens = tokensOf(kSystem.size() + u"Label this: "_s.size() + text.size());
        all += tokens;
        if (!seen.contains(text))
            sent += tokens;
        seen.insert(text);
    }
    const QJsonObject input = e.value(u"input_tokens"_s).toObject();
    QCOMPARE(input.value(u"estimate"_s).toInteger(), sent);
    QCOMPARE(input.value(u"all_rows"_s).toInteger(), all);
    QCOMPARE(input.value(u"low"_s).toInteger(), qint64(double(sent) * 0.75));
    QCOMPARE(input.value(u"high"_s).toInteger(), qint64(double(sent) * 1.25));

    // Cost in each lane at the most output (64 per row), from the price table.
    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    bd::Usage usage;
    usage.inputTokens = sent;
    usage.outputTokens = 64 * (kRows - duplicates);
    const QJsonObject cost = e.value(u"cost_usd"_s).toObject();
    QVERIFY(near(cost[u"realtime"_s][u"max"_s].toDouble(), *prices.cost(u"sim-1"_s, usage, false)));
    QVERIFY(near(cost[u"batch_api"_s][u"max"_s].toDouble(), *prices.cost(u"sim-1"_s, usage, true)));
    bd::Usage naive;
    naive.inputTokens = all;
    naive.outputTokens = 64 * kRows;
    QVERIFY(near(cost[u"naive"_s][u"max"_s].toDouble(), *prices.naiveCost(u"sim-1"_s, naive)));
    QVERIFY(cost[u"realtime"_s][u"typical"_s].isNull()); // nothing to calibrate from yet

    // Text output says the same, per lane.
    QStringList human = jobArguments(u"estimate"_s, db);
    human.removeAll(u"--json"_s);
    const BatchctlRun text = batchctl(human);
    QVERIFY2(text.exitCode == 0, qPrintable(text.describe()));
    QVERIFY(text.out.contains("40 rows, 32 distinct prompts, 8 duplicate rows"));
    QVERIFY(text.out.contains("realtime  at most $"));
    QVERIFY(text.out.contains("batch-api at most $"));

    // An unknown model is a usage error.
    const BatchctlRun bad = batchctl(jobArguments(u"estimate"_s, db) << u"--model"_s << u"sim-9"_s);
    QCOMPARE(bad.exitCode, 2);
    QVERIFY(bad.err.contains("unknown model 'sim-9'"));
}

void TestCostCli::dryRunIsTheEstimate()
{
    const QString db = m_dir.filePath(u"dryrun.sqlite"_s);
    const BatchctlRun estimate = batchctl(jobArguments(u"estimate"_s, db));
    const BatchctlRun dry = batchctl(jobArguments(u"run"_s, db) << u"--dry-run"_s);
    QVERIFY2(dry.exitCode == 0, qPrintable(dry.describe()));
    QCOMPARE(dry.json(), estimate.json());
    QVERIFY(!QFileInfo::exists(db));
}

void TestCostCli::statusReportsWhereTheMoneyWent()
{
    const QString db = m_dir.filePath(u"status.sqlite"_s);
    const BatchctlRun run = batchctl(jobArguments(u"run"_s, db));
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    const double spent = run.json().value(u"cost_usd"_s).toDouble();
    QVERIFY(spent > 0);

    const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonObject job = status.json().value(u"jobs"_s).toArray().at(0).toObject();
    const QJsonObject cost = job.value(u"cost"_s).toObject();
    const int duplicates = kRows / 5;
    QVERIFY(near(cost.value(u"cost_usd"_s).toDouble(), spent));
    QCOMPARE(cost.value(u"cost_known"_s).toBool(), true);
    QCOMPARE(cost.value(u"response_cache_hits"_s).toInt(), duplicates);
    QCOMPARE(cost.value(u"sent_tasks"_s).toInt(), kRows - duplicates);
    QCOMPARE(cost[u"by_lane"_s][u"grouped"_s][u"tasks"_s].toInt(), kRows - duplicates);
    QCOMPARE(cost[u"by_lane"_s][u"response-cache"_s][u"tasks"_s].toInt(), duplicates);
    QCOMPARE(cost[u"by_lane"_s][u"response-cache"_s][u"cost_usd"_s].toDouble(), 0.0);
    QCOMPARE(cost[u"by_model"_s][u"sim-1"_s][u"tasks"_s].toInt(), kRows);
    const QJsonObject kinds = cost.value(u"by_token_kind"_s).toObject();
    QVERIFY(near(kinds[u"input"_s].toDouble() + kinds[u"cached_input"_s].toDouble() +
                     kinds[u"cache_write"_s].toDouble() + kinds[u"output"_s].toDouble(),
                 spent));

    // Naive: every row realtime at list price, the cache hits paid like the mean answer.
    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    const QJsonObject tokens = cost.value(u"tokens"_s).toObject();
    bd::Usage sentUsage;
    sentUsage.inputTokens = tokens[u"input"_s].toInteger();
    sentUsage.cachedTokens = tokens[u"cached_input"_s].toInteger();
    sentUsage.outputTokens = tokens[u"output"_s].toInteger();
    const double naiveSent = *prices.naiveCost(u"sim-1"_s, sentUsage);
    const double naive = naiveSent + naiveSent / (kRows - duplicates) * duplicates;
    QVERIFY(near(cost.value(u"naive_cost_usd"_s).toDouble(), naive));
    QVERIFY(near(cost.value(u"savings_usd"_s).toDouble(), naive - spent));
    QVERIFY(near(cost.value(u"cost_vs_naive"_s).toDouble(), std::round(spent / naive * 1e4) / 1e4));
    QVERIFY(!cost.contains(u"by_tier"_s)); // one model: no tiering section

    const BatchctlRun text = batchctl({u"status"_s, u"--db"_s, db});
    QVERIFY2(text.exitCode == 0, qPrintable(text.describe()));
    QVERIFY(text.out.contains("lanes: grouped 32 tasks $"));
    QVERIFY(text.out.contains("response cache hits 8; naive run $"));
    // The share saved, not the share spent.
    const QString savedShare = QString::number((naive - spent) / naive * 100, 'f', 1);
    QVERIFY2(text.out.contains(u"(%1% of naive)"_s.arg(savedShare).toUtf8()), text.out.constData());
    QVERIFY(text.out.contains("tokens: input $"));

    // Once answered, an estimate of the same input sends nothing and knows typical output.
    const BatchctlRun again = batchctl(jobArguments(u"estimate"_s, db));
    QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
    QCOMPARE(again.json().value(u"cached_rows"_s).toInt(), kRows - duplicates);
    QCOMPARE(again.json().value(u"rows_to_send"_s).toInt(), 0);
    QCOMPARE(again.json()[u"output_tokens"_s][u"calibrated_from_tasks"_s].toInt(),
             kRows - duplicates);
}

QTEST_GUILESS_MAIN(TestCostCli)
#include "test_cost_cli.moc"
