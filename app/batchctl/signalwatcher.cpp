#include "signalwatcher.h"

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace batchctl {

namespace {

int s_fds[2] = {-1, -1};

// Ctrl-C, a polite kill, and a closed terminal (SIGHUP) all pause rather than kill.
constexpr int kWatched[] = {SIGINT, SIGTERM, SIGHUP};

void writeByte(int)
{
    const char byte = 1;
    [[maybe_unused]] const auto written = ::write(s_fds[1], &byte, 1);
}

} // namespace

SignalWatcher::SignalWatcher()
{
    if (::pipe(s_fds) != 0)
        return;
    ::fcntl(s_fds[1], F_SETFL, O_NONBLOCK);
    m_notifier = std::make_unique<QSocketNotifier>(s_fds[0], QSocketNotifier::Read);
    struct sigaction action = {};
    action.sa_handler = writeByte;
    sigemptyset(&action.sa_mask);
    for (int signal : kWatched)
        ::sigaction(signal, &action, nullptr);
}

SignalWatcher::~SignalWatcher()
{
    for (int signal : kWatched)
        ::signal(signal, SIG_DFL);
    m_notifier.reset();
    ::close(s_fds[0]);
    ::close(s_fds[1]);
    s_fds[0] = s_fds[1] = -1;
}

void SignalWatcher::onSignal(QObject *context, std::function<void()> callback)
{
    if (!m_notifier)
        return;
    QObject::connect(m_notifier.get(), &QSocketNotifier::activated, context,
                     [callback = std::move(callback)] {
                         char buffer[16];
                         [[maybe_unused]] const auto n = ::read(s_fds[0], buffer, sizeof buffer);
                         callback();
                     });
}

} // namespace batchctl
