//! The system clipboard (X11/Wayland/macOS/Windows through `arboard`).
//!
//! One clipboard handle lives as long as the app: on X11 the copied text is served by its
//! owner, so dropping the handle right after copying would lose it when no clipboard manager
//! runs.

use std::sync::Mutex;

use tauri::State;

use crate::error::{CommandError, ErrorCode};

#[derive(Default)]
pub struct Clipboard {
    handle: Mutex<Option<arboard::Clipboard>>,
}

impl Clipboard {
    pub fn set_text(&self, text: &str) -> Result<(), CommandError> {
        let mut slot = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let result = match slot.as_mut() {
            Some(clipboard) => clipboard.set_text(text),
            None => arboard::Clipboard::new().and_then(|mut clipboard| {
                let result = clipboard.set_text(text);
                *slot = Some(clipboard);
                result
            }),
        };
        result.map_err(|e| {
            *slot = None;
            CommandError::new(
                ErrorCode::Clipboard,
                format!("cannot copy to the clipboard: {e}"),
            )
        })
    }
}

impl Clipboard {
    /// The image on the clipboard, as PNG bytes.
    pub fn image_png(&self) -> Result<Vec<u8>, CommandError> {
        let mut slot = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(arboard::Clipboard::new().map_err(|e| {
                CommandError::new(
                    ErrorCode::Clipboard,
                    format!("cannot open the clipboard: {e}"),
                )
            })?);
        }
        let image = slot
            .as_mut()
            .expect("set above")
            .get_image()
            .map_err(|e| match e {
                arboard::Error::ContentNotAvailable => CommandError::new(
                    ErrorCode::Invalid,
                    "the clipboard holds no image: copy one (or take a screenshot) first",
                ),
                other => CommandError::new(
                    ErrorCode::Clipboard,
                    format!("cannot read the clipboard: {other}"),
                ),
            })?;
        rgba_to_png(
            image.width as u32,
            image.height as u32,
            image.bytes.into_owned(),
        )
    }
}

/// Encodes RGBA pixels as PNG.
pub fn rgba_to_png(width: u32, height: u32, rgba: Vec<u8>) -> Result<Vec<u8>, CommandError> {
    let image = image::RgbaImage::from_raw(width, height, rgba).ok_or_else(|| {
        CommandError::new(
            ErrorCode::Clipboard,
            format!("the clipboard image ({width}×{height}) has the wrong number of bytes"),
        )
    })?;
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| CommandError::new(ErrorCode::Internal, format!("cannot encode PNG: {e}")))?;
    Ok(png.into_inner())
}

/// Puts `text` on the clipboard.
#[tauri::command]
pub fn copy_text(clipboard: State<'_, Clipboard>, text: String) -> Result<(), CommandError> {
    clipboard.set_text(&text)
}

#[cfg(test)]
mod tests {
    use super::rgba_to_png;

    #[test]
    fn rgba_pixels_become_a_png_of_the_same_size() {
        let png = rgba_to_png(3, 2, vec![200; 3 * 2 * 4]).unwrap();
        let back = image::load_from_memory(&png).unwrap();
        assert_eq!((back.width(), back.height()), (3, 2));
        assert!(rgba_to_png(3, 2, vec![0; 5]).is_err());
    }
}
