#pragma once

#include <QElapsedTimer>
#include <QString>

// A one-line progress bar with rate and ETA on stderr, redrawn at most a few times a
// second. Silent when stderr is not a terminal, so logs and pipes stay clean.
class TerminalProgress
{
public:
    TerminalProgress();

    bool isActive() const { return m_enabled; }
    void update(const QString &label, qint64 done, qint64 total, const QString &unit);
    // Ends the line so later output starts clean.
    void finish();

private:
    bool m_enabled = false;
    bool m_drawn = false;
    QElapsedTimer m_sinceDraw;
    QElapsedTimer m_sinceStart;
    qint64 m_startDone = -1;
    QString m_label;
};
