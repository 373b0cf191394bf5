#pragma once

#include <QFile>
#include <QString>
#include <QTemporaryDir>

namespace bd::testing {

// An "id,text" CSV of `rows` rows whose texts differ per row and per file name (so two
// files never answer each other from the response cache); empty when it cannot be written.
inline QString writeNumberedCsv(const QTemporaryDir &dir, const QString &name, int rows)
{
    const QString path = dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write("id,text\n");
    for (int i = 0; i < rows; ++i)
        file.write(QByteArray::number(i) + ",row " + QByteArray::number(i) + " of " + name.toUtf8() + '\n');
    return path;
}

} // namespace bd::testing
