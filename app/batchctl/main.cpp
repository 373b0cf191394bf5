#include "commands.h"

#include <QCoreApplication>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("BatchDesk"));
    QCoreApplication::setApplicationVersion(QStringLiteral(BATCHDESK_VERSION));
    return batchctl::main(QCoreApplication::arguments());
}
