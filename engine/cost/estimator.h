#pragma once

#include "api/estimate.h"
#include "core/tasktypes.h"
#include "cost/pricetable.h"

#include <QJsonObject>
#include <QString>

#include <optional>

namespace bd::store {
class Store;
}

namespace bd::cost {

// Streams spec.sourcePath, renders every row with the template and sums up. spec.model
// must be set. store (optional) answers which requests are already cached and calibrates
// the typical output length from completed tasks of the same template, system prompt and
// model. False with *error on unreadable input or a template that does not bind.
bool estimateJob(const JobSpec &spec, const PriceTable &prices, store::Store *store,
                 JobEstimate *estimate, QString *error);

} // namespace bd::cost
