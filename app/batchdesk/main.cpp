#include "mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QStandardPaths>

using namespace Qt::StringLiterals;

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(u"BatchDesk"_s);
    QApplication::setOrganizationName(u"BatchDesk"_s);
    QApplication::setApplicationVersion(QStringLiteral(BATCHDESK_VERSION));
    QApplication::setDesktopFileName(u"io.github.batchdesk.BatchDesk"_s);

    QCommandLineParser parser;
    parser.setApplicationDescription(u"BatchDesk: operations console for LLM batch jobs"_s);
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption dbOption(u"db"_s, u"Database file."_s, u"PATH"_s);
    parser.addOption(dbOption);
    parser.process(app);
    const QString db = parser.isSet(dbOption)
                           ? parser.value(dbOption)
                           : QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
                                 + u"/batchdesk.sqlite"_s;

    bd::ui::MainWindow window(db);
    window.show();
    return app.exec();
}
