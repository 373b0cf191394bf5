#include "providers/errorclassification.h"
#include "providers/ratelimitheaders.h"
#include "providers/usageparsing.h"

#include <limits>
#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ErrorClass;
using namespace bd::providers;
using namespace bd::providers::ratelimit;

Q_DECLARE_METATYPE(bd::ErrorClass)

namespace {

// 2026-11-26T10:00:00Z
constexpr qint64 kNow = 1'795'687'200'000;

RawHeaders headers(std::initializer_list<std::pair<const char *, const char *>> list)
{
    RawHeaders result;
    for (const auto &[name, value] : list)
        result.append({QByteArray(name), QByteArray(value)});
    return result;
}

} // namespace

class TestProviderParsing : public QObject
{
    Q_OBJECT

private slots:
    void nowConstantIsRight();
    void duration_data();
    void duration();
    void rfc3339_data();
    void rfc3339();
    void httpDate_data();
    void httpDate();
    void headerLookupIsCaseInsensitive();
    void openAiHeaders();
    void openAiHeadersMissingAreUnknown();
    void anthropicHeaders();
    void anthropicInputTokensStandIn();
    void eitherFamily();
    void retryAfter_data();
    void retryAfter();
    void waitFromLimits_data();
    void waitFromLimits();
    void httpErrors_data();
    void httpErrors();
    void httpErrorMessage();
    void errorEnvelopes_data();
    void errorEnvelopes();
    void networkErrors_data();
    void networkErrors();
    void redaction_data();
    void redaction();
    void tidyTruncates();
    void tokenCounts();
    void usageTotalsSaturate();
};

void TestProviderParsing::nowConstantIsRight()
{
    QCOMPARE(QDateTime::fromString(u"2026-11-26T10:00:00Z"_s, Qt::ISODate).toMSecsSinceEpoch(),
             kNow);
}

