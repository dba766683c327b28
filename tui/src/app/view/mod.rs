//! Rendering: pure functions of [`AppState`] onto a frame. Nothing here changes state.

mod bars;
mod details;
mod list;
mod overlay;
mod preview;
mod prompt;
mod sync;
#[cfg(test)]
mod tests;
pub mod text;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};

use super::state::{AppState, Daemon};

/// Widest terminal that puts the details pane under the list instead of beside it.
const SIDE_BY_SIDE: u16 = 120;
/// Width of the details pane beside the list.
const DETAILS_WIDTH: u16 = 48;
/// Height of the details pane under the list.
const DETAILS_HEIGHT: u16 = 9;
/// Height of the sync panel (it takes the details pane's place under the list on narrow
/// terminals, and spans the width under list and details on wide ones).
const SYNC_HEIGHT: u16 = 10;
const SYNC_HEIGHT_WIDE: u16 = 12;
/// Height of the details under the picture beside the list.
const DETAILS_UNDER_PICTURE: u16 = 12;
/// Width of the picture pane beside the details under the list.
const PICTURE_WIDTH: u16 = 24;

/// Where each part of the screen goes.
struct Areas {
    title: Rect,
    list: Rect,
    details: Option<Rect>,
    sync: Option<Rect>,
    /// The picture pane (with its frame), when previews are on.
    picture: Option<Rect>,
    daemon: Rect,
    status: Rect,
}

fn areas(area: Rect, state: &AppState) -> Areas {
    let daemon_height = match state.daemon {
        Daemon::Down { .. } => 4,
        _ => 1,
    };
    let [title, main, daemon, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(daemon_height),
        Constraint::Length(1),
    ])
    .areas(area);
    let (main, sync) = match (state.show_sync, area.width >= SIDE_BY_SIDE) {
        (false, _) => (main, None),
        (true, true) => {
            let [main, sync] =
                Layout::vertical([Constraint::Min(5), Constraint::Length(SYNC_HEIGHT_WIDE)])
                    .areas(main);
            (main, Some(sync))
        }
        (true, false) => {
            let [list, sync] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(SYNC_HEIGHT)]).areas(main);
            return Areas {
                title,
                list,
                details: None,
                sync: Some(sync),
                picture: None,
                daemon,
                status,
            };
        }
    };
    let (list, details) = if !state.show_details {
        (main, None)
    } else if area.width >= SIDE_BY_SIDE {
        let [list, details] =
            Layout::horizontal([Constraint::Min(40), Constraint::Length(DETAILS_WIDTH)])
                .areas(main);
        (list, Some(details))
    } else {
        let [list, details] = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Min(3), Constraint::Length(DETAILS_HEIGHT)])
            .areas(main);
        (list, Some(details))
    };
    // The picture shares the details' place: above them beside the list, beside them under it.
    let (details, picture) = match details {
        Some(pane) if state.preview.protocol.is_some() => {
            let [details, picture] = if area.width >= SIDE_BY_SIDE {
                let [picture, details] = Layout::vertical([
                    Constraint::Min(0),
                    Constraint::Length(DETAILS_UNDER_PICTURE),
                ])
                .areas(pane);
                [details, picture]
            } else {
                Layout::horizontal([Constraint::Min(30), Constraint::Length(PICTURE_WIDTH)])
                    .areas(pane)
            };
            (Some(details), Some(picture).filter(|p| p.height > 2))
        }
        other => (other, None),
    };
    Areas {
        title,
        list,
        details,
        sync,
        picture,
        daemon,
        status,
    }
}

/// Where the list is drawn on a `width`×`height` terminal (its first line is the header).
pub fn list_area(width: u16, height: u16, state: &AppState) -> Rect {
    areas(Rect::new(0, 0, width, height), state).list
}

/// How many image rows the list shows on a terminal of this size (for paging and scrolling).
pub fn list_rows(width: u16, height: u16, state: &AppState) -> usize {
    let areas = areas(Rect::new(0, 0, width, height), state);
    // One line for the column header.
    usize::from(areas.list.height.saturating_sub(1)).max(1)
}

/// Inside of the picture pane on a terminal of this size (what the picture is scaled to fit),
/// or `None` when no picture is drawn.
pub fn picture_area(width: u16, height: u16, state: &AppState) -> Option<Rect> {
    areas(Rect::new(0, 0, width, height), state)
        .picture
        .map(preview::inner)
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, state: &AppState) {
    let areas = areas(frame.area(), state);
    bars::title(frame, areas.title, state);
    list::draw(frame, areas.list, state);
    if let Some(area) = areas.details {
        details::draw(frame, area, state);
    }
    if let Some(area) = areas.sync {
        sync::draw(frame, area, state);
    }
    if let Some(area) = areas.picture {
        preview::draw(frame, area, state);
    }
    bars::daemon(frame, areas.daemon, state);
    bars::status(frame, areas.status, state);
    overlay::draw(frame, frame.area(), state);
}
