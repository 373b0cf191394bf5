#include "cli.h"

#include <QJsonDocument>

#include <cstdio>

namespace batchctl {

void printErr(const QString &text)
{
    std::fputs(qPrintable(text + u'\n'), stderr);
}

void printOut(const QString &text)
{
    std::fputs(text.toUtf8().constData(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
}

void printJson(const QJsonObject &object)
{
    printOut(QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact)));
}

int combineExitCodes(int a, int b)
{
    const auto rank = [](int code) {
        switch (code) {
        case ExitFatal:
            return 4;
        case ExitPaused:
            return 3;
        case ExitDeadLetters:
            return 2;
        default:
            return 1;
        }
    };
    return rank(a) >= rank(b) ? a : b;
}

} // namespace batchctl
