// Both directions of the engine boundary. The engine never sees the GUI: no file under
// engine/ includes a Widgets, Gui or Charts header or anything from ui/, and
// engine/CMakeLists.txt links none of those modules. The front ends never see the engine's
// insides: ui/ and app/ include only the public API (engine/api/), the pure ingest library,
// secrets/ and their own files, and no QtSql; the API itself includes nothing but the API.
// Runs over the source tree (BATCHDESK_SOURCE_DIR), so it needs no build of the engine.

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QRegularExpression>
#include <QTest>

#include <functional>

using namespace Qt::StringLiterals;

namespace {

QString sourceDir()
{
    const QString dir = qEnvironmentVariable("BATCHDESK_SOURCE_DIR");
#ifdef BATCHDESK_SOURCE_DIR_FALLBACK
    if (dir.isEmpty())
        return QStringLiteral(BATCHDESK_SOURCE_DIR_FALLBACK);
#endif
    return dir;
}

struct Violation
{
    QString file;
    int line;
    QString text;
    QString why;
};

// Module include prefixes that are GUI-only.
const QStringList kForbiddenModules = {
    u"QtWidgets"_s, u"QtGui"_s, u"QtCharts"_s, u"QtOpenGL"_s, u"QtOpenGLWidgets"_s,
    u"QtQuick"_s, u"QtQml"_s, u"QtSvg"_s, u"QtPrintSupport"_s,
};

// Class headers of QtGui / QtWidgets / QtCharts that an engine file might name bare.
bool isGuiClassHeader(const QString &name)
{
    static const QStringList exact = {
        u"QWidget"_s, u"QMainWindow"_s, u"QApplication"_s, u"QGuiApplication"_s, u"QDialog"_s,
        u"QPainter"_s, u"QPainterPath"_s, u"QPixmap"_s, u"QImage"_s, u"QIcon"_s, u"QColor"_s,
        u"QFont"_s, u"QFontMetrics"_s, u"QBrush"_s, u"QPen"_s, u"QPalette"_s, u"QCursor"_s,
        u"QKeyEvent"_s, u"QMouseEvent"_s, u"QPaintEvent"_s, u"QClipboard"_s, u"QScreen"_s,
        u"QWindow"_s, u"QDesktopServices"_s, u"QStandardItemModel"_s, u"QStandardItem"_s,
        u"QValidator"_s, u"QIntValidator"_s, u"QDoubleValidator"_s, u"QAction"_s,
        u"QShortcut"_s, u"QKeySequence"_s, u"QTextDocument"_s, u"QTextCursor"_s,
        u"QSyntaxHighlighter"_s, u"QMovie"_s, u"QBitmap"_s, u"QRegion"_s, u"QTransform"_s,
        u"QPolygon"_s, u"QPolygonF"_s, u"QGradient"_s, u"QLinearGradient"_s, u"QOpenGLWidget"_s,
        u"QMessageBox"_s, u"QFileDialog"_s, u"QLabel"_s, u"QPushButton"_s, u"QLineEdit"_s,
        u"QTableView"_s, u"QTreeView"_s, u"QListView"_s, u"QHeaderView"_s, u"QStyle"_s,
        u"QSystemTrayIcon"_s, u"QMenu"_s, u"QMenuBar"_s, u"QToolBar"_s, u"QStatusBar"_s,
        u"QSplitter"_s, u"QLayout"_s, u"QVBoxLayout"_s, u"QHBoxLayout"_s, u"QGridLayout"_s,
        u"QFormLayout"_s, u"QComboBox"_s, u"QSpinBox"_s, u"QCheckBox"_s, u"QProgressBar"_s,
        u"QTabWidget"_s, u"QDockWidget"_s, u"QGraphicsView"_s, u"QGraphicsScene"_s,
    };
    if (exact.contains(name))
        return true;
    // QtCharts classes all start with QChart, QAbstract*Series/Axis or end in Series/Axis;
    // Widgets classes with a typical suffix.
    static const QRegularExpression pattern(
        QStringLiteral("^(QChart\\w*|Q\\w*Series|Q\\w*Axis|QAbstract(Button|Slider|SpinBox|ScrollArea|ItemView|ItemDelegate)|QStyled\\w*|Q\\w*Widget|Q\\w*Dialog|Q\\w*Event|QPaint\\w*|QImage\\w*|QPixmap\\w*|QFont\\w*|QOpenGL\\w*|QGraphics\\w*)$"));
    return pattern.match(name).hasMatch();
}

// Q-headers an engine file may include even though they match a GUI pattern above.
bool isAllowedCoreHeader(const QString &name)
{
    static const QStringList allowed = {
        u"QEvent"_s, u"QTimerEvent"_s, u"QChildEvent"_s, u"QDynamicPropertyChangeEvent"_s,
        u"QEventLoop"_s, u"QAbstractEventDispatcher"_s, u"QAbstractItemModel"_s,
        u"QAbstractListModel"_s, u"QAbstractTableModel"_s, u"QSortFilterProxyModel"_s,
        u"QItemSelectionModel"_s, u"QIdentityProxyModel"_s, u"QStringListModel"_s,
        u"QFutureWatcher"_s, u"QFileSystemWatcher"_s,
    };
    return allowed.contains(name);
}

// What an #include line names, or empty.
QString includedName(const QString &line)
{
    static const QRegularExpression include(QStringLiteral("^\\s*#\\s*include\\s*[<\"]([^>\"]+)[>\"]"));
    const QRegularExpressionMatch match = include.match(line);
    return match.hasMatch() ? match.captured(1).trimmed() : QString();
}

// Why the include is not allowed in engine/, or empty when it is fine.
QString violationFor(const QString &included)
{
    const QString path = QDir::cleanPath(included);
    const QStringList parts = path.split(u'/', Qt::SkipEmptyParts);
    if (parts.isEmpty())
        return {};
    if (parts.contains(u"ui"_s))
        return u"includes a ui/ header"_s;
    if (kForbiddenModules.contains(parts.constFirst()))
        return u"includes the GUI module %1"_s.arg(parts.constFirst());
    const QString last = parts.constLast();
    if (parts.size() <= 2 && last.startsWith(u'Q') && !last.contains(u'.')
        && !isAllowedCoreHeader(last) && isGuiClassHeader(last))
        return u"includes the GUI class header %1"_s.arg(last);
    // Lower-case Qt private/module headers: qwidget.h, qpainter.h, qchart.h ...
    const QString lower = last.toLower();
    if (lower.endsWith(u".h"_s) && lower.startsWith(u'q')) {
        const QString stem = lower.chopped(2);
        for (const QString &gui : {u"qwidget"_s, u"qapplication"_s, u"qguiapplication"_s,
                                   u"qpainter"_s, u"qpixmap"_s, u"qimage"_s, u"qcolor"_s,
                                   u"qfont"_s, u"qicon"_s, u"qchart"_s, u"qchartview"_s,
                                   u"qmainwindow"_s, u"qwindow"_s}) {
            if (stem == gui)
                return u"includes the GUI header %1"_s.arg(last);
        }
    }
    return {};
}

// Why a front-end file (ui/, app/) may not include this, or empty. sameFolder: the names of
// the files beside it, which it may include bare.
QString frontEndViolationFor(const QString &included, const QStringList &sameFolder,
                             const QStringList &secrets, bool angled = false)
{
    const QString path = QDir::cleanPath(included);
    if (path.startsWith(u"QtSql"_s) || path.startsWith(u"QSql"_s))
        return u"a front end never touches the database (QtSql)"_s;
    if (angled)
        return {}; // a system or Qt header
    if (path.startsWith(u"api/"_s) || path.startsWith(u"ingest/"_s))
        return {};
    if (!path.contains(u'/') && (sameFolder.contains(path) || secrets.contains(path)))
        return {};
    if (!path.contains(u'/') && !path.endsWith(u".h"_s))
        return {}; // <QWidget>, <optional>: a library header, not one of ours
    if (path.contains(u'/') && !path.startsWith(u"../"_s) && path.section(u'/', 0, 0).startsWith(u'Q'))
        return {}; // <QtWidgets/QWidget>
    return u"reaches past the engine facade (only api/, ingest/, secrets/ and its own folder)"_s;
}

// Why an api/ header or source may not include this, or empty.
QString apiViolationFor(const QString &included, const QStringList &apiFiles)
{
    const QString path = QDir::cleanPath(included);
    if (path.startsWith(u"QtSql"_s) || path.startsWith(u"QSql"_s))
        return u"the public API must compile without QtSql"_s;
    if (path.startsWith(u"api/"_s) || (!path.contains(u'/') && apiFiles.contains(path)))
        return {};
    if (!path.contains(u'/') && !path.endsWith(u".h"_s))
        return {};
    return u"the public API includes only the public API"_s;
}

QList<Violation> scanIncludes(const QString &root, const QString &filePath,
                              const std::function<QString(const QString &, bool angled)> &check)
{
    QList<Violation> found;
    QFile file(filePath);
    if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) {
        found.append({QDir(root).relativeFilePath(filePath), 0, QString(),
                      u"cannot be read: "_s + file.errorString()});
        return found;
    }
    int lineNo = 0;
    bool inBlockComment = false;
    while (!file.atEnd()) {
        ++lineNo;
        QString line = QString::fromUtf8(file.readLine());
        // Good enough comment handling for include lines: skip block comments that start
        // a line and the rest of a line after //.
        if (inBlockComment) {
            const qsizetype end = line.indexOf(u"*/"_s);
            if (end < 0)
                continue;
            line = line.mid(end + 2);
            inBlockComment = false;
        }
        const QString trimmed = line.trimmed();
        if (trimmed.startsWith(u"/*"_s) && !trimmed.contains(u"*/"_s)) {
            inBlockComment = true;
            continue;
        }
        const QString name = includedName(line);
        if (name.isEmpty())
            continue;
        const QString why = check(name, line.contains(u'<'));
        if (!why.isEmpty())
            found.append({QDir(root).relativeFilePath(filePath), lineNo, trimmed, why});
    }
    return found;
}

