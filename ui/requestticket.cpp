#include "requestticket.h"

#include <atomic>

namespace bd::ui {

quint64 nextRequestTicket()
{
    static std::atomic<quint64> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

} // namespace bd::ui
