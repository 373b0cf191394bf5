#include "batchplanner.h"

namespace bd::providers {

QList<QList<ChatRequest>>
splitIntoBatches(const QList<ChatRequest> &requests, const BatchLimits &limits,
                 const std::function<qint64(const ChatRequest &)> &lineBytes)
{
    QStringList models;
    QHash<QString, QList<ChatRequest>> byModel;
    for (const ChatRequest &request : requests) {
        if (!byModel.contains(request.model))
            models.append(request.model);
        byModel[request.model].append(request);
    }
    QList<QList<ChatRequest>> batches;
    for (const QString &model : std::as_const(models)) {
        QList<ChatRequest> current;
        qint64 currentBytes = 0;
        for (const ChatRequest &request : std::as_const(byModel[model])) {
            const qint64 bytes = limits.maxBytes > 0 ? lineBytes(request) : 0;
            const bool full = !current.isEmpty() &&
                              ((limits.maxRequests > 0 && current.size() >= limits.maxRequests) ||
                               (limits.maxBytes > 0 && currentBytes + bytes > limits.maxBytes));
            if (full) {
                batches.append(current);
                current.clear();
                currentBytes = 0;
            }
            current.append(request);
            currentBytes += bytes;
        }
        if (!current.isEmpty())
            batches.append(current);
    }
    return batches;
}

} // namespace bd::providers
