//! The picture pane: the selected image drawn in the terminal, centred, or why it is not there.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui_image::Image;
use ratatui_image::picker::ProtocolType;

use crate::app::preview::protocol_name;
use crate::app::state::AppState;

fn block(state: &AppState) -> Block<'static> {
    let title = match state.preview.protocol {
        Some(protocol) => format!(" Preview · {} ", protocol_name(protocol)),
        None => " Preview ".to_string(),
    };
    Block::new().borders(Borders::ALL).title(title)
}

/// The inside of a picture pane drawn in `area`.
pub fn inner(area: Rect) -> Rect {
    Block::new().borders(Borders::ALL).inner(area)
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let inside = inner(area);
    frame.render_widget(block(state), area);
    let dim = Style::new().add_modifier(Modifier::DIM);
    let Some(image) = state.selected_image() else {
        return;
    };
    match state.preview.picture_of(&image.id) {
        Some(Ok(picture)) => {
            // Sixel and iTerm2 pictures are painted over the text by the terminal: they would
            // hide a window opened over them.
            let painted_over = !matches!(
                state.preview.protocol,
                Some(ProtocolType::Halfblocks | ProtocolType::Kitty)
            );
            if state.overlay.is_some() && painted_over {
                return;
            }
            let size = picture.protocol.area();
            let (width, height) = (size.width.min(inside.width), size.height.min(inside.height));
            let at = Rect::new(
                inside.x + (inside.width - width) / 2,
                inside.y + (inside.height - height) / 2,
                width,
                height,
            );
            frame.render_widget(Image::new(&picture.protocol), at);
        }
        Some(Err(reason)) => frame.render_widget(
            Paragraph::new(reason.as_str())
                .style(Style::new().fg(Color::Red))
                .wrap(Wrap { trim: true }),
            inside,
        ),
        None => frame.render_widget(Paragraph::new("loading…").style(dim), inside),
    }
}
