#pragma once

#include <array>
#include <functional>
#include <optional>
#include <QJsonObject>
#include <QList>
#include <QRegularExpression>
#include <QString>
#include <QStringList>

namespace bd::cost {

// Model tiering: a job whose model is "auto" sends each row to the model of the tier its
// row falls in. The tiering config (job setting "tiering", batchctl --tiering FILE.json):
//
//   {
//     "tiers":   {"simple": "gpt-4.1-nano", "standard": "gpt-4.1-mini", "complex": "gpt-4.1"},
//     "default": "standard",
//     "rules": [
//       {"tier": "complex", "prompt_tokens": {">": 800}},
//       {"tier": "simple",  "prompt_chars": {"<=": 200}},
//       {"tier": "complex", "column": "category", "in": ["legal", "medical"]},
//       {"tier": "simple",  "column": "lang", "equals": "en"},
//       {"tier": "complex", "column": "amount", ">=": 1000},
//       {"tier": "complex", "column": "text", "regex": "(?i)\\bcontract\\b"},
//       {"tier": "complex", "prompt_regex": "step by step"}
//     ]
//   }
//
// Instead of rules, a classifier: {"classifier": {"model": "gpt-4.1-nano", "max_tokens": 5}}
// sends each row's rendered prompt, after a short fixed instruction, to that (cheap) model
// first; its answer is parsed for the label (parseTierLabel), and an answer without one, or
// a failed call, means the default tier. The classification is billed to the task and the
// job. Sync lanes only: a provider batch would need every row classified before it is
// assembled.
//
// Rules are tried in order and the first that matches decides; no match is the default
// tier. Numeric comparisons ("<", "<=", ">", ">=", "==", "!=") all have to hold (a range is
// two of them); a column value that is not a number never matches them. prompt_tokens is
// the estimate dispatch uses everywhere (system prompt + rendered row, 4 characters a token).
// The tier whose model is dearest (by output price) is the "top" tier savings are measured
// against; without prices it is "complex".
enum class Tier : int
{
    Simple = 0,
    Standard = 1,
    Complex = 2,
};

QString tierName(Tier tier);
std::optional<Tier> tierFromName(const QString &name);

// The label in a classifier's answer: the first of simple / standard / complex that stands
// as a word, in any case, wherever it is ("Complex.", "**simple**", {"label":"standard"}).
// nullopt when there is none.
std::optional<Tier> parseTierLabel(const QString &answer);

// What a classification call sends before the row's prompt.
extern const QString kClassifierInstruction;

// The model name that switches a job to tiering.
inline constexpr QLatin1StringView kAutoModel{"auto"};

struct TierRule
{
    enum class Subject
    {
        PromptChars,
        PromptTokens,
        PromptText,
        Column,
    };
    struct Comparison
    {
        QString op; // < <= > >= == !=
        double value = 0;
    };

    Tier tier = Tier::Standard;
    Subject subject = Subject::PromptText;
    QString column;       // Subject::Column
    int columnIndex = -1; // bound by TieringConfig::bind
    std::optional<QString> equals;
    QStringList in;
    QRegularExpression regex; // valid when pattern is set
    QString pattern;
    QList<Comparison> comparisons;
};

class TieringConfig
{
public:
    // Reads and checks the config's shape (tiers, default, rules, regexes). `source` names
    // the file in errors, which say the field: "tiering.json: rules[2].regex: ...".
    static std::optional<TieringConfig> fromJson(const QJsonObject &json, const QString &source,
                                                 QString *error);
    static std::optional<TieringConfig> fromFile(const QString &path, QString *error);

    // Checks the models against what the provider serves (an empty list: anything goes)
    // and binds column rules to the CSV header. False with a message naming the field.
    bool bind(const QStringList &columns, const QStringList &knownModels, QString *error);

    QString modelFor(Tier tier) const { return m_models[int(tier)]; }
    Tier defaultTier() const { return m_default; }
    const QList<TierRule> &rules() const { return m_rules; }
    QStringList models() const; // distinct, in tier order (and the classifier's model last)
    bool usesClassifier() const { return !m_classifierModel.isEmpty(); }
    QString classifierModel() const { return m_classifierModel; }
    int classifierMaxTokens() const { return m_classifierMaxTokens; }
    // The tier everything would run on without tiering: the dearest model's.
    Tier
    topTier(const std::function<std::optional<double>(const QString &model)> &outputPrice) const;

    // The tier of one row: values as the CSV has them, the rendered prompt, and its
    // token estimate.
    Tier route(const QStringList &values, const QString &prompt, qint64 promptTokens) const;

    // The config as stored in the job's settings (what fromJson reads back).
    QJsonObject toJson() const { return m_json; }

private:
    QString m_source;
    QJsonObject m_json;
    std::array<QString, 3> m_models;
    Tier m_default = Tier::Standard;
    QList<TierRule> m_rules;
    QString m_classifierModel;
    int m_classifierMaxTokens = 5;
};

} // namespace bd::cost
