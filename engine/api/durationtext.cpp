#include "durationtext.h"

#include <QtGlobal>

namespace bd {

using namespace Qt::StringLiterals;

QString durationText(qint64 ms, DurationRounding rounding)
{
    const qint64 magnitude = qAbs(ms);
    const qint64 seconds = rounding == DurationRounding::UpToMinute
                               ? (magnitude + 59'999) / 60'000 * 60
                               : (magnitude + 500) / 1000;
    if (seconds < 60)
        return u"%1 s"_s.arg(seconds);
    if (seconds < 3600)
        return seconds % 60 ? u"%1 min %2 s"_s.arg(seconds / 60).arg(seconds % 60)
                            : u"%1 min"_s.arg(seconds / 60);
    if (seconds < 2 * 86400)
        return (seconds % 3600) / 60
                   ? u"%1 h %2 min"_s.arg(seconds / 3600).arg((seconds % 3600) / 60)
                   : u"%1 h"_s.arg(seconds / 3600);
    return u"%1 days"_s.arg(QString::number(double(seconds) / 86400.0, 'f', 1));
}

} // namespace bd
