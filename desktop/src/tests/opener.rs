//! `open_url` runs the opener with the link (a recording script stands in for the browser
//! through `IMGCLOUD_OPENER`), refuses links that are not http(s), and reports an opener
//! that fails.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::test_support::{Fixture, TestKeys, code, message};

/// A script that writes its arguments to `seen` and exits with `status`.
fn opener(dir: &std::path::Path, seen: &std::path::Path, status: u8) -> String {
    let path = dir.join(format!("opener-{status}"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit {status}\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn the_link_goes_to_the_opener_and_only_http_links_do() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let ok = opener(dir.path(), &seen, 0);
    let fx = Fixture::new(&[("IMGCLOUD_OPENER", &ok)], TestKeys::unreachable());
    let url = "http://127.0.0.1:8421/imgcloud/i/a1B2c3D4e5F6g7H8/a%20b.png";
    fx.invoke("open_url", json!({ "url": format!(" {url} ") }))
        .unwrap();
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), format!("{url}\n"));

    std::fs::remove_file(&seen).unwrap();
    for bad in ["file:///etc/passwd", "javascript:alert(1)", ""] {
        let err = fx.invoke("open_url", json!({ "url": bad })).unwrap_err();
        assert_eq!(code(&err), "invalid", "{err}");
    }
    assert!(!seen.exists(), "the opener ran for a refused link");
}

#[test]
fn a_failing_opener_is_reported_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let failing = opener(dir.path(), &dir.path().join("seen"), 3);
    let fx = Fixture::new(&[("IMGCLOUD_OPENER", &failing)], TestKeys::unreachable());
    let err = fx
        .invoke("open_url", json!({ "url": "https://example.com/i/x.png" }))
        .unwrap_err();
    assert_eq!(code(&err), "internal", "{err}");
    assert!(message(&err).contains(&failing), "{err}");
    assert!(message(&err).contains("exit"), "{err}");

    let missing = dir.path().join("no-such-opener").display().to_string();
    let fx = Fixture::new(&[("IMGCLOUD_OPENER", &missing)], TestKeys::unreachable());
    let err = fx
        .invoke("open_url", json!({ "url": "https://example.com/i/x.png" }))
        .unwrap_err();
    assert!(message(&err).contains(&missing), "{err}");
}
