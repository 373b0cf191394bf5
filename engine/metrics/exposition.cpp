#include "exposition.h"

#include <QLocale>

#include <cmath>

namespace bd::metrics {

using namespace Qt::StringLiterals;

namespace {

QString typeName(Exposition::Type type)
{
    switch (type) {
    case Exposition::Type::Counter:
        return u"counter"_s;
    case Exposition::Type::Gauge:
        return u"gauge"_s;
    case Exposition::Type::Histogram:
        return u"histogram"_s;
    case Exposition::Type::Summary:
        return u"summary"_s;
    }
    return u"untyped"_s;
}

QString escapeHelp(const QString &help)
{
    QString out;
    out.reserve(help.size());
    for (const QChar c : help) {
        if (c == u'\\')
            out += u"\\\\"_s;
        else if (c == u'\n')
            out += u"\\n"_s;
        else
            out += c;
    }
    return out;
}

} // namespace

void Exposition::family(const QString &name, Type type, const QString &help)
{
    for (qsizetype i = 0; i < m_families.size(); ++i) {
        if (m_families.at(i).name == name) {
            m_current = i;
            return;
        }
    }
    m_families.append(Family{name, type, help, {}});
    m_current = m_families.size() - 1;
}

void Exposition::sample(const QString &sampleName, const Labels &labels, double value)
{
    if (m_current < 0)
        return;
    QString line = sampleName;
    if (!labels.isEmpty()) {
        line += u'{';
        bool first = true;
        for (const auto &[key, labelValue] : labels) {
            if (!first)
                line += u',';
            first = false;
            line += key + u"=\""_s + escapeLabelValue(labelValue) + u'"';
        }
        line += u'}';
    }
    line += u' ' + formatValue(value);
    m_families[m_current].lines.append(line);
}

void Exposition::sample(const Labels &labels, double value)
{
    if (m_current >= 0)
        sample(m_families.at(m_current).name, labels, value);
}

QByteArray Exposition::text() const
{
    QString out;
    for (const Family &family : m_families) {
        out += u"# HELP "_s + family.name + u' ' + escapeHelp(family.help) + u'\n';
        out += u"# TYPE "_s + family.name + u' ' + typeName(family.type) + u'\n';
        for (const QString &line : family.lines)
            out += line + u'\n';
    }
    return out.toUtf8();
}

QString Exposition::formatValue(double value)
{
    if (std::isnan(value))
        return u"NaN"_s;
    if (std::isinf(value))
        return value > 0 ? u"+Inf"_s : u"-Inf"_s;
    if (value == std::floor(value) && std::abs(value) < 1e15)
        return QString::number(qint64(value));
    return QString::number(value, 'g', QLocale::FloatingPointShortest);
}

QString Exposition::escapeLabelValue(const QString &value)
{
    QString out;
    out.reserve(value.size());
    for (const QChar c : value) {
        if (c == u'\\')
            out += u"\\\\"_s;
        else if (c == u'"')
            out += u"\\\""_s;
        else if (c == u'\n')
            out += u"\\n"_s;
        else
            out += c;
    }
    return out;
}

} // namespace bd::metrics
