//! The details pane: everything about the selected image, its link first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::text;
use crate::app::state::AppState;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let block = Block::new().borders(Borders::ALL).title(" Details ");
    let Some(image) = state.selected_image() else {
        frame.render_widget(
            Paragraph::new("no image selected")
                .style(Style::new().add_modifier(Modifier::DIM))
                .block(block),
            area,
        );
        return;
    };
    let field = |name: &'static str, value: String| {
        Line::from(vec![
            Span::styled(
                format!("{name:<10}"),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        field("Name", image.filename.clone()),
        field("Link", image.url.clone()),
        field(
            "Size",
            format!(
                "{} · {} · {}",
                text::dimensions(image.width, image.height),
                text::size(image.size),
                image.content_type
            ),
        ),
    ];
    if let Some(taken) = image.taken_at {
        lines.push(field("Taken", text::date(taken)));
    }
    lines.push(field("Uploaded", text::date(image.created_at)));
    if let Some(deleted) = image.deleted_at {
        lines.push(field("Deleted", text::date(deleted)));
    }
    if !image.tags.is_empty() {
        lines.push(field("Tags", image.tags.join(", ")));
    }
    lines.push(field("Id", image.id.clone()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
