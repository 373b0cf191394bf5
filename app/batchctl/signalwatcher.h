#pragma once

#include <QObject>
#include <QSocketNotifier>

#include <functional>
#include <memory>

namespace batchctl {

// SIGINT, SIGTERM and SIGHUP as an event-loop callback while it exists, through a self-pipe: the
// handler itself only writes one byte. The default dispositions come back when it goes.
class SignalWatcher final
{
public:
    SignalWatcher();
    ~SignalWatcher();
    Q_DISABLE_COPY_MOVE(SignalWatcher)

    // callback runs on context's thread, once per signal delivered.
    void onSignal(QObject *context, std::function<void()> callback);

private:
    std::unique_ptr<QSocketNotifier> m_notifier;
};

} // namespace batchctl
