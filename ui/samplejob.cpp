#include "samplejob.h"

#include "api/jobsettings.h"

#include <QDir>
#include <QFile>
#include <QLoggingCategory>
#include <QStandardPaths>
#include <QtConcurrent>

namespace bd::ui::samplejob {

using namespace Qt::StringLiterals;

namespace {
Q_LOGGING_CATEGORY(lcSample, "batchdesk.sample")

QString writeCsv()
{
    const QString folder =
        QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + u"/samples"_s;
    const QString path = folder + u"/reviews.csv"_s;
    QFile bundled(u":/samples/reviews.csv"_s);
    if (QFileInfo(path).size() == bundled.size())
        return path; // written on an earlier run
    if (!QDir().mkpath(folder) || !bundled.open(QIODevice::ReadOnly)) {
        qCWarning(lcSample) << "cannot prepare the sample in" << folder;
        return {};
    }
    QFile out(path);
    if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
        out.write(bundled.readAll()) != bundled.size()) {
        qCWarning(lcSample) << "cannot write" << path << out.errorString();
        return {};
    }
    return path;
}
} // namespace

QFuture<QString> prepareCsv()
{
    return QtConcurrent::run(writeCsv);
}

JobInfo settings()
{
    JobInfo job;
    job.spec.provider = u"simulator"_s;
    job.spec.priority = 2;
    job.spec.mode = u"auto"_s;
    job.spec.maxOutputTokens = 64;
    job.spec.templateText = u"Classify the sentiment of this review of a {{product}} as positive, "
                            "neutral or negative: {{review}}"_s;
    job.spec.systemPrompt = u"You are a careful analyst. Answer with one word."_s;
    job.spec.settings.insert(settingkeys::simLatencyMs, 300);
    job.spec.settings.insert(settingkeys::concurrency, 8);
    return job;
}

} // namespace bd::ui::samplejob
