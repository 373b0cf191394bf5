#include "tiering.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

namespace bd::cost {

using namespace Qt::StringLiterals;

namespace {

const QStringList kComparisonOps{u"<"_s, u"<="_s, u">"_s, u">="_s, u"=="_s, u"!="_s};

bool compare(double left, const TierRule::Comparison &c)
{
    if (c.op == u"<"_s)
        return left < c.value;
    if (c.op == u"<="_s)
        return left <= c.value;
    if (c.op == u">"_s)
        return left > c.value;
    if (c.op == u">="_s)
        return left >= c.value;
    if (c.op == u"=="_s)
        return left == c.value;
    return left != c.value;
}

bool allHold(double value, const QList<TierRule::Comparison> &comparisons)
{
    for (const TierRule::Comparison &c : comparisons) {
        if (!compare(value, c))
            return false;
    }
    return true;
}

} // namespace

const QString kClassifierInstruction =
    u"Rate how demanding the task below is for a language model. Answer with one word: "
    "simple, standard or complex."_s;

std::optional<Tier> parseTierLabel(const QString &answer)
{
    static const QRegularExpression label(u"(?<![A-Za-z])(simple|standard|complex)(?![A-Za-z])"_s,
                                          QRegularExpression::CaseInsensitiveOption);
    const QRegularExpressionMatch match = label.match(answer);
    if (!match.hasMatch())
        return std::nullopt;
    return tierFromName(match.captured(1).toLower());
}

QString tierName(Tier tier)
{
    switch (tier) {
    case Tier::Simple:
        return u"simple"_s;
    case Tier::Standard:
        return u"standard"_s;
    case Tier::Complex:
        return u"complex"_s;
    }
    return {};
}

std::optional<Tier> tierFromName(const QString &name)
{
    for (Tier tier : {Tier::Simple, Tier::Standard, Tier::Complex}) {
        if (name == tierName(tier))
            return tier;
    }
    return std::nullopt;
}

std::optional<TieringConfig> TieringConfig::fromFile(const QString &path, QString *error)
{
    const QString source = QFileInfo(path).fileName();
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = u"%1: cannot read the tiering file: %2"_s.arg(path, file.errorString());
        return std::nullopt;
    }
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()) {
        *error = parseError.error != QJsonParseError::NoError
                     ? u"%1: not valid JSON at offset %2: %3"_s.arg(source)
                           .arg(parseError.offset)
                           .arg(parseError.errorString())
                     : u"%1: the tiering config must be a JSON object"_s.arg(source);
        return std::nullopt;
    }
    return fromJson(document.object(), source, error);
}

