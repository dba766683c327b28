//! The details pane: everything about the selected image, its link first. Camera and (when the
//! server has none) the date taken come from the original's EXIF, read in the background.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use imgcloud_core::api::{DerivativeState, Image};

use super::text;
use crate::app::state::AppState;

/// Shown while the original's EXIF is being read.
const PENDING: &str = "…";
/// Shown when the image does not say.
const ABSENT: &str = "—";

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
    let info = state.preview.info_of(&image.id);
    let taken = image
        .taken_at
        .or_else(|| info.and_then(|i| i.as_ref().ok()).and_then(|i| i.taken_at));
    lines.push(field(
        "Taken",
        match (taken, info) {
            (Some(taken), _) => text::date(taken),
            (None, None) => PENDING.to_string(),
            (None, Some(_)) => ABSENT.to_string(),
        },
    ));
    lines.push(match info {
        Some(Ok(info)) => field("Camera", info.camera.clone().unwrap_or(ABSENT.into())),
        Some(Err(reason)) => Line::from(vec![
            Span::styled(
                format!("{:<10}", "Camera"),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("unknown: {reason}"), Style::new().fg(Color::Red)),
        ]),
        None => field("Camera", PENDING.to_string()),
    });
    if let Some(line) = derivatives_line(image) {
        lines.push(line);
    }
    if !image.tags.is_empty() {
        lines.push(field("Tags", image.tags.join(", ")));
    }
    if image.visibility == imgcloud_core::api::Visibility::Private {
        lines.push(field(
            "Visibility",
            "private (no public link; share with L)".to_string(),
        ));
    }
    lines.push(field("Uploaded", text::date(image.created_at)));
    if let Some(deleted) = image.deleted_at {
        lines.push(field("Deleted", text::date(deleted)));
    }
    lines.push(field("Id", image.id.clone()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// What went wrong with the cloud's thumbnail of `image`, if anything (pending and ready say
/// nothing: the thumbnail is on its way or there).
fn derivatives_line(image: &Image) -> Option<Line<'static>> {
    let reason = image
        .derivatives_error
        .as_deref()
        .unwrap_or("no reason given");
    let (text, colour) = match image.derivatives {
        DerivativeState::Broken => (format!("cannot be made: {reason}"), Color::Red),
        DerivativeState::Failed => (format!("failed, retrying: {reason}"), Color::Yellow),
        DerivativeState::Pending | DerivativeState::Ready => return None,
    };
    Some(Line::from(vec![
        Span::styled(
            format!("{:<10}", "Thumbnail"),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(text, Style::new().fg(colour)),
    ]))
}
