#pragma once

#include <QJsonObject>
#include <QString>

namespace bd {

// One line a person reads for an alert's stored figures (AlertRecord::figures), e.g.
// "error rate 7.4 % > 5 % over 10 min". Shared by the console's alerts page and
// `batchctl status`. Kinds it does not know get "value > threshold"; no figures: empty.
// A cleared alert's figures at clearing are appended ("; at clearing 3.1 %").
QString describeAlertFigures(const QString &kind, const QJsonObject &figures);

} // namespace bd