std::optional<TieringConfig> TieringConfig::fromJson(const QJsonObject &json, const QString &source,
                                                     QString *error)
{
    TieringConfig config;
    config.m_source = source;
    config.m_json = json;
    const auto fail = [&](const QString &field, const QString &why) {
        *error = u"%1: %2: %3"_s.arg(source, field, why);
        return std::nullopt;
    };
    for (auto it = json.begin(); it != json.end(); ++it) {
        if (!QStringList{u"tiers"_s, u"default"_s, u"rules"_s, u"classifier"_s}.contains(it.key()))
            return fail(it.key(), u"unknown field (known: tiers, default, rules, classifier)"_s);
    }
    if (json.contains(u"classifier"_s)) {
        if (json.contains(u"rules"_s))
            return fail(u"classifier"_s, u"give rules or a classifier, not both"_s);
        const QJsonObject classifier = json.value(u"classifier"_s).toObject();
        for (auto it = classifier.begin(); it != classifier.end(); ++it) {
            if (it.key() != u"model"_s && it.key() != u"max_tokens"_s)
                return fail(u"classifier."_s + it.key(),
                            u"unknown field (known: model, max_tokens)"_s);
        }
        config.m_classifierModel = classifier.value(u"model"_s).toString();
        if (config.m_classifierModel.trimmed().isEmpty() || config.m_classifierModel == kAutoModel)
            return fail(u"classifier.model"_s, u"needs a model name"_s);
        if (classifier.contains(u"max_tokens"_s)) {
            const int maxTokens = classifier.value(u"max_tokens"_s).toInt(0);
            if (maxTokens < 1 || maxTokens > 64)
                return fail(u"classifier.max_tokens"_s, u"needs a whole number from 1 to 64"_s);
            config.m_classifierMaxTokens = maxTokens;
        }
    }

    const QJsonObject tiers = json.value(u"tiers"_s).toObject();
    if (tiers.isEmpty())
        return fail(u"tiers"_s,
                    u"needs an object mapping simple, standard and complex to models"_s);
    for (auto it = tiers.begin(); it != tiers.end(); ++it) {
        const auto tier = tierFromName(it.key());
        if (!tier)
            return fail(u"tiers."_s + it.key(),
                        u"unknown tier (tiers are simple, standard, complex)"_s);
        if (!it.value().isString() || it.value().toString().trimmed().isEmpty())
            return fail(u"tiers."_s + it.key(), u"needs a model name"_s);
        if (it.value().toString() == kAutoModel)
            return fail(u"tiers."_s + it.key(), u"a tier needs a real model, not auto"_s);
        config.m_models[int(*tier)] = it.value().toString();
    }
    for (Tier tier : {Tier::Simple, Tier::Standard, Tier::Complex}) {
        if (config.m_models[int(tier)].isEmpty())
            return fail(u"tiers."_s + tierName(tier), u"missing: every tier needs a model"_s);
    }

    if (json.contains(u"default"_s)) {
        const auto tier = tierFromName(json.value(u"default"_s).toString());
        if (!tier)
            return fail(u"default"_s, u"needs simple, standard or complex"_s);
        config.m_default = *tier;
    }

    const QJsonValue rulesValue = json.value(u"rules"_s);
    if (!rulesValue.isUndefined() && !rulesValue.isArray())
        return fail(u"rules"_s, u"needs a list of rules"_s);
    const QJsonArray rules = rulesValue.toArray();
    for (qsizetype i = 0; i < rules.size(); ++i) {
        const QString at = u"rules[%1]"_s.arg(i);
        if (!rules.at(i).isObject())
            return fail(at, u"a rule is an object"_s);
        const QJsonObject object = rules.at(i).toObject();
        TierRule rule;
        const auto tier = tierFromName(object.value(u"tier"_s).toString());
        if (!tier)
            return fail(at + u".tier"_s, u"needs simple, standard or complex"_s);
        rule.tier = *tier;

        int subjects = 0;
        for (const QString &key :
             {u"prompt_chars"_s, u"prompt_tokens"_s, u"prompt_regex"_s, u"column"_s})
            subjects += object.contains(key) ? 1 : 0;
        if (subjects != 1)
            return fail(
                at, u"needs exactly one of prompt_chars, prompt_tokens, prompt_regex, column"_s);

        const auto readComparisons = [&](const QJsonObject &ops, const QString &field,
                                         bool onlyOps) -> bool {
            for (auto it = ops.begin(); it != ops.end(); ++it) {
                if (!kComparisonOps.contains(it.key())) {
                    if (onlyOps) {
                        fail(field + u'.' + it.key(),
                             u"unknown comparison (use < <= > >= == !=)"_s);
                        return false;
                    }
                    continue;
                }
                if (!it.value().isDouble()) {
                    fail(field + u'.' + it.key(), u"needs a number"_s);
                    return false;
                }
                rule.comparisons.append({it.key(), it.value().toDouble()});
            }
            return true;
        };
        const auto readRegex = [&](const QString &pattern, const QString &field) -> bool {
            rule.pattern = pattern;
            rule.regex = QRegularExpression(pattern);
            if (pattern.isEmpty() || !rule.regex.isValid()) {
                fail(field, pattern.isEmpty() ? u"needs a regular expression"_s
                                              : u"bad regular expression at offset %1: %2"_s
                                                    .arg(rule.regex.patternErrorOffset())
                                                    .arg(rule.regex.errorString()));
                return false;
            }
            rule.regex.optimize();
            return true;
        };

        if (object.contains(u"prompt_chars"_s) || object.contains(u"prompt_tokens"_s)) {
            const bool chars = object.contains(u"prompt_chars"_s);
            const QString key = chars ? u"prompt_chars"_s : u"prompt_tokens"_s;
            rule.subject = chars ? TierRule::Subject::PromptChars : TierRule::Subject::PromptTokens;
            const QJsonObject ops = object.value(key).toObject();
            if (ops.isEmpty())
                return fail(at + u'.' + key, u"needs comparisons such as {\">\": 800}"_s);
            if (!readComparisons(ops, at + u'.' + key, true))
                return std::nullopt;
        } else if (object.contains(u"prompt_regex"_s)) {
            rule.subject = TierRule::Subject::PromptText;
            if (!readRegex(object.value(u"prompt_regex"_s).toString(), at + u".prompt_regex"_s))
                return std::nullopt;
        } else {
            rule.subject = TierRule::Subject::Column;
            rule.column = object.value(u"column"_s).toString();
            if (rule.column.isEmpty())
                return fail(at + u".column"_s, u"needs a column name"_s);
            int tests = 0;
            if (object.contains(u"equals"_s)) {
                ++tests;
                const QJsonValue value = object.value(u"equals"_s);
                if (!value.isString() && !value.isDouble())
                    return fail(at + u".equals"_s, u"needs a text or a number"_s);
                rule.equals = value.isString() ? value.toString() : value.toVariant().toString();
            }
            if (object.contains(u"in"_s)) {
                ++tests;
                const QJsonValue list = object.value(u"in"_s);
                if (!list.isArray() || list.toArray().isEmpty())
                    return fail(at + u".in"_s, u"needs a non-empty list of values"_s);
                for (const QJsonValue &value : list.toArray())
                    rule.in.append(value.isString() ? value.toString()
                                                    : value.toVariant().toString());
            }
            if (object.contains(u"regex"_s)) {
                ++tests;
                if (!readRegex(object.value(u"regex"_s).toString(), at + u".regex"_s))
                    return std::nullopt;
            }
            if (!readComparisons(object, at, false))
                return std::nullopt;
            if (!rule.comparisons.isEmpty())
                ++tests;
            if (tests != 1)
                return fail(at, u"a column rule needs exactly one test: equals, in, regex or "
                                "comparisons (< <= > >= == !=)"_s);
        }
        for (auto it = object.begin(); it != object.end(); ++it) {
            static const QStringList known{u"tier"_s,         u"prompt_chars"_s, u"prompt_tokens"_s,
                                           u"prompt_regex"_s, u"column"_s,       u"equals"_s,
                                           u"in"_s,           u"regex"_s};
            if (!known.contains(it.key()) && !kComparisonOps.contains(it.key()))
                return fail(at + u'.' + it.key(), u"unknown field"_s);
        }
        config.m_rules.append(rule);
    }
    return config;
}

