#include "api/engine.h"
#include "consolesettings.h"
#include "importwizard.h"
#include "mainwindow.h"
#include "settingsdialog.h"

#include <csignal>
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QScreen>
#include <QSettings>
#include <QSocketNotifier>
#include <QTimer>
#include <sys/socket.h>
#include <unistd.h>

using namespace Qt::StringLiterals;

namespace {

// SIGTERM, SIGINT and SIGHUP close the window as its close button does, so the engine
// stops, gives back its leases and removes its worker row (killed, the console stayed
// listed as a greyed engine). The handler only writes a byte; the event loop does the rest.
int signalPipe[2] = {-1, -1};

void onQuitSignal(int)
{
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[0], &byte, 1);
}

// Before anything opens the database: a signal from then on waits in the pipe.
void catchQuitSignals()
{
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, signalPipe) != 0)
        return;
    struct sigaction action = {};
    action.sa_handler = onQuitSignal;
    sigemptyset(&action.sa_mask);
    // A second signal kills at once (SA_RESETHAND), should the close hang.
    action.sa_flags = SA_RESTART | SA_RESETHAND;
    for (const int signal : {SIGTERM, SIGINT, SIGHUP})
        ::sigaction(signal, &action, nullptr);
}

void closeOnQuitSignals(QWidget *window)
{
    if (signalPipe[1] < 0)
        return;
    auto *notifier = new QSocketNotifier(signalPipe[1], QSocketNotifier::Read, window);
    QObject::connect(notifier, &QSocketNotifier::activated, window, [window, notifier] {
        char byte = 0;
        [[maybe_unused]] const ssize_t read = ::read(signalPipe[1], &byte, 1);
        notifier->setEnabled(false);
        window->close();
    });
}

} // namespace

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    catchQuitSignals();
    QApplication::setApplicationName(u"BatchDesk"_s);
    QApplication::setOrganizationName(u"BatchDesk"_s);
    QApplication::setApplicationVersion(QStringLiteral(BATCHDESK_VERSION));
    QApplication::setDesktopFileName(u"io.github.batchdesk.BatchDesk"_s);

    QCommandLineParser parser;
    parser.setApplicationDescription(u"BatchDesk: operations console for LLM batch jobs"_s);
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption dbOption(u"db"_s, u"Database: an SQLite file or a postgresql:// URL."_s,
                                      u"PATH|URL"_s);
    parser.addOption(dbOption);
    const QCommandLineOption pageOption(
        u"page"_s, u"Screen to show first: dashboard, jobs, tasks, dead-letters, alerts or workers."_s, u"NAME"_s);
    parser.addOption(pageOption);
    const QCommandLineOption noResumeOption(
        u"no-resume"_s,
        u"Take up no job: neither those the last session left running nor those waiting "
        "for a worker (batchctl submit, handed back by a worker that stopped)."_s);
    parser.addOption(noResumeOption);
    const QCommandLineOption settingsOption(
        u"settings"_s,
        u"Open Edit › Settings on a tab: providers, limits, lanes, off-peak, prices, monitoring or database."_s,
        u"TAB"_s);
    parser.addOption(settingsOption);
    parser.addPositionalArgument(u"csv"_s, u"A CSV file to import (opens the import wizard)."_s, u"[FILE.csv]"_s);
    parser.process(app);

    // The composition root: the engine over the chosen (or the shared default) database,
    // with the user's prices and monitoring settings, handed to the window.
    bd::EngineOptions engineOptions;
    // --db, else the database last chosen with File › Open database…, else the default file.
    const QString chosen =
        QSettings().value(QString::fromLatin1(bd::ui::consolesettings::kDatabase)).toString();
    engineOptions.database = parser.isSet(dbOption) ? parser.value(dbOption)
                             : chosen.isEmpty()     ? bd::defaultDatabasePath()
                                                    : chosen;
    engineOptions.priceOverridePath = bd::defaultPriceOverridePath();
    engineOptions.monitoring = bd::ui::consolesettings::monitoring(QSettings());
    bd::ui::MainWindow::Options options;
    options.resumeInterruptedJobs = !parser.isSet(noResumeOption);
    bd::ui::MainWindow window(bd::createEngine(engineOptions), options);
    closeOnQuitSignals(&window);
    if (parser.isSet(pageOption)) {
        const auto page = bd::ui::MainWindow::pageFromName(parser.value(pageOption));
        if (!page) {
            fprintf(stderr, "unknown page '%s'\n", qPrintable(parser.value(pageOption)));
            return 2;
        }
        window.showPage(*page);
    }
    // Never larger than the screen it opens on (1024×700 must fit; without a window
    // manager, as under Xvfb, nothing else would shrink it).
    if (const QScreen *screen = window.screen())
        window.resize(window.size().boundedTo(screen->availableGeometry().size()));
    window.show();
    if (parser.isSet(settingsOption)) {
        const QStringList tabs = {u"providers"_s, u"limits"_s,     u"lanes"_s,   u"off-peak"_s,
                                  u"prices"_s,    u"monitoring"_s, u"database"_s};
        const qsizetype tab = tabs.indexOf(parser.value(settingsOption));
        if (tab < 0) {
            fprintf(stderr, "unknown settings tab '%s'\n", qPrintable(parser.value(settingsOption)));
            return 2;
        }
        QTimer::singleShot(0, &window, [&window, tab] {
            window.openSettings()->showTab(static_cast<bd::ui::SettingsDialog::Tab>(tab));
        });
    }
    const QStringList positional = parser.positionalArguments();
    if (!positional.isEmpty()) {
        const QString path = QFileInfo(positional.constFirst()).absoluteFilePath();
        QTimer::singleShot(0, &window, [&window, path] { window.openCsv(path); });
    }
    return app.exec();
}
