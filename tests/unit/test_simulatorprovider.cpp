// The simulator's answers are what tests and benchmarks check rows against: their text, the
// markers that make a try fail, and when they arrive. Pinned here so that making the
// simulator cheaper (issue #19: a zero-latency run builds 300,000 answers on the engine
// thread) cannot change one of them.

#include "api/jobsettings.h"
#include "core/clock.h"
#include "providers/simulatorprovider.h"

#include <QSignalSpy>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ErrorClass;
using bd::providers::ChatReply;
using bd::providers::ChatRequest;
using bd::providers::SimulatorProvider;

namespace {

SimulatorProvider *simulator(bd::Clock *clock, double failureRate = 0.0)
{
    bd::ProviderConfig config;
    config.settings.insert(bd::settingkeys::simFailureRate, failureRate);
    return new SimulatorProvider(config, clock);
}

ChatRequest request(qint64 taskId, const QString &prompt, int attempt = 1)
{
    ChatRequest chat;
    chat.taskId = taskId;
    chat.attempt = attempt;
    chat.model = u"sim-1"_s;
    chat.systemPrompt = u"Be brief."_s;
    chat.prompt = prompt;
    return chat;
}

} // namespace

class TestSimulatorProvider : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void answerTextIsTheDocumentedForm_data();
    void answerTextIsTheDocumentedForm();
    void markersDecideTheOutcome_data();
    void markersDecideTheOutcome();
    void failureRateFailsTheSameTriesEveryTime();
    void answersArriveLaterInSendOrder();
};

void TestSimulatorProvider::answerTextIsTheDocumentedForm_data()
{
    // "[simulated] LABEL (NNNNN) for: " and the prompt's first 120 characters; the label and
    // number come from an FNV-1a hash of system prompt and prompt (values as main answered
    // them on 2026-12-03).
    QTest::addColumn<QString>("systemPrompt");
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<QString>("head");
    QTest::newRow("plain") << u"Be brief."_s << u"Rate this kettle review from 1 to 5"_s
                           << u"positive (98756)"_s;
    QTest::newRow("empty") << QString() << QString() << u"mixed (65603)"_s;
    // Placeholders in a prompt are text, not arguments.
    QTest::newRow("percent signs")
        << u"%1 %2"_s << u"100% of %1 and %2, %3 %L1 %%"_s << u"negative (22893)"_s;
    QTest::newRow("long, cut at 120")
        << u"s"_s << QString(u"The review: "_s + QString(300, u'x') + u" end"_s)
        << u"neutral (17650)"_s;
    QTest::newRow("non-Latin") << u"システム"_s << u"Évaluez ce produit — ★★★★☆ 😀 ok"_s
                               << u"negative (80869)"_s;
}

void TestSimulatorProvider::answerTextIsTheDocumentedForm()
{
    QFETCH(QString, systemPrompt);
    QFETCH(QString, prompt);
    QFETCH(QString, head);
    QCOMPARE(SimulatorProvider::answerFor(systemPrompt, prompt),
             u"[simulated] "_s + head + u" for: "_s + prompt.left(120));
}

void TestSimulatorProvider::markersDecideTheOutcome_data()
{
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<int>("error");
    QTest::addColumn<int>("httpStatus");
    QTest::newRow("none") << u"an ordinary row"_s << int(ErrorClass::None) << 200;
    QTest::newRow("invalid") << u"row [[sim:invalid]] here"_s << int(ErrorClass::InvalidRequest)
                             << 400;
    QTest::newRow("quota") << u"[[sim:quota]]"_s << int(ErrorClass::QuotaExhausted) << 429;
    QTest::newRow("fail") << u"x [[sim:fail]]"_s << int(ErrorClass::ServerError) << 500;
    // The first marker checked wins: invalid before quota before fail.
    QTest::newRow("invalid and fail")
        << u"[[sim:fail]] [[sim:invalid]]"_s << int(ErrorClass::InvalidRequest) << 400;
    // Only whole markers count.
    QTest::newRow("prefix only") << u"[[sim: not a marker"_s << int(ErrorClass::None) << 200;
    QTest::newRow("unknown marker") << u"[[sim:other]]"_s << int(ErrorClass::None) << 200;
}

