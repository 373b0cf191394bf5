#include "terminalprogress.h"

#include <cstdio>
#include <unistd.h>

using namespace Qt::StringLiterals;

namespace {

QString formatDuration(qint64 seconds)
{
    if (seconds >= 3600)
        return u"%1:%2:%3"_s.arg(seconds / 3600).arg((seconds / 60) % 60, 2, 10, QLatin1Char('0'))
            .arg(seconds % 60, 2, 10, QLatin1Char('0'));
    return u"%1:%2"_s.arg(seconds / 60).arg(seconds % 60, 2, 10, QLatin1Char('0'));
}

} // namespace

TerminalProgress::TerminalProgress()
    : m_enabled(::isatty(STDERR_FILENO) == 1)
{
    m_sinceStart.start();
}

void TerminalProgress::update(const QString &label, qint64 done, qint64 total, const QString &unit)
{
    if (!m_enabled)
        return;
    if (label != m_label) {
        finish();
        m_label = label;
        m_startDone = done;
        m_sinceStart.restart();
    }
    if (m_drawn && m_sinceDraw.isValid() && m_sinceDraw.elapsed() < 200 && done < total)
        return;
    m_sinceDraw.restart();
    constexpr int kWidth = 30;
    const double fraction = total > 0 ? qBound(0.0, double(done) / double(total), 1.0) : 0.0;
    const int filled = int(fraction * kWidth);
    const double seconds = qMax<qint64>(1, m_sinceStart.elapsed()) / 1000.0;
    const double rate = double(done - m_startDone) / seconds;
    QString eta = u"--:--"_s;
    if (rate > 0 && total > done)
        eta = formatDuration(qint64(double(total - done) / rate));
    else if (total > 0 && done >= total)
        eta = u"0:00"_s;
    const QString line = u"\r%1 [%2%3] %4% %5/%6 %7 %8/s ETA %9 "_s.arg(
        label, QString(filled, u'#'), QString(kWidth - filled, u'.'),
        QString::number(fraction * 100.0, 'f', 1), QString::number(done), QString::number(total),
        unit, QString::number(qint64(rate)), eta);
    std::fputs(line.toLocal8Bit().constData(), stderr);
    std::fflush(stderr);
    m_drawn = true;
}

void TerminalProgress::finish()
{
    if (m_enabled && m_drawn) {
        std::fputs("\n", stderr);
        std::fflush(stderr);
    }
    m_drawn = false;
}
