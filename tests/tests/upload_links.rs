//! `imgcloud upload a.jpg b.png some-dir/` prints one link per image in input order; every link
//! serves the exact bytes; thumbnails and previews are JPEGs of the right, upright size.

use std::collections::HashMap;

use image::{GenericImageView, RgbImage};
use imgcloud_tests::{EmbeddedCloud, fetch, jpeg, jpeg_with_orientation, png, sha256_hex};

/// Expected size of a thumbnail with long side `long` for an upright `w`×`h` picture: scaled
/// down to fit, never up.
fn fit(w: u32, h: u32, long: u32) -> (u32, u32) {
    if w.max(h) <= long {
        return (w, h);
    }
    if w >= h {
        (
            long,
            ((h as f64 * long as f64 / w as f64).round() as u32).max(1),
        )
    } else {
        (
            ((w as f64 * long as f64 / h as f64).round() as u32).max(1),
            long,
        )
    }
}

fn close((w, h): (u32, u32), (ew, eh): (u32, u32)) -> bool {
    w.abs_diff(ew) <= 1 && h.abs_diff(eh) <= 1
}

/// Mean of one channel over a band of rows or columns.
fn band_mean(img: &RgbImage, channel: usize, rows: bool, from: u32, to: u32) -> f64 {
    let mut sum = 0u64;
    let mut n = 0u64;
    for (x, y, p) in img.enumerate_pixels() {
        let coord = if rows { y } else { x };
        if (from..to).contains(&coord) {
            sum += u64::from(p[channel]);
            n += 1;
        }
    }
    sum as f64 / n.max(1) as f64
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_prints_links_in_input_order_and_serves_exact_bytes_and_upright_thumbnails() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");

    // Stored 1600×800 with orientation 6: shown as 800×1600 portrait.
    let rotated = jpeg_with_orientation(1600, 800, 1, 6);
    let files: Vec<(&str, Vec<u8>, (u32, u32))> = vec![
        ("a.jpg", rotated, (800, 1600)),
        ("b.png", png(400, 300, 2), (400, 300)),
        ("some-dir/c.jpg", jpeg(2000, 1500, 3), (2000, 1500)),
        ("some-dir/d.jpg", jpeg(200, 100, 4), (200, 100)),
        ("some-dir/nested/e.png", png(640, 480, 5), (640, 480)),
    ];
    for (name, bytes, _) in &files {
        cloud.write_file(name, bytes);
    }
    // Not an image: a directory upload skips it rather than failing.
    cloud.write_file("some-dir/notes.txt", b"not an image");

    let out = cloud.run_cli(&["upload", "a.jpg", "b.png", "some-dir/"]);
    out.assert_success();
    let links = out.lines();
    assert_eq!(links.len(), files.len(), "one link per image:\n{out}");
    assert!(
        out.stderr.contains("5 uploaded"),
        "summary on stderr:\n{out}"
    );

    // Input order: a, b, then the directory's images in path order.
    for (link, (name, bytes, _)) in links.iter().zip(&files) {
        let served = fetch(link).await.expect("fetch link");
        assert_eq!(served.status, 200, "{link}");
        assert_eq!(
            sha256_hex(&served.body),
            sha256_hex(bytes),
            "{link} should serve {name}"
        );
        let base = name.rsplit('/').next().unwrap();
        assert!(
            link.ends_with(base),
            "the link keeps the filename readable: {link}"
        );
    }

    let ls = cloud.run_cli(&["ls", "--json"]);
    ls.assert_success();
    let listed = ls.json();
    let listed = listed.as_array().expect("ls --json is an array");
    assert_eq!(listed.len(), files.len());
    let by_sha: HashMap<String, &serde_json::Value> = listed
        .iter()
        .map(|img| (img["sha256"].as_str().unwrap().to_string(), img))
        .collect();

    for (name, bytes, upright) in &files {
        let image = by_sha
            .get(&sha256_hex(bytes))
            .unwrap_or_else(|| panic!("{name} missing from ls"));
        for (field, long) in [("thumb_url", 320), ("preview_url", 1280)] {
            let url = image[field].as_str().expect(field);
            let served = fetch(url).await.expect("fetch thumbnail");
            assert_eq!(served.status, 200, "{name} {field} {url}");
            assert!(
                served.body.starts_with(&[0xFF, 0xD8, 0xFF]),
                "{name} {field} is a JPEG"
            );
            let decoded = image::load_from_memory(&served.body).expect("decode thumbnail");
            let expected = fit(upright.0, upright.1, long);
            assert!(
                close(decoded.dimensions(), expected),
                "{name} {field}: got {:?}, expected {expected:?}",
                decoded.dimensions()
            );
        }
    }

    // The rotated photo's thumbnail is really turned upright (90° clockwise): the stored
    // picture's red grows left→right, so upright it grows top→bottom; green grows with the
    // stored rows, which end up right→left.
    let a = by_sha[&sha256_hex(&files[0].1)];
    let thumb = fetch(a["thumb_url"].as_str().unwrap()).await.unwrap();
    let thumb = image::load_from_memory(&thumb.body).unwrap().to_rgb8();
    assert_eq!(thumb.dimensions(), (160, 320));
    let (w, h) = thumb.dimensions();
    let top_red = band_mean(&thumb, 0, true, 0, h / 4);
    let bottom_red = band_mean(&thumb, 0, true, h * 3 / 4, h);
    assert!(
        bottom_red > top_red + 40.0,
        "red should grow downwards: {top_red} → {bottom_red}"
    );
    let left_green = band_mean(&thumb, 1, false, 0, w / 4);
    let right_green = band_mean(&thumb, 1, false, w * 3 / 4, w);
    assert!(
        left_green > right_green + 40.0,
        "green should grow leftwards: {left_green} ← {right_green}"
    );
}
