#include "loghistogram.h"

#include <cmath>

namespace bd::metrics {

namespace {

int bucketByLog(double value)
{
    const int index = 1 + int(std::floor(std::log2(value) * LogHistogram::kSubBuckets));
    return qBound(1, index, LogHistogram::kBuckets - 1);
}

// Observations are mostly whole milliseconds under a few seconds: their buckets come from a
// table the same formula filled, which is what they always were (std::log2 and its floor
// were about 1 % of a drain's CPU, four observations a task).
constexpr quint32 kTabulated = 4096;

} // namespace

int LogHistogram::bucketOf(double value)
{
    if (!(value >= 1.0)) // also NaN and negatives
        return 0;
    if (value < kTabulated) {
        static const auto buckets = [] {
            std::array<quint16, kTabulated> table{};
            for (quint32 whole = 1; whole < kTabulated; ++whole)
                table[whole] = quint16(bucketByLog(double(whole)));
            return table;
        }();
        const auto whole = static_cast<quint32>(value);
        if (double(whole) == value)
            return buckets[whole];
    }
    return bucketByLog(value);
}

double LogHistogram::bucketLower(int index)
{
    return index <= 0 ? 0.0 : std::exp2(double(index - 1) / kSubBuckets);
}

double LogHistogram::bucketUpper(int index)
{
    return index <= 0 ? 1.0 : std::exp2(double(index) / kSubBuckets);
}

void LogHistogram::add(double value)
{
    if (!(value >= 0.0))
        value = 0.0;
    quint32 &bucket = m_buckets[size_t(bucketOf(value))];
    if (bucket < std::numeric_limits<quint32>::max())
        ++bucket;
    ++m_count;
    m_sum += value;
    m_min = qMin(m_min, value);
    m_max = qMax(m_max, value);
}

void LogHistogram::merge(const LogHistogram &other)
{
    if (!other.m_count)
        return;
    for (size_t i = 0; i < m_buckets.size(); ++i) {
        const quint64 total = quint64(m_buckets[i]) + other.m_buckets[i];
        m_buckets[i] = quint32(qMin<quint64>(total, std::numeric_limits<quint32>::max()));
    }
    m_count += other.m_count;
    m_sum += other.m_sum;
    m_min = qMin(m_min, other.m_min);
    m_max = qMax(m_max, other.m_max);
}

void LogHistogram::clear()
{
    *this = LogHistogram();
}

double LogHistogram::quantile(double q) const
{
    if (!m_count)
        return 0.0;
    if (q <= 0.0)
        return m_min;
    if (q >= 1.0)
        return m_max;
    // Nearest rank: the smallest value with at least ceil(q * n) observations at or below it.
    const quint64 rank = qMax<quint64>(1, quint64(std::ceil(q * double(m_count))));
    quint64 seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
        seen += m_buckets[size_t(i)];
        if (seen >= rank) {
            const double middle = i == 0 ? 0.5 : std::exp2((double(i) - 0.5) / kSubBuckets);
            return qBound(m_min, middle, m_max);
        }
    }
    return m_max;
}

} // namespace bd::metrics