void TestProviderParsing::duration_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<qint64>("ms");
    QTest::newRow("1s") << "1s"_ba << qint64(1000);
    QTest::newRow("6m0s") << "6m0s"_ba << qint64(360'000);
    QTest::newRow("450ms") << "450ms"_ba << qint64(450);
    QTest::newRow("1h2m3.5s") << "1h2m3.5s"_ba << qint64(3'723'500);
    QTest::newRow("17.28s") << "17.28s"_ba << qint64(17'280);
    QTest::newRow("0.1s exact") << "0.1s"_ba << qint64(100);
    QTest::newRow("0s") << "0s"_ba << qint64(0);
    QTest::newRow("20us rounds up") << "20us"_ba << qint64(1);
    QTest::newRow("micro sign") << "1500\xC2\xB5s"_ba << qint64(2);
    QTest::newRow("ns") << "2000000ns"_ba << qint64(2);
    QTest::newRow("fractional minutes") << "1.5m"_ba << qint64(90'000);
    QTest::newRow("bare seconds") << "7"_ba << qint64(7000);
    QTest::newRow("spaces trimmed") << " 2s "_ba << qint64(2000);
    QTest::newRow("1.5ms rounds up") << "1.5ms"_ba << qint64(2);
    QTest::newRow("empty") << ""_ba << qint64(-1);
    QTest::newRow("garbage") << "soon"_ba << qint64(-1);
    QTest::newRow("unknown unit") << "5d"_ba << qint64(-1);
    QTest::newRow("negative") << "-1s"_ba << qint64(-1);
    QTest::newRow("unit without number") << "ms"_ba << qint64(-1);
    QTest::newRow("bare number after unit") << "1m30"_ba << qint64(-1);
    QTest::newRow("absurd") << "99999999999h"_ba << qint64(-1);
}

void TestProviderParsing::duration()
{
    QFETCH(QByteArray, text);
    QFETCH(qint64, ms);
    QCOMPARE(parseDurationMs(text), ms);
}

void TestProviderParsing::rfc3339_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<qint64>("ms");
    QTest::newRow("30 s ahead") << "2026-11-26T10:00:30Z"_ba << qint64(30'000);
    QTest::newRow("fraction") << "2026-11-26T10:00:01.250Z"_ba << qint64(1'250);
    QTest::newRow("offset") << "2026-11-26T11:00:05+01:00"_ba << qint64(5'000);
    QTest::newRow("past is zero") << "2026-11-26T09:59:00Z"_ba << qint64(0);
    QTest::newRow("no zone") << "2026-11-26T10:00:30"_ba << qint64(-1);
    QTest::newRow("garbage") << "tomorrow"_ba << qint64(-1);
    QTest::newRow("empty") << ""_ba << qint64(-1);
}

void TestProviderParsing::rfc3339()
{
    QFETCH(QByteArray, text);
    QFETCH(qint64, ms);
    QCOMPARE(parseRfc3339DelayMs(text, kNow), ms);
}

void TestProviderParsing::httpDate_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<qint64>("ms");
    QTest::newRow("IMF-fixdate") << "Thu, 26 Nov 2026 10:00:07 GMT"_ba << qint64(7'000);
    QTest::newRow("past") << "Thu, 26 Nov 2026 09:00:00 GMT"_ba << qint64(0);
    QTest::newRow("garbage") << "Someday"_ba << qint64(-1);
}

void TestProviderParsing::httpDate()
{
    QFETCH(QByteArray, text);
    QFETCH(qint64, ms);
    QCOMPARE(parseHttpDateDelayMs(text, kNow), ms);
}

void TestProviderParsing::headerLookupIsCaseInsensitive()
{
    const RawHeaders list = headers({{"X-RateLimit-Limit-Requests", "500"}, {"Empty", ""}});
    QCOMPARE(headerValue(list, "x-ratelimit-limit-requests"), "500"_ba);
    QVERIFY(!headerValue(list, "empty").isNull());
    QVERIFY(headerValue(list, "missing").isNull());
}

void TestProviderParsing::openAiHeaders()
{
    const RateLimitInfo info = parseOpenAiRateLimits(headers({
        {"x-ratelimit-limit-requests", "10000"},
        {"x-ratelimit-remaining-requests", "9998"},
        {"x-ratelimit-reset-requests", "12ms"},
        {"x-ratelimit-limit-tokens", "2000000"},
        {"x-ratelimit-remaining-tokens", "1999100"},
        {"x-ratelimit-reset-tokens", "6m0s"},
    }));
    QCOMPARE(info.limitRequests, 10000);
    QCOMPARE(info.remainingRequests, 9998);
    QCOMPARE(info.resetRequestsMs, 12);
    QCOMPARE(info.limitTokens, 2'000'000);
    QCOMPARE(info.remainingTokens, 1'999'100);
    QCOMPARE(info.resetTokensMs, 360'000);
    QVERIFY(info.isKnown());
}

void TestProviderParsing::openAiHeadersMissingAreUnknown()
{
    const RateLimitInfo info = parseOpenAiRateLimits(
        headers({{"content-type", "application/json"}, {"x-ratelimit-limit-requests", "lots"}}));
    QCOMPARE(info.limitRequests, -1);
    QCOMPARE(info.remainingRequests, -1);
    QCOMPARE(info.resetRequestsMs, -1);
    QCOMPARE(info.limitTokens, -1);
    QCOMPARE(info.remainingTokens, -1);
    QCOMPARE(info.resetTokensMs, -1);
    QVERIFY(!info.isKnown());
}

void TestProviderParsing::anthropicHeaders()
{
    const RateLimitInfo info =
        parseAnthropicRateLimits(headers({
                                     {"anthropic-ratelimit-requests-limit", "50"},
                                     {"anthropic-ratelimit-requests-remaining", "0"},
                                     {"anthropic-ratelimit-requests-reset", "2026-11-26T10:00:12Z"},
                                     {"anthropic-ratelimit-tokens-limit", "40000"},
                                     {"anthropic-ratelimit-tokens-remaining", "39000"},
                                     {"anthropic-ratelimit-tokens-reset", "2026-11-26T10:00:01.5Z"},
                                     {"anthropic-ratelimit-input-tokens-limit", "30000"},
                                 }),
                                 kNow);
    QCOMPARE(info.limitRequests, 50);
    QCOMPARE(info.remainingRequests, 0);
    QCOMPARE(info.resetRequestsMs, 12'000);
    QCOMPARE(info.limitTokens, 40'000);
    QCOMPARE(info.remainingTokens, 39'000);
    QCOMPARE(info.resetTokensMs, 1'500);
}

void TestProviderParsing::anthropicInputTokensStandIn()
{
    const RateLimitInfo info = parseAnthropicRateLimits(
        headers({
            {"anthropic-ratelimit-input-tokens-limit", "30000"},
            {"anthropic-ratelimit-input-tokens-remaining", "100"},
            {"anthropic-ratelimit-input-tokens-reset", "2026-11-26T10:00:03Z"},
        }),
        kNow);
    QCOMPARE(info.limitRequests, -1);
    QCOMPARE(info.limitTokens, 30'000);
    QCOMPARE(info.remainingTokens, 100);
    QCOMPARE(info.resetTokensMs, 3'000);
}

void TestProviderParsing::eitherFamily()
{
    QCOMPARE(parseRateLimits(headers({{"x-ratelimit-limit-requests", "7"}}), kNow).limitRequests,
             7);
    QCOMPARE(
        parseRateLimits(headers({{"anthropic-ratelimit-requests-limit", "9"}}), kNow).limitRequests,
        9);
    QVERIFY(!parseRateLimits({}, kNow).isKnown());
}

void TestProviderParsing::retryAfter_data()
{
    QTest::addColumn<QByteArray>("retryAfterMs");
    QTest::addColumn<QByteArray>("retryAfter");
    QTest::addColumn<qint64>("ms");
    QTest::newRow("none") << QByteArray() << QByteArray() << qint64(-1);
    QTest::newRow("seconds") << QByteArray() << "20"_ba << qint64(20'000);
    QTest::newRow("fractional seconds") << QByteArray() << "0.5"_ba << qint64(500);
    QTest::newRow("ms wins") << "1234"_ba
                             << "2"_ba << qint64(1'234);
    QTest::newRow("fractional ms") << "12.2"_ba << QByteArray() << qint64(13);
    QTest::newRow("bad ms falls back") << "soon"_ba
                                       << "3"_ba << qint64(3'000);
    QTest::newRow("http date") << QByteArray() << "Thu, 26 Nov 2026 10:01:00 GMT"_ba
                               << qint64(60'000);
    QTest::newRow("garbage") << QByteArray() << "later"_ba << qint64(-1);
    QTest::newRow("negative") << QByteArray() << "-5"_ba << qint64(-1);
}

void TestProviderParsing::retryAfter()
{
    QFETCH(QByteArray, retryAfterMs);
    QFETCH(QByteArray, retryAfter);
    QFETCH(qint64, ms);
    RawHeaders list;
    if (!retryAfterMs.isNull())
        list.append({"Retry-After-Ms"_ba, retryAfterMs});
    if (!retryAfter.isNull())
        list.append({"Retry-After"_ba, retryAfter});
    QCOMPARE(parseRetryAfterMs(list, kNow), ms);
}

void TestProviderParsing::waitFromLimits_data()
{
    QTest::addColumn<qint64>("remainingRequests");
    QTest::addColumn<qint64>("resetRequests");
    QTest::addColumn<qint64>("remainingTokens");
    QTest::addColumn<qint64>("resetTokens");
    QTest::addColumn<qint64>("wait");
    QTest::newRow("unknown") << qint64(-1) << qint64(-1) << qint64(-1) << qint64(-1) << qint64(-1);
    QTest::newRow("requests out") << qint64(0) << qint64(800) << qint64(5) << qint64(9000)
                                  << qint64(800);
    QTest::newRow("tokens out") << qint64(3) << qint64(800) << qint64(0) << qint64(9000)
                                << qint64(9000);
    QTest::newRow("neither out: longer")
        << qint64(3) << qint64(800) << qint64(4) << qint64(900) << qint64(900);
    QTest::newRow("only a reset") << qint64(-1) << qint64(250) << qint64(-1) << qint64(-1)
                                  << qint64(250);
}

void TestProviderParsing::waitFromLimits()
{
    QFETCH(qint64, remainingRequests);
    QFETCH(qint64, resetRequests);
    QFETCH(qint64, remainingTokens);
    QFETCH(qint64, resetTokens);
    QFETCH(qint64, wait);
    RateLimitInfo info;
    info.remainingRequests = remainingRequests;
    info.resetRequestsMs = resetRequests;
    info.remainingTokens = remainingTokens;
    info.resetTokensMs = resetTokens;
    QCOMPARE(waitFromRateLimits(info), wait);
}

void TestProviderParsing::httpErrors_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<ErrorClass>("expected");

    const auto openAi = [](const char *code, const char *type) -> QByteArray {
        return QByteArray(R"({"error":{"message":"m","type":")") + type +
               R"(","param":null,"code":")" + code + R"("}})";
    };
    const auto anthropic = [](const char *type) -> QByteArray {
        return QByteArray(R"({"type":"error","error":{"type":")") + type +
               R"(","message":"m"},"request_id":"req_1"})";
    };
    QTest::newRow("429 rate_limit_exceeded")
        << 429 << openAi("rate_limit_exceeded", "requests") << ErrorClass::RateLimited;
    QTest::newRow("429 tokens") << 429 << openAi("rate_limit_exceeded", "tokens")
                                << ErrorClass::RateLimited;
    QTest::newRow("429 insufficient_quota")
        << 429 << openAi("insufficient_quota", "insufficient_quota") << ErrorClass::QuotaExhausted;
    QTest::newRow("429 anthropic rate_limit_error")
        << 429 << anthropic("rate_limit_error") << ErrorClass::RateLimited;
    QTest::newRow("429 empty body") << 429 << QByteArray() << ErrorClass::RateLimited;
    QTest::newRow("400 openai") << 400 << openAi("invalid_value", "invalid_request_error")
                                << ErrorClass::InvalidRequest;
    QTest::newRow("400 spend cap")
        << 400 << openAi("billing_hard_limit_reached", "invalid_request_error")
        << ErrorClass::QuotaExhausted;
    QTest::newRow("400 anthropic")
        << 400 << anthropic("invalid_request_error") << ErrorClass::InvalidRequest;
    QTest::newRow("400 anthropic credit")
        << 400
        << QByteArray(
               R"({"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}})")
        << ErrorClass::QuotaExhausted;
    QTest::newRow("404 model") << 404 << openAi("model_not_found", "invalid_request_error")
                               << ErrorClass::InvalidRequest;
    QTest::newRow("404 anthropic not_found")
        << 404 << anthropic("not_found_error") << ErrorClass::InvalidRequest;
    QTest::newRow("404 no api body: wrong base url")
        << 404 << "<html>Not Found</html>"_ba << ErrorClass::Auth;
    QTest::newRow("413") << 413 << anthropic("request_too_large") << ErrorClass::InvalidRequest;
    QTest::newRow("422 vllm") << 422 << R"({"detail":"bad field"})"_ba
                              << ErrorClass::InvalidRequest;
    QTest::newRow("401") << 401 << openAi("invalid_api_key", "invalid_request_error")
                         << ErrorClass::Auth;
    QTest::newRow("403") << 403 << anthropic("permission_error") << ErrorClass::Auth;
    QTest::newRow("402") << 402 << QByteArray() << ErrorClass::QuotaExhausted;
    QTest::newRow("408") << 408 << QByteArray() << ErrorClass::ServerError;
    QTest::newRow("409") << 409 << QByteArray() << ErrorClass::ServerError;
    QTest::newRow("500") << 500 << openAi("", "server_error") << ErrorClass::ServerError;
    QTest::newRow("500 anthropic api_error")
        << 500 << anthropic("api_error") << ErrorClass::ServerError;
    QTest::newRow("502 html") << 502 << "<html>bad gateway</html>"_ba << ErrorClass::ServerError;
    QTest::newRow("503") << 503 << openAi("server_is_overloaded", "server_error")
                         << ErrorClass::Overloaded;
    QTest::newRow("503 ollama queue full")
        << 503 << R"({"error":"server busy, please try again."})"_ba << ErrorClass::Overloaded;
    QTest::newRow("529") << 529 << anthropic("overloaded_error") << ErrorClass::Overloaded;
    QTest::newRow("500 overloaded_error")
        << 500 << anthropic("overloaded_error") << ErrorClass::Overloaded;
    QTest::newRow("418 other 4xx") << 418 << QByteArray() << ErrorClass::InvalidRequest;
    QTest::newRow("302 redirect") << 302 << QByteArray() << ErrorClass::Auth;
}

void TestProviderParsing::httpErrors()
{
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(ErrorClass, expected);
    const Classification result = classifyHttpError(status, body);
    QCOMPARE(bd::errorClassName(result.errorClass), bd::errorClassName(expected));
    QVERIFY(result.message.startsWith(u"HTTP "_s + QString::number(status)));
}

void TestProviderParsing::httpErrorMessage()
{
    const Classification result = classifyHttpError(
        429,
        R"({"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}})");
    QCOMPARE(result.message, u"HTTP 429 rate_limit_exceeded: Rate limit reached for gpt-4o"_s);
    const Classification anthropic = classifyHttpError(
        529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
    QCOMPARE(anthropic.message, u"HTTP 529 overloaded_error: Overloaded"_s);
    QCOMPARE(classifyHttpError(404, "nope").message,
             u"HTTP 404: no such endpoint; check the base URL. nope"_s);
}

void TestProviderParsing::errorEnvelopes_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("present");
    QTest::addColumn<QString>("type");
    QTest::addColumn<QString>("code");
    QTest::addColumn<QString>("message");
    QTest::newRow("openai")
        << R"({"error":{"message":"m1","type":"t1","param":null,"code":"c1"}})"_ba << true
        << u"t1"_s << u"c1"_s << u"m1"_s;
    QTest::newRow("openai null code") << R"({"error":{"message":"m1","type":"t1","code":null}})"_ba
                                      << true << u"t1"_s << QString() << u"m1"_s;
    QTest::newRow("anthropic") << R"({"type":"error","error":{"type":"t2","message":"m2"}})"_ba
                               << true << u"t2"_s << QString() << u"m2"_s;
    QTest::newRow("ollama") << R"({"error":"model 'x' not found"})"_ba << true << QString()
                            << QString() << u"model 'x' not found"_s;
    QTest::newRow("fastapi") << R"({"detail":"Not Found"})"_ba << true << QString() << QString()
                             << u"Not Found"_s;
    QTest::newRow("not json") << "<html/>"_ba << false << QString() << QString() << QString();
    QTest::newRow("array") << "[1]"_ba << false << QString() << QString() << QString();
    QTest::newRow("empty") << QByteArray() << false << QString() << QString() << QString();
}

void TestProviderParsing::errorEnvelopes()
{
    QFETCH(QByteArray, body);
    QFETCH(bool, present);
    QFETCH(QString, type);
    QFETCH(QString, code);
    QFETCH(QString, message);
    const ApiError error = parseApiError(body);
    QCOMPARE(error.present, present);
    QCOMPARE(error.type, type);
    QCOMPARE(error.code, code);
    QCOMPARE(error.message, message);
}

void TestProviderParsing::networkErrors_data()
{
    QTest::addColumn<QNetworkReply::NetworkError>("error");
    QTest::addColumn<bool>("aborted");
    QTest::addColumn<ErrorClass>("expected");
    QTest::newRow("refused") << QNetworkReply::ConnectionRefusedError << false
                             << ErrorClass::Network;
    QTest::newRow("reset") << QNetworkReply::RemoteHostClosedError << false << ErrorClass::Network;
    QTest::newRow("host not found")
        << QNetworkReply::HostNotFoundError << false << ErrorClass::Network;
    QTest::newRow("temporary failure")
        << QNetworkReply::TemporaryNetworkFailureError << false << ErrorClass::Network;
    QTest::newRow("proxy refused")
        << QNetworkReply::ProxyConnectionRefusedError << false << ErrorClass::Network;
    QTest::newRow("timeout") << QNetworkReply::TimeoutError << false << ErrorClass::Timeout;
    QTest::newRow("transfer timeout abort")
        << QNetworkReply::OperationCanceledError << false << ErrorClass::Timeout;
    QTest::newRow("our cancel") << QNetworkReply::OperationCanceledError << true
                                << ErrorClass::Cancelled;
    QTest::newRow("tls") << QNetworkReply::SslHandshakeFailedError << false << ErrorClass::Auth;
    QTest::newRow("bad scheme") << QNetworkReply::ProtocolUnknownError << false << ErrorClass::Auth;
    QTest::newRow("protocol failure")
        << QNetworkReply::ProtocolFailure << false << ErrorClass::Malformed;
    QTest::newRow("none") << QNetworkReply::NoError << false << ErrorClass::None;
}

void TestProviderParsing::networkErrors()
{
    QFETCH(QNetworkReply::NetworkError, error);
    QFETCH(bool, aborted);
    QFETCH(ErrorClass, expected);
    QCOMPARE(bd::errorClassName(classifyNetworkError(error, aborted)),
             bd::errorClassName(expected));
}

void TestProviderParsing::redaction_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("secret");
    QTest::addColumn<QString>("expected");
    QTest::newRow("plain") << u"Incorrect key sk-test-ABCDEF123 given"_s << u"sk-test-ABCDEF123"_s
                           << u"Incorrect key [redacted] given"_s;
    QTest::newRow("bearer echo") << u"auth was 'Bearer sk-1234567890' twice sk-1234567890"_s
                                 << u"sk-1234567890"_s
                                 << u"auth was 'Bearer [redacted]' twice [redacted]"_s;
    QTest::newRow("percent encoded")
        << u"key=sk%2Bab%2Fcd%3D"_s << u"sk+ab/cd="_s << u"key=[redacted]"_s;
    QTest::newRow("no key") << u"nothing here"_s << QString() << u"nothing here"_s;
    QTest::newRow("tiny key left alone") << u"abc"_s << u"ab"_s << u"abc"_s;
}

void TestProviderParsing::redaction()
{
    QFETCH(QString, text);
    QFETCH(QString, secret);
    QFETCH(QString, expected);
    QCOMPARE(redactSecret(text, secret), expected);
}

void TestProviderParsing::tidyTruncates()
{
    const QString secret = u"sk-secret-0123456789"_s;
    const QString text = u"a\n  b "_s + secret + u" "_s + QString(1000, u'x');
    const QString tidy = tidyMessage(text, secret, 50);
    QCOMPARE(tidy.size(), 50);
    QVERIFY(tidy.startsWith(u"a b [redacted] x"_s));
    QVERIFY(!tidy.contains(secret.left(8)));
}

void TestProviderParsing::tokenCounts()
{
    using bd::providers::readTokenCount;
    const QJsonObject usage =
        QJsonDocument::fromJson(
            R"({"ok":42,"zero":0,"null":null,"max":100000000,"big":9223372036854775807,)"
            R"("huge":1e300,"neg":-1,"frac":2.5,"text":"7","list":[1]})")
            .object();
    qint64 count = -1;
    QString problem;
    QVERIFY(readTokenCount(usage, u"ok", &count, &problem));
    QCOMPARE(count, 42);
    QVERIFY(readTokenCount(usage, u"zero", &count, &problem));
    QCOMPARE(count, 0);
    QVERIFY(readTokenCount(usage, u"absent", &count, &problem));
    QCOMPARE(count, 0);
    QVERIFY(readTokenCount(usage, u"null", &count, &problem));
    QCOMPARE(count, 0);
    QVERIFY(readTokenCount(usage, u"max", &count, &problem));
    QCOMPARE(count, bd::providers::kMaxUsageTokens);
    for (const char *key : {"big", "huge", "neg", "frac", "text", "list"}) {
        problem.clear();
        QVERIFY2(!readTokenCount(usage, QString::fromLatin1(key), &count, &problem), key);
        QVERIFY2(problem.startsWith(u"usage."_s + QString::fromLatin1(key)), qPrintable(problem));
        QCOMPARE(count, 0);
    }
}

void TestProviderParsing::usageTotalsSaturate()
{
    constexpr qint64 kMax = std::numeric_limits<qint64>::max();
    bd::Usage total;
    total.inputTokens = kMax - 10;
    total.outputTokens = 5;
    bd::Usage more;
    more.inputTokens = 100; // wrapped to a negative total before
    more.outputTokens = kMax;
    more.cachedTokens = 3;
    total += more;
    QCOMPARE(total.inputTokens, kMax);
    QCOMPARE(total.outputTokens, kMax);
    QCOMPARE(total.cachedTokens, 3);
    total += more;
    QCOMPARE(total.inputTokens, kMax);
    QCOMPARE(total.cachedTokens, 6);
}

QTEST_GUILESS_MAIN(TestProviderParsing)
#include "test_providerparsing.moc"