// An engine file: no GUI include.
QList<Violation> scanFile(const QString &root, const QString &filePath)
{
    return scanIncludes(root, filePath, [](const QString &name, bool) { return violationFor(name); });
}

QStringList sourceFiles(const QString &dir, bool recursive)
{
    QStringList files;
    QDirIterator it(dir, {u"*.h"_s, u"*.cpp"_s}, QDir::Files | QDir::NoSymLinks,
                    recursive ? QDirIterator::Subdirectories : QDirIterator::NoIteratorFlags);
    while (it.hasNext())
        files.append(it.next());
    return files;
}

QString describe(const QList<Violation> &violations)
{
    QStringList lines;
    for (const Violation &v : violations)
        lines.append(u"%1:%2: %3 (%4)"_s.arg(v.file).arg(v.line).arg(v.why, v.text));
    return lines.join(u'\n');
}

} // namespace

class TestLayering : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void classifierCatchesGuiIncludes_data();
    void classifierCatchesGuiIncludes();
    void engineSourcesIncludeNoGui();
    void engineCMakeLinksNoGui();
    void frontEndClassifier_data();
    void frontEndClassifier();
    void frontEndsIncludeOnlyTheApi();
    void apiIncludesOnlyTheApi();

private:
    QString m_root;
};

void TestLayering::initTestCase()
{
    m_root = sourceDir();
    QVERIFY2(!m_root.isEmpty(), "BATCHDESK_SOURCE_DIR is not set (run through ctest)");
    QVERIFY2(QFileInfo(m_root + u"/engine/CMakeLists.txt"_s).isFile(),
             qPrintable(m_root + u" is not the BatchDesk source tree"_s));
}

