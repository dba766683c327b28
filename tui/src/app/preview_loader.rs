//! The background task behind the preview: it fetches (through the disk cache), decodes and
//! encodes the picture of the selected image and reads its camera and date, and reports each
//! as an action. Keys and drawing never wait for it.
//!
//! It follows the selection through a `watch` channel that keeps only the latest wish, and
//! starts working only once the selection has stayed put for [`SETTLE`]: scrolling fast through
//! a thousand rows fetches nothing for the rows passed. A new wish cancels the work under way.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use image::DynamicImage;
use imgcloud_core::photo_info::PhotoInfo;
use imgcloud_core::preview_cache::PreviewCache;
use ratatui::layout::Rect;
use ratatui_image::Resize;
use ratatui_image::picker::{Picker, ProtocolType};
use tokio::sync::watch;

use super::action::Action;
use super::preview::{Picture, Wanted};

/// How long the selection must stay on an image before its preview is loaded.
pub const SETTLE: Duration = Duration::from_millis(120);
/// Above this many pixels on the long side of the pane, pixel-exact protocols get the 1280 px
/// thumbnail instead of the 320 px one (which would be blown up more than 1.5×).
const LARGE_PANE_PX: u32 = 480;

/// Where thumbnails and photo info come from (the disk cache backed by the CDN; a fake in
/// tests).
pub trait PreviewSource: Send + Sync + 'static {
    fn thumbnail(&self, url: &str) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
    fn photo_info(&self, url: &str) -> impl Future<Output = Result<PhotoInfo, String>> + Send;
}

impl PreviewSource for PreviewCache {
    async fn thumbnail(&self, url: &str) -> Result<Vec<u8>, String> {
        PreviewCache::thumbnail(self, url)
            .await
            .map_err(|e| e.to_string())
    }

    async fn photo_info(&self, url: &str) -> Result<PhotoInfo, String> {
        PreviewCache::photo_info(self, url)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The handle of the running loader; dropping it stops the task.
pub struct Loader {
    wish: watch::Sender<Option<Wanted>>,
}

impl Loader {
    /// Starts the loader; `picker` is `None` when no pictures are drawn (photo info is still
    /// read). Results go to `report`.
    pub fn start<S: PreviewSource>(
        source: Arc<S>,
        picker: Option<Picker>,
        report: impl Fn(Action) + Send + Sync + 'static,
    ) -> Self {
        let (wish, wishes) = watch::channel(None);
        tokio::spawn(run(source, picker, wishes, report));
        Self { wish }
    }

    /// Asks for `wanted` (a no-op when it is what was asked last).
    pub fn want(&self, wanted: Option<Wanted>) {
        self.wish.send_if_modified(|current| {
            let changed = *current != wanted;
            if changed {
                *current = wanted;
            }
            changed
        });
    }
}

async fn run<S: PreviewSource>(
    source: Arc<S>,
    picker: Option<Picker>,
    mut wishes: watch::Receiver<Option<Wanted>>,
    report: impl Fn(Action) + Send + Sync,
) {
    let mut decoded: Option<(String, Arc<DynamicImage>)> = None;
    let mut woken = false;
    loop {
        if !woken && wishes.changed().await.is_err() {
            return;
        }
        woken = false;
        // Wait for the selection to settle.
        loop {
            match tokio::time::timeout(SETTLE, wishes.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return,
                Err(_settled) => break,
            }
        }
        let Some(wanted) = wishes.borrow_and_update().clone() else {
            continue;
        };
        tokio::select! {
            () = serve(&*source, picker.as_ref(), &wanted, &mut decoded, &report) => {}
            changed = wishes.changed() => {
                if changed.is_err() {
                    return;
                }
                woken = true;
            }
        }
    }
}

/// Loads picture and photo info of `wanted` side by side, reporting each when it is ready.
async fn serve<S: PreviewSource>(
    source: &S,
    picker: Option<&Picker>,
    wanted: &Wanted,
    decoded: &mut Option<(String, Arc<DynamicImage>)>,
    report: &(impl Fn(Action) + Send + Sync),
) {
    let picture = async {
        let (Some(picker), Some(cells)) = (picker, wanted.cells) else {
            return;
        };
        let result = picture(source, picker, wanted, cells, decoded).await;
        report(Action::PictureLoaded {
            id: wanted.id.clone(),
            result,
        });
    };
    let info = async {
        let result = source.photo_info(&wanted.url).await;
        report(Action::PhotoInfoLoaded {
            id: wanted.id.clone(),
            result,
        });
    };
    tokio::join!(picture, info);
}

async fn picture<S: PreviewSource>(
    source: &S,
    picker: &Picker,
    wanted: &Wanted,
    cells: (u16, u16),
    decoded: &mut Option<(String, Arc<DynamicImage>)>,
) -> Result<Picture, String> {
    let url = thumbnail_url(picker, wanted, cells);
    let image = match decoded.as_ref().filter(|(of, _)| *of == url) {
        // Same image, new pane size (a resize): no need to fetch and decode again.
        Some((_, image)) => Arc::clone(image),
        None => {
            let bytes = source
                .thumbnail(url)
                .await
                .map_err(|e| format!("no thumbnail: {e}"))?;
            let image = tokio::task::spawn_blocking(move || image::load_from_memory(&bytes))
                .await
                .map_err(|e| format!("decoding the thumbnail failed: {e}"))?
                .map_err(|e| format!("cannot decode the thumbnail: {e}"))?;
            let image = Arc::new(image);
            *decoded = Some((url.to_string(), Arc::clone(&image)));
            image
        }
    };
    let picker = picker.clone();
    tokio::task::spawn_blocking(move || encode(&picker, &image, cells))
        .await
        .map_err(|e| format!("drawing the thumbnail failed: {e}"))?
}

/// Encodes `image` for `picker`'s protocol, scaled to fit a pane of `cells`.
pub fn encode(picker: &Picker, image: &DynamicImage, cells: (u16, u16)) -> Result<Picture, String> {
    let area = Rect::new(0, 0, cells.0, cells.1);
    let protocol = picker
        .new_protocol(image.clone(), area, Resize::Scale(None))
        .map_err(|e| format!("cannot draw the thumbnail: {e}"))?;
    Ok(Picture {
        protocol: Arc::new(protocol),
        cells,
    })
}

/// The 320 px thumbnail, or the 1280 px one when a pixel-exact protocol draws a large pane.
pub fn thumbnail_url<'a>(picker: &Picker, wanted: &'a Wanted, cells: (u16, u16)) -> &'a str {
    let (font_w, font_h) = picker.font_size();
    let long_side =
        (u32::from(cells.0) * u32::from(font_w)).max(u32::from(cells.1) * u32::from(font_h));
    if picker.protocol_type() != ProtocolType::Halfblocks && long_side > LARGE_PANE_PX {
        &wanted.preview_url
    } else {
        &wanted.thumb_url
    }
}

#[cfg(test)]
pub(crate) mod tests;
