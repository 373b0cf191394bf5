#pragma once

#include "api/intake.h"

namespace bd {

namespace store {
struct QueueRecord;
class Store;
} // namespace store

// What a queue is and how its job stands, without its counts and cost: those cost a scan
// of the job's tasks on the database, so whoever asks fills them the cheapest way it can
// (the engine from the runner that serves the queue, the reader from the database).
QueueInfo describeQueue(const store::QueueRecord &record, store::Store &store);

} // namespace bd