void TestLayering::classifierCatchesGuiIncludes_data()
{
    // The checker itself must catch what it claims to, or an empty result means nothing.
    QTest::addColumn<QString>("line");
    QTest::addColumn<bool>("forbidden");
    QTest::newRow("QtWidgets module") << u"#include <QtWidgets>"_s << true;
    QTest::newRow("QtWidgets/QWidget") << u"#include <QtWidgets/QWidget>"_s << true;
    QTest::newRow("QtGui/qcolor.h") << u"#include <QtGui/qcolor.h>"_s << true;
    QTest::newRow("QtCharts/QChartView") << u"#include <QtCharts/QChartView>"_s << true;
    QTest::newRow("QWidget") << u"#include <QWidget>"_s << true;
    QTest::newRow("QMainWindow") << u"#include <QMainWindow>"_s << true;
    QTest::newRow("QApplication") << u"#  include <QApplication>"_s << true;
    QTest::newRow("QGuiApplication") << u"#include <QGuiApplication>"_s << true;
    QTest::newRow("QPainter") << u"#include <QPainter>"_s << true;
    QTest::newRow("QPixmap") << u"#include <QPixmap>"_s << true;
    QTest::newRow("QImage") << u"#include <QImage>"_s << true;
    QTest::newRow("QColor") << u"#include <QColor>"_s << true;
    QTest::newRow("QFont") << u"#include <QFont>"_s << true;
    QTest::newRow("QIcon") << u"#include <QIcon>"_s << true;
    QTest::newRow("QChart") << u"#include <QChart>"_s << true;
    QTest::newRow("QLineSeries") << u"#include <QLineSeries>"_s << true;
    QTest::newRow("QValueAxis") << u"#include <QValueAxis>"_s << true;
    QTest::newRow("qwidget.h") << u"#include <qwidget.h>"_s << true;
    QTest::newRow("ui header") << u"#include \"ui/mainwindow.h\""_s << true;
    QTest::newRow("ui header relative") << u"#include \"../ui/jobtable.h\""_s << true;
    QTest::newRow("QObject") << u"#include <QObject>"_s << false;
    QTest::newRow("QEventLoop") << u"#include <QEventLoop>"_s << false;
    QTest::newRow("QTimerEvent") << u"#include <QTimerEvent>"_s << false;
    QTest::newRow("QAbstractTableModel") << u"#include <QAbstractTableModel>"_s << false;
    QTest::newRow("QtSql module") << u"#include <QtSql/QSqlQuery>"_s << false;
    QTest::newRow("QNetworkAccessManager") << u"#include <QNetworkAccessManager>"_s << false;
    QTest::newRow("engine header") << u"#include \"store/store.h\""_s << false;
    QTest::newRow("std header") << u"#include <optional>"_s << false;
    QTest::newRow("guide header") << u"#include \"build/guide.h\""_s << false;
}

