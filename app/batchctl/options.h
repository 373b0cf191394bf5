#pragma once

#include <QCommandLineParser>
#include <QString>

namespace batchctl {

// Every option of every command (QCommandLineParser takes one set); commands check which
// of them apply.
void addOptions(QCommandLineParser &parser);
// The command summary shown by --help and after "no command given".
QString usageText();

} // namespace batchctl
