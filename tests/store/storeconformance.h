#pragma once

// The store conformance suite: what every store backend must do, written against the
// interfaces only (store::Database and the roles it hands out). A backend's test program
// gives the suite a way to make fresh locations and runs it unchanged; see
// tests/unit/test_store_sqlite.cpp for SQLite. Time is passed explicitly, never read.

#include <QObject>
#include <QString>

#include <functional>
#include <memory>

namespace bd::store {
class Database;
}

namespace bd::storetest {

struct Backend
{
    QString name;
    // A location no test has used yet (a new file, a new PostgreSQL database or schema).
    std::function<QString()> newLocation;
};

class StoreConformance : public QObject
{
    Q_OBJECT

public:
    explicit StoreConformance(Backend backend, QObject *parent = nullptr);
    ~StoreConformance() override;

private Q_SLOTS:
    void init();

    void jobsRoundTripAndFingerprintContinue();
    void appendAndClaimByPriorityWithLimitsAndLeases();
    void importKeepsValuesAndInputOrderAcrossStatements();
    void leasesRenewExpireAndRelease();
    void groupedTransitionsCheckTheLeaseOwner();
    void manyAnswersAtOnceAreCheckedOneByOne();
    void retryDeadLetterAndReleaseActions();
    void batchesAndAssignment();
    void replayByIdsClassAndRevision();
    void alertsRaiseRefreshAndClearOnce();
    void settingsAndSpendLedger();
    void jobChargesCountOncePerKey();
    void rejectedAnswersAreBilled();
    void responseCache();
    void costLinesAndCalibration();
    void exportRowsInInputOrder();
    void exportWalksPagesOfItsJobOnly();
    void exportKeepsEveryCharacter();
    void jobTotalsFollowEveryChange();
    void readerCountsPagesAndDetail();
    void readerOrderedPages();
    void readerSortIndexes();
    void readerDeadByClassAndIds();
    void taskActions();
    void metricsWriteAndRead();
    void queueProbe();
    void queueProbeWeighsImportedAgainstRequeued();
    void jobControls();
    void workersHeartbeatAndList();
    void batchOwnershipPassesFromStaleWorkers();
    void sharedRateScheduleNeverRunsAhead();
    void sharedLimitersHoldTheRateTogether();
    void sharedBreakerOpensForAllAndProbesOnce();
    void sharedWorkerShares();
    void databasesSideBySide();

private:
    std::unique_ptr<store::Database> open(const QString &location, bool readOnly = false);

    Backend m_backend;
    QString m_location;
};

// Runs the suite on a backend; returns QTest's exit code.
int runStoreConformance(const Backend &backend, int argc, char **argv);

} // namespace bd::storetest