void TestSimulatorProvider::markersDecideTheOutcome()
{
    QFETCH(QString, prompt);
    QFETCH(int, error);
    QFETCH(int, httpStatus);
    bd::FakeClock clock;
    std::unique_ptr<SimulatorProvider> provider(simulator(&clock));
    QSignalSpy replies(provider.get(), &SimulatorProvider::replied);
    provider->send(request(7, prompt));
    QVERIFY(replies.wait(5'000));
    const auto reply = replies.at(0).at(0).value<ChatReply>();
    QCOMPARE(reply.taskId, 7);
    QCOMPARE(int(reply.error), error);
    QCOMPARE(reply.httpStatus, httpStatus);
    if (error == int(ErrorClass::None))
        QCOMPARE(reply.text, SimulatorProvider::answerFor(u"Be brief."_s, prompt));
    else
        QVERIFY(reply.text.isEmpty());
}

void TestSimulatorProvider::failureRateFailsTheSameTriesEveryTime()
{
    // failure_rate picks the failing tries by hashing prompt and attempt: the same prompt
    // and attempt fail in every run, and another attempt of it is a fresh draw.
    bd::FakeClock clock;
    const auto outcomes = [&](double rate) {
        std::unique_ptr<SimulatorProvider> provider(simulator(&clock, rate));
        QSignalSpy replies(provider.get(), &SimulatorProvider::replied);
        for (int i = 0; i < 200; ++i)
            provider->send(request(i + 1, u"row %1"_s.arg(i), 1 + i % 3));
        while (replies.size() < 200 && replies.wait(5'000)) {
        }
        QString failed;
        for (const QList<QVariant> &args : std::as_const(replies))
            failed += args.at(0).value<ChatReply>().ok() ? u'.' : u'x';
        return failed;
    };
    // Tries 1-200 ("row 0".."row 199", attempts 1, 2, 3, 1, ...) at 50 %, as main drew them
    // on 2026-12-03.
    const QString expected =
        u"x.x.xx..x..x..xxx.....xxxx.....x..xxx..x.....x.x.x.xx.x....x..x....xx....x...x.x..xx"
        "xx...xx.x.xx.x.xxx..xxx....x.x...x..x.x.xxx.x...xxx.xx....xxxxx..xx.xxx.xxxx.x.xx.xx."
        "xxx.x.xxx..x..xxx...xxxx.x.x.x."_s;
    QCOMPARE(outcomes(0.5), expected);
    QCOMPARE(outcomes(0.5), expected);
    QCOMPARE(outcomes(0.0), QString(200, u'.'));
}

void TestSimulatorProvider::answersArriveLaterInSendOrder()
{
    // Never from inside send() (callers hold state across it), then in the order sent.
    bd::FakeClock clock;
    std::unique_ptr<SimulatorProvider> provider(simulator(&clock));
    QSignalSpy replies(provider.get(), &SimulatorProvider::replied);
    for (qint64 id = 1; id <= 50; ++id)
        provider->send(request(id, u"row %1"_s.arg(id)));
    QCOMPARE(replies.size(), 0);
    QCOMPARE(provider->inFlight(), 50);
    while (replies.size() < 50 && replies.wait(5'000)) {
    }
    QCOMPARE(replies.size(), 50);
    for (qint64 id = 1; id <= 50; ++id)
        QCOMPARE(replies.at(id - 1).at(0).value<ChatReply>().taskId, id);
    QCOMPARE(provider->inFlight(), 0);
}

QTEST_GUILESS_MAIN(TestSimulatorProvider)
#include "test_simulatorprovider.moc"