void TestLayering::classifierCatchesGuiIncludes()
{
    QFETCH(QString, line);
    QFETCH(bool, forbidden);
    const QString name = includedName(line);
    QVERIFY(!name.isEmpty());
    QCOMPARE(!violationFor(name).isEmpty(), forbidden);
}

void TestLayering::engineSourcesIncludeNoGui()
{
    const QString engineDir = m_root + u"/engine"_s;
    QList<Violation> violations;
    int scanned = 0;
    QDirIterator it(engineDir, QDir::Files | QDir::NoSymLinks, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QString suffix = QFileInfo(path).suffix().toLower();
        if (suffix != u"h"_s && suffix != u"hpp"_s && suffix != u"cpp"_s && suffix != u"cc"_s
            && suffix != u"cxx"_s && suffix != u"c"_s && suffix != u"inc"_s && suffix != u"ipp"_s)
            continue;
        ++scanned;
        violations += scanFile(m_root, path);
    }
    QVERIFY2(scanned >= 10, qPrintable(u"only %1 source files under %2"_s.arg(scanned).arg(engineDir)));
    QVERIFY2(violations.isEmpty(), qPrintable(u"\n"_s + describe(violations)));
}

void TestLayering::engineCMakeLinksNoGui()
{
    const QString path = m_root + u"/engine/CMakeLists.txt"_s;
    QFile file(path);
    QVERIFY2(file.open(QIODevice::ReadOnly | QIODevice::Text), qPrintable(file.errorString()));
    QStringList problems;
    static const QRegularExpression gui(
        QStringLiteral("\\b(Qt6?::)?(Widgets|Gui|Charts|OpenGLWidgets|PrintSupport)\\b|\\bbatchdesk_ui\\b|\\bui/"));
    int lineNo = 0;
    while (!file.atEnd()) {
        ++lineNo;
        const QString line = QString::fromUtf8(file.readLine());
        // Comments may name the modules (to say they are not used).
        const QString code = line.section(u'#', 0, 0);
        const QRegularExpressionMatch match = gui.match(code);
        if (match.hasMatch())
            problems.append(u"engine/CMakeLists.txt:%1: mentions %2: %3"_s.arg(lineNo).arg(
                match.captured(0), line.trimmed()));
    }
    QVERIFY2(problems.isEmpty(), qPrintable(u"\n"_s + problems.join(u'\n')));
}

