//! The prompt window: its question, the text with the cursor, and the completion candidates.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::overlay::popup;
use crate::app::state::{Prompt, PromptKind};

/// Candidate lines shown at most.
const CANDIDATE_ROWS: u16 = 8;

pub fn draw(frame: &mut Frame, area: Rect, prompt: &Prompt) {
    let width = area.width.saturating_sub(8).clamp(20, 90);
    let inner = usize::from(width.saturating_sub(2));
    let (before, after) = prompt.input.split();
    // A password shows as dots.
    let masked;
    let (before, after) = if matches!(prompt.kind, PromptKind::SharePassword { .. }) {
        masked = (
            "•".repeat(before.chars().count()),
            "•".repeat(after.chars().count()),
        );
        (masked.0.as_str(), masked.1.as_str())
    } else {
        (before, after)
    };
    let mut cursor_and_rest = after.chars();
    let under_cursor = cursor_and_rest.next().map_or(" ".to_string(), String::from);
    let rest: String = cursor_and_rest.collect();
    // Keep the cursor in view: a long text shows its end.
    let room = inner.saturating_sub(2);
    let before_chars = before.chars().count();
    let before: String = if before_chars > room {
        let skipped: String = before.chars().skip(before_chars - room + 1).collect();
        format!("…{skipped}")
    } else {
        before.to_string()
    };
    let before_width = Span::raw(before.as_str()).width() as u16;
    let mut lines = vec![Line::from(vec![
        Span::raw(" "),
        Span::raw(before),
        Span::styled(under_cursor, Style::new().add_modifier(Modifier::REVERSED)),
        Span::raw(rest),
    ])];
    if !prompt.candidates.is_empty() {
        lines.push(Line::from(""));
        let candidates = candidate_lines(&prompt.candidates, prompt.more, inner);
        lines.extend(candidates);
    }
    let hint = match prompt.kind {
        PromptKind::Upload => " Tab complete · Enter upload · Esc cancel ",
        PromptKind::Rename { .. } => " Enter rename · Esc cancel ",
        PromptKind::Tags { .. } => " Enter save · Esc cancel ",
        PromptKind::Share { .. } => " Enter create and copy · Esc cancel ",
        PromptKind::SharePassword { .. } => " Enter create and copy · Esc cancel ",
    };
    let area = popup(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(format!(" {} ", prompt.kind.title()))
                .title_bottom(hint),
        ),
        area,
    );
    // The terminal's own cursor too, after the border and the leading space.
    frame.set_cursor_position((area.x + 2 + before_width, area.y + 1));
}

/// The candidates in columns, at most [`CANDIDATE_ROWS`] lines; the last says how many more.
fn candidate_lines(candidates: &[String], more: usize, width: usize) -> Vec<Line<'static>> {
    let longest = candidates
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(1);
    let column = (longest + 2).min(width.saturating_sub(1)).max(1);
    let per_line = (width.saturating_sub(1) / column).max(1);
    let rows = usize::from(CANDIDATE_ROWS);
    let total = candidates.len() + more;
    // When they do not all fit, the last line says how many are left out.
    let shown = if total > per_line * rows {
        candidates.len().min(per_line * (rows - 1))
    } else {
        candidates.len()
    };
    let mut lines: Vec<Line<'static>> = candidates[..shown]
        .chunks(per_line)
        .map(|chunk| {
            let text: String = chunk
                .iter()
                .map(|c| {
                    let cut: String = c.chars().take(column - 1).collect();
                    format!("{cut:<column$}")
                })
                .collect();
            Line::styled(
                format!(" {}", text.trim_end()),
                Style::new().add_modifier(Modifier::DIM),
            )
        })
        .collect();
    let hidden = total - shown;
    if hidden > 0 {
        lines.push(Line::styled(
            format!(" … and {hidden} more (type to narrow)"),
            Style::new().add_modifier(Modifier::DIM),
        ));
    }
    lines
}
