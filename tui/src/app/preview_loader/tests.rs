use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::app::graphics;

/// A small generated PNG: red on the left, blue on the right, both darker towards the bottom.
pub fn sample_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let shade = 255 - (y * 160 / height) as u8;
        if x < width / 2 {
            image::Rgb([shade, 30, 30])
        } else {
            image::Rgb([30, 30, shade])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Serves one PNG for every thumbnail URL except those containing "broken", and counts.
#[derive(Default)]
struct Fake {
    thumbnails: Mutex<Vec<String>>,
    infos: Mutex<Vec<String>>,
}

impl PreviewSource for Fake {
    async fn thumbnail(&self, url: &str) -> Result<Vec<u8>, String> {
        self.thumbnails.lock().unwrap().push(url.to_string());
        if url.contains("broken") {
            return Err("the CDN answered 404".into());
        }
        Ok(sample_png(40, 30))
    }

    async fn photo_info(&self, url: &str) -> Result<PhotoInfo, String> {
        self.infos.lock().unwrap().push(url.to_string());
        Ok(PhotoInfo {
            taken_at: None,
            camera: Some(format!("camera of {url}")),
        })
    }
}

fn wanted(id: &str, cells: (u16, u16)) -> Wanted {
    Wanted {
        id: id.to_string(),
        thumb_url: format!("https://cdn/t/{id}/320.jpg"),
        preview_url: format!("https://cdn/t/{id}/1280.jpg"),
        url: format!("https://cdn/i/{id}/a.jpg"),
        cells: Some(cells),
    }
}

fn start(fake: &Arc<Fake>) -> (Loader, mpsc::UnboundedReceiver<Action>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let loader = Loader::start(Arc::clone(fake), Some(graphics::halfblocks()), move |a| {
        let _ = tx.send(a);
    });
    (loader, rx)
}

/// The next picture and info actions (in either order).
async fn next_two(rx: &mut mpsc::UnboundedReceiver<Action>) -> (Action, Action) {
    let mut got = Vec::new();
    while got.len() < 2 {
        let action = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the loader reports within 10 s")
            .unwrap();
        got.push(action);
    }
    got.sort_by_key(|a| !matches!(a, Action::PictureLoaded { .. }));
    let info = got.pop().unwrap();
    (got.pop().unwrap(), info)
}

#[tokio::test]
async fn scrolling_fast_loads_only_the_image_where_the_selection_settles() {
    let fake = Arc::new(Fake::default());
    let (loader, mut rx) = start(&fake);
    for i in 0..30 {
        loader.want(Some(wanted(&format!("img{i}"), (20, 10))));
        tokio::time::sleep(SETTLE / 10).await;
    }
    let (picture, info) = next_two(&mut rx).await;
    match picture {
        Action::PictureLoaded { id, result } => {
            assert_eq!(id, "img29");
            let picture = result.unwrap();
            assert_eq!(picture.cells, (20, 10));
            let area = picture.protocol.area();
            assert!(area.width <= 20 && area.height <= 10, "{area:?}");
            assert!(
                area.width == 20 || area.height == 10,
                "scaled to fill: {area:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    match info {
        Action::PhotoInfoLoaded { id, result } => {
            assert_eq!(id, "img29");
            assert_eq!(
                result.unwrap().camera.as_deref(),
                Some("camera of https://cdn/i/img29/a.jpg")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        *fake.thumbnails.lock().unwrap(),
        vec!["https://cdn/t/img29/320.jpg"]
    );
    assert_eq!(fake.infos.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_resize_redraws_without_fetching_again() {
    let fake = Arc::new(Fake::default());
    let (loader, mut rx) = start(&fake);
    loader.want(Some(wanted("a", (20, 10))));
    next_two(&mut rx).await;
    loader.want(Some(wanted("a", (40, 20))));
    let (picture, _) = next_two(&mut rx).await;
    let Action::PictureLoaded { result, .. } = picture else {
        panic!("{picture:?}")
    };
    assert_eq!(result.unwrap().cells, (40, 20));
    assert_eq!(fake.thumbnails.lock().unwrap().len(), 1);
    // Asking again for what was asked last does nothing.
    loader.want(Some(wanted("a", (40, 20))));
    tokio::time::sleep(SETTLE * 3).await;
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_missing_thumbnail_is_reported_with_its_reason() {
    let fake = Arc::new(Fake::default());
    let (loader, mut rx) = start(&fake);
    loader.want(Some(wanted("broken", (20, 10))));
    let (picture, info) = next_two(&mut rx).await;
    let Action::PictureLoaded { result, .. } = picture else {
        panic!("{picture:?}")
    };
    assert_eq!(result.unwrap_err(), "no thumbnail: the CDN answered 404");
    assert!(matches!(
        info,
        Action::PhotoInfoLoaded { result: Ok(_), .. }
    ));
}

#[test]
fn large_panes_in_pixel_protocols_use_the_1280_px_thumbnail() {
    let want = wanted("a", (1, 1));
    let halfblocks = graphics::halfblocks();
    assert_eq!(thumbnail_url(&halfblocks, &want, (200, 60)), want.thumb_url);
    let mut kitty = graphics::halfblocks();
    kitty.set_protocol_type(ProtocolType::Kitty);
    // 10×20 px cells: 30×12 cells are 300×240 px, 60×30 are 600×600 px.
    assert_eq!(thumbnail_url(&kitty, &want, (30, 12)), want.thumb_url);
    assert_eq!(thumbnail_url(&kitty, &want, (60, 30)), want.preview_url);
}

#[test]
fn every_protocol_encodes_and_draws_within_the_pane() {
    use ratatui::buffer::Buffer;
    use ratatui::widgets::Widget;
    use ratatui_image::Image;

    let image = image::load_from_memory(&sample_png(64, 48)).unwrap();
    for protocol in [
        ProtocolType::Halfblocks,
        ProtocolType::Sixel,
        ProtocolType::Kitty,
        ProtocolType::Iterm2,
    ] {
        let mut picker = graphics::halfblocks();
        picker.set_protocol_type(protocol);
        let picture = encode(&picker, &image, (30, 10)).unwrap();
        let area = picture.protocol.area();
        assert!(
            area.width <= 30 && area.height <= 10,
            "{protocol:?}: {area:?}"
        );
        assert!(area.width > 0 && area.height > 0, "{protocol:?}: {area:?}");
        let mut buffer = Buffer::empty(Rect::new(0, 0, 40, 12));
        Image::new(&picture.protocol).render(Rect::new(2, 1, area.width, area.height), &mut buffer);
        // Something was written at the picture's first cell, nothing outside of it.
        assert_ne!(buffer[(2, 1)].symbol(), " ", "{protocol:?}");
        assert_eq!(buffer[(0, 0)].symbol(), " ", "{protocol:?}");
        assert_eq!(buffer[(39, 11)].symbol(), " ", "{protocol:?}");
    }
}
