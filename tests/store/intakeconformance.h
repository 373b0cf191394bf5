#pragma once

// The intake role's part of the store conformance suite (store/intake.h): standing queues,
// keyed submissions with backpressure, results and the webhook outbox, on every backend.

#include "storeconformance.h"

namespace bd::storetest {

class IntakeConformance : public QObject
{
    Q_OBJECT

public:
    explicit IntakeConformance(Backend backend, QObject *parent = nullptr);
    ~IntakeConformance() override;

private Q_SLOTS:
    void init();

    void queuesRecordedOnceByName();
    void submissionKeysDuplicatesAndPriorities();
    void backpressureRefusesWholeSubmissions();
    void resultsAndWebhookOutbox();
    void concurrentSubmittersShareKeys();

private:
    Backend m_backend;
    QString m_location;
};

} // namespace bd::storetest