bool TieringConfig::bind(const QStringList &columns, const QStringList &knownModels, QString *error)
{
    for (Tier tier : {Tier::Simple, Tier::Standard, Tier::Complex}) {
        const QString &model = m_models[int(tier)];
        if (!knownModels.isEmpty() && !knownModels.contains(model)) {
            *error = u"%1: tiers.%2: unknown model '%3' (known: %4)"_s.arg(
                m_source, tierName(tier), model, knownModels.join(u", "_s));
            return false;
        }
    }
    if (usesClassifier() && !knownModels.isEmpty() && !knownModels.contains(m_classifierModel)) {
        *error = u"%1: classifier.model: unknown model '%2' (known: %3)"_s.arg(
            m_source, m_classifierModel, knownModels.join(u", "_s));
        return false;
    }
    for (qsizetype i = 0; i < m_rules.size(); ++i) {
        TierRule &rule = m_rules[i];
        if (rule.subject != TierRule::Subject::Column)
            continue;
        rule.columnIndex = int(columns.indexOf(rule.column));
        if (rule.columnIndex < 0) {
            *error = u"%1: rules[%2].column: no column '%3' in the input (columns: %4)"_s.arg(
                m_source, QString::number(i), rule.column, columns.join(u", "_s));
            return false;
        }
    }
    return true;
}

QStringList TieringConfig::models() const
{
    QStringList names;
    for (const QString &model : m_models) {
        if (!names.contains(model))
            names.append(model);
    }
    if (usesClassifier() && !names.contains(m_classifierModel))
        names.append(m_classifierModel);
    return names;
}

Tier TieringConfig::topTier(
    const std::function<std::optional<double>(const QString &model)> &outputPrice) const
{
    Tier top = Tier::Complex;
    std::optional<double> best = outputPrice(m_models[int(Tier::Complex)]);
    for (Tier tier : {Tier::Standard, Tier::Simple}) {
        const auto price = outputPrice(m_models[int(tier)]);
        if (price && (!best || *price > *best)) {
            best = price;
            top = tier;
        }
    }
    return top;
}

Tier TieringConfig::route(const QStringList &values, const QString &prompt,
                          qint64 promptTokens) const
{
    for (const TierRule &rule : m_rules) {
        bool match = false;
        switch (rule.subject) {
        case TierRule::Subject::PromptChars:
            match = allHold(double(prompt.size()), rule.comparisons);
            break;
        case TierRule::Subject::PromptTokens:
            match = allHold(double(promptTokens), rule.comparisons);
            break;
        case TierRule::Subject::PromptText:
            match = rule.regex.match(prompt).hasMatch();
            break;
        case TierRule::Subject::Column: {
            const QString value = rule.columnIndex >= 0 && rule.columnIndex < values.size()
                                      ? values.at(rule.columnIndex)
                                      : QString();
            if (rule.equals) {
                match = value == *rule.equals;
            } else if (!rule.in.isEmpty()) {
                match = rule.in.contains(value);
            } else if (!rule.pattern.isEmpty()) {
                match = rule.regex.match(value).hasMatch();
            } else {
                bool ok = false;
                const double number = value.trimmed().toDouble(&ok);
                match = ok && allHold(number, rule.comparisons);
            }
            break;
        }
        }
        if (match)
            return rule.tier;
    }
    return m_default;
}

} // namespace bd::cost
