use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::test_support::{Fixture, code, png};

fn kinds(events: &[Value], index: usize) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["index"] == index)
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Events are delivered on the event loop: wait until `n` of them have arrived.
fn wait_for(events: &std::sync::Mutex<Vec<Value>>, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let seen = events.lock().unwrap().clone();
        if pred(&seen) || start.elapsed() > Duration::from_secs(10) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_folder_uploads_per_file_with_progress_links_and_reasons() {
    let fx = Fixture::with_cloud();
    let folder = fx.dir.path().join("pics");
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    std::fs::write(folder.join("one.png"), png(40, 30, 10)).unwrap();
    std::fs::write(folder.join("nested/two.png"), png(8, 8, 11)).unwrap();
    // Folders yield image files by extension; this one is not an image inside.
    std::fs::write(folder.join("broken.png"), b"not an image at all").unwrap();
    std::fs::write(folder.join("notes.txt"), b"skipped in folders").unwrap();
    let events = fx.collect(crate::upload::PROGRESS_EVENT);

    let results = fx
        .invoke(
            "upload_files",
            json!({ "batch": "B7", "paths": [folder], "format": "markdown" }),
        )
        .unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 3, "{results:?}");
    let mut uploaded = 0;
    for (index, result) in results.iter().enumerate() {
        let path = result["path"].as_str().unwrap();
        if !path.ends_with("broken.png") {
            uploaded += 1;
            let image = &result["image"];
            assert!(result.get("error").is_none(), "{result}");
            let name = std::path::Path::new(path)
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap();
            assert_eq!(
                result["link"],
                json!(format!("![{name}]({})", image["url"].as_str().unwrap()))
            );
            assert_eq!(result["existed"], false);
            let seen = wait_for(&events, |e| {
                kinds(e, index).contains(&"finished".to_string())
            });
            let mine = kinds(&seen, index);
            assert_eq!(
                mine.first().map(String::as_str),
                Some("started"),
                "{mine:?}"
            );
            assert_eq!(
                mine.last().map(String::as_str),
                Some("finished"),
                "{mine:?}"
            );
            assert!(
                seen.iter()
                    .filter(|e| e["index"] == index)
                    .all(|e| e["batch"] == "B7")
            );
        } else {
            assert!(result.get("image").is_none(), "{result}");
            let error = &result["error"];
            assert_eq!(error["code"], "not_an_image", "{result}");
            assert_eq!(error["retryable"], false);
            assert!(
                error["message"].as_str().unwrap().contains("broken.png"),
                "{error}"
            );
            let seen = wait_for(&events, |e| kinds(e, index).contains(&"failed".to_string()));
            assert!(kinds(&seen, index).contains(&"failed".to_string()));
        }
    }
    assert_eq!(uploaded, 2);
    let page = fx.invoke("list_images", json!({})).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");

    // The same bytes again: nothing is sent, the user already has them.
    let again = fx
        .invoke(
            "upload_files",
            json!({ "batch": "B8", "paths": [folder.join("one.png")] }),
        )
        .unwrap();
    assert_eq!(again[0]["existed"], true, "{again}");
    assert_eq!(
        again[0]["link"], again[0]["image"]["url"],
        "default format is url"
    );
}

#[test]
fn pasted_bytes_upload_under_a_safe_name() {
    let fx = Fixture::with_cloud();
    let results = fx
        .invoke_raw(
            "upload_bytes",
            png(10, 10, 20),
            &[
                ("x-filename", "../../pasted 1.png"),
                ("x-batch", "P1"),
                ("x-link-format", "html"),
            ],
        )
        .unwrap();
    let result = &results[0];
    assert_eq!(result["path"], "pasted 1.png", "{result}");
    assert_eq!(result["image"]["filename"], "pasted 1.png");
    assert!(
        result["link"].as_str().unwrap().starts_with("<img src=\""),
        "{result}"
    );

    let results = fx
        .invoke_raw(
            "upload_bytes",
            b"plain text".to_vec(),
            &[("x-filename", "x.png")],
        )
        .unwrap();
    assert_eq!(results[0]["error"]["code"], "not_an_image", "{results}");

    let err = fx.invoke_raw("upload_bytes", vec![], &[]).unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");
    let err = fx.invoke("upload_bytes", json!({})).unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");
}

#[test]
fn uploading_without_a_server_says_not_configured() {
    let fx = Fixture::unconfigured();
    let file = fx.dir.path().join("a.png");
    std::fs::write(&file, png(4, 4, 1)).unwrap();
    let err = fx
        .invoke("upload_files", json!({ "batch": "x", "paths": [file] }))
        .unwrap_err();
    assert_eq!(code(&err), "not_configured", "{err}");
    let err = fx
        .invoke("upload_files", json!({ "batch": "x", "paths": [] }))
        .unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");
}
