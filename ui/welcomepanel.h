#pragma once

#include <QFrame>

class QPushButton;

namespace bd::ui {

// What an empty database opens on instead of empty charts: where to drop a CSV file, a
// button to choose one, and a sample job on the simulator that needs no API key. The
// main window takes the drop (anywhere in it), so the zone here is the invitation.
class WelcomePanel final : public QFrame
{
    Q_OBJECT

public:
    explicit WelcomePanel(QWidget *parent = nullptr);

    QPushButton *openButton() const { return m_open; }
    QPushButton *sampleButton() const { return m_sample; }
    // While the sample is being prepared and imported: the button says so and waits.
    void setSampleBusy(bool busy);

Q_SIGNALS:
    void openCsvRequested();
    void sampleRequested();

protected:
    void changeEvent(QEvent *event) override;

private:
    void applyPalette();

    QFrame *m_dropZone = nullptr;
    QPushButton *m_open = nullptr;
    QPushButton *m_sample = nullptr;
};

} // namespace bd::ui
