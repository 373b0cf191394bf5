#include "crashpoint.h"

#include <QByteArray>

#include <atomic>
#include <csignal>
#include <cstdio>

namespace bd {

namespace {

struct CrashTarget
{
    QByteArray name;
    int count = 0;
    std::atomic<int> passes{0};
};

// Read once; nullptr (the usual case) when the variable is unset or malformed.
CrashTarget *crashTarget()
{
    static CrashTarget *const target = []() -> CrashTarget * {
        const QByteArray spec = qgetenv("BATCHDESK_CRASH_AT");
        const qsizetype colon = spec.lastIndexOf(':');
        bool ok = false;
        const int count = colon > 0 ? spec.mid(colon + 1).toInt(&ok) : 0;
        if (!ok || count < 1)
            return nullptr;
        auto *parsed = new CrashTarget; // lives as long as the process
        parsed->name = spec.left(colon);
        parsed->count = count;
        return parsed;
    }();
    return target;
}

} // namespace

void crashPoint(const char *name)
{
    CrashTarget *target = crashTarget();
    if (!target || target->name != name)
        return;
    if (target->passes.fetch_add(1) + 1 == target->count) {
        std::fprintf(stderr, "crash point %s reached: killing the process\n", name);
        std::fflush(stderr);
        std::raise(SIGKILL);
    }
}

} // namespace bd
