#pragma once

#include <QtGlobal>

#include <array>
#include <limits>

namespace bd::metrics {

// Fixed-size log-linear histogram of non-negative values (milliseconds here): bucket 0
// holds [0, 1), bucket i >= 1 holds [2^((i-1)/16), 2^(i/16)), up to 2^34 (about 200 days;
// larger values land in the last bucket). Memory is constant (2.2 KB) whatever the
// number of observations, and two histograms merge by adding their buckets, so fine
// intervals roll up into coarse ones exactly.
//
// Error: quantile() returns the geometric middle of the bucket that holds the
// nearest-rank quantile, clamped to the observed min and max. For values >= 1 that is
// within 2^(1/32) - 1 = 2.2 % of the exact nearest-rank value; below 1 the absolute error
// is under 1.
class LogHistogram
{
public:
    static constexpr int kSubBuckets = 16;   // per doubling
    static constexpr int kOctaves = 34;
    static constexpr int kBuckets = 1 + kSubBuckets * kOctaves;
    static constexpr double kRelativeError = 0.0219; // 2^(1/32) - 1, rounded up

    void add(double value);
    void merge(const LogHistogram &other);
    void clear();

    quint64 count() const { return m_count; }
    double sum() const { return m_sum; }
    double min() const { return m_count ? m_min : 0.0; }
    double max() const { return m_count ? m_max : 0.0; }
    double mean() const { return m_count ? m_sum / double(m_count) : 0.0; }
    // q in [0, 1]; 0 when empty.
    double quantile(double q) const;

    static int bucketOf(double value);
    static double bucketLower(int index);
    static double bucketUpper(int index);

private:
    std::array<quint32, kBuckets> m_buckets{};
    quint64 m_count = 0;
    double m_sum = 0.0;
    double m_min = std::numeric_limits<double>::max();
    double m_max = 0.0;
};

} // namespace bd::metrics
