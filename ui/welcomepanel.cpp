#include "welcomepanel.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

WelcomePanel::WelcomePanel(QWidget *parent)
    : QFrame(parent)
{
    setObjectName(u"welcomePanel"_s);
    auto *outer = new QVBoxLayout(this);
    outer->addStretch(1);

    auto *title = new QLabel(tr("Welcome to BatchDesk"), this);
    QFont titleFont = title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.8);
    titleFont.setBold(true);
    title->setFont(titleFont);
    title->setAlignment(Qt::AlignHCenter);
    outer->addWidget(title);
    auto *intro =
        new QLabel(tr("Run a prompt over every row of a CSV file: now, within the hour, or "
                      "within a day at the batch price."),
                   this);
    intro->setWordWrap(true);
    intro->setAlignment(Qt::AlignHCenter);
    outer->addWidget(intro);
    outer->addSpacing(16);

    m_dropZone = new QFrame(this);
    m_dropZone->setObjectName(u"dropZone"_s);
    m_dropZone->setMinimumSize(360, 150);
    m_dropZone->setMaximumWidth(620);
    auto *zone = new QVBoxLayout(m_dropZone);
    auto *dropText = new QLabel(tr("Drop a CSV file here"), m_dropZone);
    QFont dropFont = dropText->font();
    dropFont.setPointSizeF(dropFont.pointSizeF() * 1.3);
    dropText->setFont(dropFont);
    dropText->setAlignment(Qt::AlignCenter);
    zone->addStretch(1);
    zone->addWidget(dropText);
    auto *buttons = new QHBoxLayout;
    buttons->addStretch(1);
    m_open = new QPushButton(tr("Open CSV…"), m_dropZone);
    m_open->setDefault(true);
    buttons->addWidget(m_open);
    m_sample = new QPushButton(tr("Try the sample — simulator, no key needed"), m_dropZone);
    m_sample->setToolTip(
        tr("Imports the sample product reviews and classifies their sentiment with the "
           "built-in simulator: a real job, no API key, no cost."));
    buttons->addWidget(m_sample);
    buttons->addStretch(1);
    zone->addLayout(buttons);
    zone->addStretch(1);
    auto *center = new QHBoxLayout;
    center->addStretch(1);
    center->addWidget(m_dropZone, 4);
    center->addStretch(1);
    outer->addLayout(center);

    auto *hint = new QLabel(tr("The first row names the columns; a template such as "
                               "<i>Classify: {{review}}</i> becomes one prompt per row."),
                            this);
    hint->setAlignment(Qt::AlignHCenter);
    hint->setWordWrap(true);
    hint->setForegroundRole(QPalette::PlaceholderText);
    outer->addSpacing(8);
    outer->addWidget(hint);
    outer->addStretch(2);

    connect(m_open, &QPushButton::clicked, this, &WelcomePanel::openCsvRequested);
    connect(m_sample, &QPushButton::clicked, this, &WelcomePanel::sampleRequested);
    applyPalette();
}

void WelcomePanel::setSampleBusy(bool busy)
{
    m_sample->setEnabled(!busy);
    m_sample->setText(busy ? tr("Preparing the sample…")
                           : tr("Try the sample — simulator, no key needed"));
}

void WelcomePanel::changeEvent(QEvent *event)
{
    QFrame::changeEvent(event);
    if (event->type() == QEvent::PaletteChange)
        applyPalette();
}

void WelcomePanel::applyPalette()
{
    // A dashed border in the palette's mid tone, so the zone reads in light and dark themes.
    const QPalette pal = palette();
    m_dropZone->setStyleSheet(
        u"#dropZone { border: 2px dashed %1; border-radius: 10px; background: %2; }"_s.arg(
            pal.color(QPalette::Mid).name(), pal.color(QPalette::Base).name()));
}

} // namespace bd::ui
