//! The preview of the selected image: what the state keeps of it (a picture encoded for the
//! terminal, the camera and date read from the original) and what the background loader
//! ([`super::preview_loader`]) is asked to fetch.
//!
//! Results carry the id of the image they belong to; the views show them only while that
//! image is selected, so a late answer for an image scrolled past is simply never drawn.

use std::fmt;
use std::sync::Arc;

use imgcloud_core::photo_info::PhotoInfo;
use ratatui::layout::Rect;
use ratatui_image::picker::ProtocolType;
use ratatui_image::protocol::Protocol;

use super::state::AppState;

/// What the state knows about the preview.
#[derive(Debug, Clone)]
pub struct Preview {
    /// How pictures are drawn; `None` when previews are off (`IMGCLOUD_PREVIEW=off`).
    pub protocol: Option<ProtocolType>,
    /// The last picture made, for the image with this id.
    pub picture: Option<(String, Result<Picture, String>)>,
    /// Camera and date of the image with this id.
    pub info: Option<(String, Result<PhotoInfo, String>)>,
}

impl Default for Preview {
    fn default() -> Self {
        Self {
            protocol: Some(ProtocolType::Halfblocks),
            picture: None,
            info: None,
        }
    }
}

impl Preview {
    /// The picture of image `id`, if it is there (or why it is not).
    pub fn picture_of(&self, id: &str) -> Option<&Result<Picture, String>> {
        self.picture
            .as_ref()
            .filter(|(of, _)| of == id)
            .map(|(_, picture)| picture)
    }

    /// Camera and date of image `id`, if known (or why they are not).
    pub fn info_of(&self, id: &str) -> Option<&Result<PhotoInfo, String>> {
        self.info
            .as_ref()
            .filter(|(of, _)| of == id)
            .map(|(_, info)| info)
    }
}

/// How a protocol is named on screen.
pub fn protocol_name(protocol: ProtocolType) -> &'static str {
    match protocol {
        ProtocolType::Halfblocks => "half-blocks",
        ProtocolType::Sixel => "sixel",
        ProtocolType::Kitty => "kitty",
        ProtocolType::Iterm2 => "iTerm2",
    }
}

/// An image encoded for the terminal, ready to draw.
#[derive(Clone)]
pub struct Picture {
    pub protocol: Arc<Protocol>,
    /// The pane size (columns, rows) it was made for.
    pub cells: (u16, u16),
}

impl fmt::Debug for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let area = self.protocol.area();
        f.debug_struct("Picture")
            .field("cells", &self.cells)
            .field("drawn", &(area.width, area.height))
            .finish()
    }
}

/// What the loader should show now: the selected image, for a pane of this size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub id: String,
    /// The 320 px thumbnail.
    pub thumb_url: String,
    /// The 1280 px one, for large panes in pixel-exact protocols.
    pub preview_url: String,
    /// The original (its first bytes hold the EXIF).
    pub url: String,
    /// Inside of the picture pane (columns, rows); `None` when no picture is drawn.
    pub cells: Option<(u16, u16)>,
}

/// What to load for `state`, given the picture pane (`None` when there is none); nothing when
/// the details are hidden or nothing is selected.
pub fn wanted(state: &AppState, pane: Option<Rect>) -> Option<Wanted> {
    if !state.show_details {
        return None;
    }
    let image = state.selected_image()?;
    Some(Wanted {
        id: image.id.clone(),
        thumb_url: image.thumb_url.clone(),
        preview_url: image.preview_url.clone(),
        url: image.url.clone(),
        cells: pane
            .filter(|p| p.width > 0 && p.height > 0)
            .map(|p| (p.width, p.height)),
    })
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Rect;

    use super::*;
    use crate::app::action::{Action, update};
    use crate::app::tests::{press, sample};

    #[test]
    fn the_loader_is_asked_for_the_selected_image_while_details_show() {
        let mut state = sample();
        let pane = Some(Rect::new(5, 5, 20, 8));
        let first = wanted(&state, pane).unwrap();
        assert_eq!(first.id, state.selected_image().unwrap().id);
        assert_eq!(first.cells, Some((20, 8)));
        assert!(first.thumb_url.ends_with("/320.webp"));
        press(&mut state, "j");
        let second = wanted(&state, pane).unwrap();
        assert_ne!(second.id, first.id);
        assert_eq!(wanted(&state, None).unwrap().cells, None);
        press(&mut state, "i");
        assert_eq!(
            wanted(&state, pane),
            None,
            "details hidden: nothing to load"
        );
    }

    #[test]
    fn results_show_only_for_the_image_they_belong_to() {
        let mut state = sample();
        let id = state.selected_image().unwrap().id.clone();
        update(
            &mut state,
            Action::PhotoInfoLoaded {
                id: id.clone(),
                result: Err("the CDN answered 404".into()),
            },
        );
        assert!(matches!(state.preview.info_of(&id), Some(Err(_))));
        press(&mut state, "j");
        let other = state.selected_image().unwrap().id.clone();
        assert!(state.preview.info_of(&other).is_none());
        // A late answer for the image scrolled past replaces nothing shown.
        update(
            &mut state,
            Action::PictureLoaded {
                id: id.clone(),
                result: Err("late".into()),
            },
        );
        assert!(state.preview.picture_of(&other).is_none());
        assert!(state.preview.picture_of(&id).is_some());
    }
}
