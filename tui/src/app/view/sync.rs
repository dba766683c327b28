//! The live sync panel: what the daemon uploads now (with progress) and what waits on the
//! left; the last errors and the last links on the right.

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::text;
use crate::app::state::{AppState, Daemon};
use crate::app::sync::{SyncState, Transfer};

/// Widest file name beside a progress bar.
const NAME_WIDTH: usize = 32;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let sync = &state.sync;
    let title = match (&state.daemon, sync.connected) {
        (Daemon::Down { .. }, _) => " Sync · daemon not running ".to_string(),
        (_, false) => " Sync · connecting to the daemon… ".to_string(),
        (_, true) => format!(" Sync · {} ", headline(sync)),
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .title(title)
        .title_bottom(" l hides · p pause/resume · S rescan ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !sync.connected {
        let text = match (&state.daemon, &sync.lost) {
            (Daemon::Down { .. }, _) => {
                "Start `imgcloudd` to sync watched folders; the panel connects by itself."
                    .to_string()
            }
            (_, Some(reason)) => format!("{reason}; retrying every few seconds."),
            (_, None) => "Waiting for the daemon's event stream…".to_string(),
        };
        frame.render_widget(
            Paragraph::new(text).style(Style::new().add_modifier(Modifier::DIM)),
            inner,
        );
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(1)
            .areas(inner);
    let height = usize::from(inner.height);
    frame.render_widget(Paragraph::new(activity(sync, left.width, height)), left);
    frame.render_widget(Paragraph::new(results(sync, right.width, height)), right);
}

/// "running · 3 pending", "paused · 3 pending", "cloud unreachable".
fn headline(sync: &SyncState) -> String {
    let mut parts = vec![if sync.paused { "paused" } else { "running" }.to_string()];
    parts.push(if sync.pending == 0 {
        "up to date".to_string()
    } else {
        format!("{} pending", sync.pending)
    });
    if sync.online == Some(false) {
        parts.push("cloud unreachable".to_string());
    }
    parts.join(" · ")
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `text` cut to `width` characters with `…`.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Left column: uploading now, then the queue.
fn activity(sync: &SyncState, width: u16, height: usize) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let mut lines = vec![Line::styled("Uploading", bold())];
    if sync.transfers.is_empty() {
        lines.push(Line::styled(
            if sync.paused {
                "paused"
            } else {
                "nothing right now"
            },
            dim(),
        ));
    }
    for transfer in &sync.transfers {
        lines.push(progress_line(transfer, width));
    }
    if let Some(folder) = &sync.scanning {
        lines.push(Line::styled(
            fit(&format!("scanning {}", folder.display()), width),
            dim(),
        ));
    }
    if let Some(reason) = &sync.offline_reason {
        lines.push(Line::styled(
            fit(&format!("cloud unreachable: {reason}"), width),
            Style::new().fg(Color::Yellow),
        ));
    }
    let waiting: Vec<&Path> = sync
        .queue
        .iter()
        .filter(|p| !sync.transfers.iter().any(|t| &t.path == *p))
        .map(|p| p.as_path())
        .collect();
    if !waiting.is_empty() && lines.len() + 1 < height {
        lines.push(Line::styled(format!("Queue ({})", waiting.len()), bold()));
        let room = height.saturating_sub(lines.len());
        let shown = if waiting.len() > room {
            room.saturating_sub(1)
        } else {
            waiting.len()
        };
        for path in &waiting[..shown] {
            lines.push(Line::raw(fit(&name(path), width)));
        }
        if shown < waiting.len() {
            lines.push(Line::styled(
                format!("… {} more", waiting.len() - shown),
                dim(),
            ));
        }
    }
    lines
}

/// "beach.jpg ██████░░░░ 60% 1.2 MiB".
fn progress_line(transfer: &Transfer, width: usize) -> Line<'static> {
    let percent = (transfer.bytes_done * 100)
        .checked_div(transfer.bytes_total)
        .unwrap_or(0)
        .min(100);
    let size = text::size(transfer.bytes_total);
    let bar_width = 10;
    let filled = (percent as usize * bar_width) / 100;
    let tail = format!(" {percent:>3}% {size}");
    let name_width = width
        .saturating_sub(bar_width + tail.chars().count() + 1)
        .min(NAME_WIDTH);
    Line::from(vec![
        Span::raw(format!(
            "{:<name_width$} ",
            fit(&name(&transfer.path), name_width)
        )),
        Span::raw("█".repeat(filled)),
        Span::styled("░".repeat(bar_width - filled), dim()),
        Span::raw(tail),
    ])
}

/// Right column: the last errors (red), then the last links.
fn results(sync: &SyncState, width: u16, height: usize) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let mut lines = Vec::new();
    if !sync.errors.is_empty() {
        lines.push(Line::styled(
            format!("Errors ({})", sync.errors.len()),
            bold(),
        ));
        // Leave room for the links.
        let room = if sync.links.is_empty() {
            height
        } else {
            height / 2
        };
        for error in sync.errors.iter().take(room.saturating_sub(1)) {
            let retry = if error.permanent { "" } else { " (will retry)" };
            lines.push(Line::styled(
                fit(
                    &format!("✗ {}: {}{retry}", name(&error.path), error.message),
                    width,
                ),
                Style::new().fg(Color::Red),
            ));
        }
    }
    lines.push(Line::styled("Last links", bold()));
    if sync.links.is_empty() {
        lines.push(Line::styled("none yet", dim()));
    }
    let room = height.saturating_sub(lines.len());
    for link in sync.links.iter().take(room) {
        let mark = if link.existed { "=" } else { "✓" };
        lines.push(Line::from(vec![
            Span::raw(format!("{mark} ")),
            Span::styled(name(&link.path), bold()),
            Span::raw(" "),
            Span::raw(fit(
                &link.link,
                width.saturating_sub(name(&link.path).chars().count() + 3),
            )),
        ]));
    }
    lines
}
