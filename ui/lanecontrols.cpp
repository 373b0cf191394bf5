#include "lanecontrols.h"

#include "api/engine.h"
#include "format.h"

#include <QApplication>
#include <QHBoxLayout>
#include <QLabel>
#include <QStyle>
#include <QToolButton>

namespace bd::ui {

using namespace Qt::StringLiterals;

LaneControls::LaneControls(Engine *engine, QWidget *parent)
    : QWidget(parent)
    , m_engine(engine)
{
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto *caption = new QLabel(tr("Lanes:"), this);
    caption->setToolTip(tr("Pause a priority lane: its jobs keep their answers in flight and send "
                           "nothing new until it is resumed (this window only, not stored)"));
    layout->addWidget(caption);
    for (int priority = 1; priority <= 3; ++priority) {
        auto *button = new QToolButton(this);
        button->setObjectName(u"lane%1"_s.arg(priority));
        button->setCheckable(true);
        button->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
        button->setAutoRaise(false);
        m_buttons[priority - 1] = button;
        layout->addWidget(button);
        connect(button, &QToolButton::clicked, this, [this, priority](bool resume) {
            // The click toggled the button; it shows the engine's state again (a lane asked
            // to resume is still paused) until laneStateChanged arrives.
            setLanePaused(priority, resume);
            if (resume)
                m_engine->resumeLane(Lane(priority));
            else
                m_engine->pauseLane(Lane(priority));
        });
        setLanePaused(priority, false);
    }
    connect(m_engine, &Engine::laneStateChanged, this,
            [this](Lane lane, bool paused) { setLanePaused(int(lane), paused); });
}

QToolButton *LaneControls::button(int priority) const
{
    return priority >= 1 && priority <= 3 ? m_buttons[priority - 1] : nullptr;
}

bool LaneControls::isLanePaused(int priority) const
{
    const QToolButton *lane = button(priority);
    return lane && !lane->isChecked();
}

void LaneControls::setLanePaused(int priority, bool paused)
{
    QToolButton *lane = button(priority);
    if (!lane)
        return;
    lane->setChecked(!paused);
    lane->setText(paused ? tr("%1 paused").arg(priorityShortLabel(priority)) : priorityShortLabel(priority));
    lane->setIcon(
        QApplication::style()->standardIcon(paused ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
    lane->setToolTip(paused ? tr("%1 is paused: click to resume it").arg(priorityLabel(priority))
                            : tr("%1 runs: click to pause it").arg(priorityLabel(priority)));
}

void LaneControls::applySnapshot(const EngineSnapshot &snapshot)
{
    for (int priority = 1; priority <= 3; ++priority) {
        if (snapshot.isLanePaused(priority) != isLanePaused(priority))
            setLanePaused(priority, snapshot.isLanePaused(priority));
    }
}

} // namespace bd::ui
