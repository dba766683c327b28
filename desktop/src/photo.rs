//! Camera and date taken of one image, read from its original's first bytes (an HTTP range
//! request of 128 KiB, `imgcloud_core::photo_info`) and kept on disk by
//! `imgcloud_core::preview_cache` (shared with the TUI: `previews/` in the cache directory),
//! so a second look needs no network.

use imgcloud_core::photo_info::PhotoInfo;
use imgcloud_core::preview_cache::{DEFAULT_MAX_BYTES, PreviewCache};
use tauri::State;
use tokio::sync::OnceCell;

use crate::connection::Connection;
use crate::error::{CommandError, ErrorCode};

/// The preview cache, made on first use (app state).
#[derive(Default)]
pub struct Previews {
    cache: OnceCell<PreviewCache>,
}

impl Previews {
    fn cache(&self, connection: &Connection) -> Result<&PreviewCache, CommandError> {
        if let Some(cache) = self.cache.get() {
            return Ok(cache);
        }
        let cache = PreviewCache::new(connection.dirs().previews(), DEFAULT_MAX_BYTES)
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
        // A racing first call may have set it meanwhile: either cache is the same directory.
        let _ = self.cache.set(cache);
        Ok(self.cache.get().expect("set above"))
    }
}

/// Camera (make and model) and date taken of the original at `url` (an image's `url`);
/// each `null` when the file does not say.
#[tauri::command]
pub async fn photo_info(
    connection: State<'_, Connection>,
    previews: State<'_, Previews>,
    url: String,
) -> Result<PhotoInfo, CommandError> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            format!("photo_info: {url:?} is not an image's http(s) link"),
        ));
    }
    previews
        .cache(&connection)?
        .photo_info(url)
        .await
        .map_err(|e| {
            let code = match e {
                imgcloud_core::preview_cache::PreviewError::Network(_) => ErrorCode::Unreachable,
                imgcloud_core::preview_cache::PreviewError::Status { status: 404 } => {
                    ErrorCode::NotFound
                }
                _ => ErrorCode::Server,
            };
            CommandError::new(code, format!("reading the photo's camera and date: {e}"))
        })
}