void TestLayering::frontEndClassifier_data()
{
    QTest::addColumn<QString>("line");
    QTest::addColumn<bool>("forbidden");
    QTest::newRow("api") << u"#include \"api/engine.h\""_s << false;
    QTest::newRow("ingest") << u"#include \"ingest/csvreader.h\""_s << false;
    QTest::newRow("own folder") << u"#include \"mainwindow.h\""_s << false;
    QTest::newRow("secrets") << u"#include \"keystore.h\""_s << false;
    QTest::newRow("Qt class") << u"#include <QTableView>"_s << false;
    QTest::newRow("std") << u"#include <optional>"_s << false;
    QTest::newRow("store") << u"#include \"store/store.h\""_s << true;
    QTest::newRow("sqlite backend") << u"#include \"store/sqlite/sqlitestore.h\""_s << true;
    QTest::newRow("dispatch") << u"#include \"dispatch/jobrunner.h\""_s << true;
    QTest::newRow("providers") << u"#include \"providers/provider.h\""_s << true;
    QTest::newRow("cost") << u"#include \"cost/pricetable.h\""_s << true;
    QTest::newRow("core") << u"#include \"core/tasktypes.h\""_s << true;
    QTest::newRow("engine impl") << u"#include \"engineimpl.h\""_s << true;
    QTest::newRow("QtSql") << u"#include <QSqlDatabase>"_s << true;
    QTest::newRow("QtSql module") << u"#include <QtSql/QSqlQuery>"_s << true;
}

void TestLayering::frontEndClassifier()
{
    QFETCH(QString, line);
    QFETCH(bool, forbidden);
    const QString name = includedName(line);
    QCOMPARE(!frontEndViolationFor(name, {u"mainwindow.h"_s}, {u"keystore.h"_s}, line.contains(u'<')).isEmpty(),
             forbidden);
}

void TestLayering::frontEndsIncludeOnlyTheApi()
{
    const QStringList secrets = [this] {
        QStringList names;
        for (const QString &file : sourceFiles(m_root + u"/secrets"_s, false))
            names.append(QFileInfo(file).fileName());
        return names;
    }();
    QList<Violation> violations;
    int scanned = 0;
    QStringList uiFiles;
    for (const QString &file : sourceFiles(m_root + u"/ui"_s, false))
        uiFiles.append(QFileInfo(file).fileName());
    for (const QString &folder : {u"/ui"_s, u"/app/batchctl"_s, u"/app/batchdesk"_s}) {
        QStringList sameFolder;
        const QStringList files = sourceFiles(m_root + folder, false);
        for (const QString &file : files)
            sameFolder.append(QFileInfo(file).fileName());
        if (folder == u"/app/batchdesk"_s)
            sameFolder += uiFiles; // the console's composition root builds the window
        for (const QString &file : files) {
            ++scanned;
            violations += scanIncludes(m_root, file, [&](const QString &name, bool angled) {
                return frontEndViolationFor(name, sameFolder, secrets, angled);
            });
        }
    }
    QVERIFY2(scanned >= 20, qPrintable(u"only %1 front-end files"_s.arg(scanned)));
    QVERIFY2(violations.isEmpty(), qPrintable(u"\n"_s + describe(violations)));
}

void TestLayering::apiIncludesOnlyTheApi()
{
    const QStringList files = sourceFiles(m_root + u"/engine/api"_s, false);
    QStringList names;
    for (const QString &file : files)
        names.append(QFileInfo(file).fileName());
    QList<Violation> violations;
    for (const QString &file : files)
        violations += scanIncludes(m_root, file, [&](const QString &name, bool angled) {
            return angled && !name.startsWith(u"QSql"_s) && !name.startsWith(u"QtSql"_s)
                       ? QString()
                       : apiViolationFor(name, names);
        });
    QVERIFY2(files.size() >= 8, qPrintable(u"only %1 files in engine/api"_s.arg(files.size())));
    QVERIFY2(violations.isEmpty(), qPrintable(u"\n"_s + describe(violations)));
}

QTEST_GUILESS_MAIN(TestLayering)
#include "test_layering.moc"
