//! The one-line bars: title (view, counts, sort, search), sync daemon, status.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::app::state::{AppState, Daemon, Loading, View};

pub fn title(frame: &mut Frame, area: Rect, state: &AppState) {
    let view = match state.view {
        View::Library => "Library",
        View::Trash => "Trash",
    };
    let mut spans = vec![
        Span::styled(" imgcloud ", Style::new().add_modifier(Modifier::REVERSED)),
        Span::styled(
            format!(" {view} "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "{} of {} · sort: {}",
            state.rows.len(),
            state.count(state.view),
            state.sort.label()
        )),
    ];
    if let Some(album) = &state.album {
        spans.push(Span::raw(format!(
            " · album: {}",
            crate::output::sanitize_for_terminal(&album.name)
        )));
    }
    if !state.query.is_empty() && !state.searching {
        spans.push(Span::raw(format!(" · search: {}", state.query)));
    }
    match &state.loading {
        Loading::Initial => spans.push(Span::raw(" · loading…")),
        Loading::Refreshing => spans.push(Span::raw(" · refreshing…")),
        Loading::Failed(_) => spans.push(Span::styled(" · offline", Style::new().fg(Color::Red))),
        Loading::Idle => {}
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn daemon(frame: &mut Frame, area: Rect, state: &AppState) {
    match &state.daemon {
        Daemon::Down { reason } => {
            let text = vec![
                Line::from(reason.as_str()),
                Line::from(
                    "Browsing, copying and deleting still work; watched folders sync once it runs.",
                ),
            ];
            let block = Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(Color::Yellow))
                .title(" sync daemon not running ");
            frame.render_widget(
                Paragraph::new(text).block(block).wrap(Wrap { trim: true }),
                area,
            );
        }
        Daemon::Running { summary } => {
            frame.render_widget(
                Paragraph::new(format!(" {summary}{}", transfer(state)))
                    .style(Style::new().add_modifier(Modifier::DIM)),
                area,
            );
        }
        Daemon::Unknown => frame.render_widget(
            Paragraph::new(" sync: checking…").style(Style::new().add_modifier(Modifier::DIM)),
            area,
        ),
    }
}

pub fn status(frame: &mut Frame, area: Rect, state: &AppState) {
    let line = if state.searching {
        Line::from(vec![
            Span::styled("/", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(state.query.as_str()),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled(
                "  Enter keep · Esc clear",
                Style::new().add_modifier(Modifier::DIM),
            ),
        ])
    } else if let Some(status) = &state.status {
        let style = if status.error {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        Line::styled(format!(" {}", status.text), style)
    } else {
        Line::styled(
            " ? help · / search · y copy link · d delete · t trash · q quit",
            Style::new().add_modifier(Modifier::DIM),
        )
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// " · ↑ IMG_2041.jpg 45% (+1 more)": the daemon's upload in progress, when the sync panel
/// (which shows them all) is hidden.
fn transfer(state: &AppState) -> String {
    let transfers = &state.sync.transfers;
    let Some(first) = transfers.first().filter(|_| !state.show_sync) else {
        return String::new();
    };
    let name = first.path.file_name().map_or_else(
        || first.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let percent = (first.bytes_done * 100)
        .checked_div(first.bytes_total)
        .unwrap_or(0)
        .min(100);
    let more = match transfers.len() - 1 {
        0 => String::new(),
        n => format!(" (+{n} more)"),
    };
    format!(" · ↑ {name} {percent}%{more}")
}
