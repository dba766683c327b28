//! The image list. Virtualized: only the rows that fit are built and drawn, so a library of
//! 100,000 images costs the same per frame as one of 20.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::text;
use crate::app::state::{self, AppState, Loading, View};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    if state.rows.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::from(empty_message(state)))
                .style(Style::new().add_modifier(Modifier::DIM))
                .wrap(Wrap { trim: true }),
            area.inner(ratatui::layout::Margin::new(1, 1)),
        );
        return;
    }
    let visible = usize::from(area.height.saturating_sub(1));
    let end = (state.offset + visible).min(state.rows.len());
    let rows = state.rows[state.offset..end].iter().map(|&i| {
        let image = &state.images[i];
        Row::new([
            image.filename.clone(),
            text::date(match state.view {
                View::Library => state::date(image),
                View::Trash => image.deleted_at.unwrap_or(image.updated_at),
            }),
            text::size(image.size),
            text::dimensions(image.width, image.height),
            image.tags.join(", "),
        ])
    });
    let widths = [
        Constraint::Fill(3),
        Constraint::Length(16),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Fill(1),
    ];
    let date = match state.view {
        View::Library => "Date",
        View::Trash => "Deleted",
    };
    let table = Table::new(rows, widths)
        .header(
            Row::new(["Name", date, "Size", "Dimensions", "Tags"])
                .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)),
        )
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        // A marker as well as the colour, so the cursor shows on any theme (and in snapshots).
        .highlight_symbol("▶ ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut table_state = TableState::default().with_selected(Some(state.selected - state.offset));
    frame.render_stateful_widget(table, area, &mut table_state);
}

fn empty_message(state: &AppState) -> String {
    match (&state.loading, state.view) {
        (Loading::Initial, _) => "loading the library…".to_string(),
        _ if !state.query.is_empty() => format!("no image matches “{}”", state.query),
        (Loading::Failed(reason), _) => format!("cannot load the library: {reason}"),
        (_, View::Trash) => "the trash is empty".to_string(),
        (_, View::Library) => {
            "no images yet: press U to upload, or let imgcloudd sync a folder".to_string()
        }
    }
}
