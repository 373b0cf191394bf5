#pragma once

#include "api/snapshot.h"

#include <array>
#include <QWidget>

class QToolButton;

namespace bd {
class Engine;
}

namespace bd::ui {

// Three toggles, one per priority lane (Realtime P1, Grouped P2, Batch P3): pressed while
// the lane runs; releasing one pauses it in this engine (Engine::pauseLane). They show
// what the engine says (laneStateChanged, snapshots), not what was clicked.
class LaneControls final : public QWidget
{
    Q_OBJECT

public:
    explicit LaneControls(Engine *engine, QWidget *parent = nullptr);

    void applySnapshot(const bd::EngineSnapshot &snapshot);
    void setLanePaused(int priority, bool paused);
    bool isLanePaused(int priority) const;
    QToolButton *button(int priority) const;

private:
    Engine *m_engine;
    std::array<QToolButton *, 3> m_buttons{};
};

} // namespace bd::ui
