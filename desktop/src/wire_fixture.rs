//! Keeps the TypeScript wire types (`ui/src/lib/types.ts`) in step with the Rust ones.
//!
//! The test serialises sample values of every type a command returns and compares them with
//! `ui/src/lib/wire-fixture.json`; the frontend's `types.test.ts` parses that same file with its
//! strict schemas. A field added, renamed or retyped in Rust fails here until the fixture is
//! regenerated (`UPDATE_WIRE_FIXTURE=1 cargo test -p imgcloud-desktop wire_fixture`), and the
//! regenerated fixture then fails the TypeScript test until `types.ts` follows.

use std::path::PathBuf;

use imgcloud_core::api::{Album, Image, ImagePage, Share, ShareState};
use imgcloud_core::daemon_api::{
    FileError, FileState, InFlight, QueueCounts, QueueEntry, Status, WatchedFolder,
};
use imgcloud_core::photo_info::PhotoInfo;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::error::{CommandError, ErrorCode};
use crate::library::ServerInfo;
use crate::settings::{Connected, Settings};
use crate::upload::{UploadFailure, UploadProgress, UploadResult};

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui/src/lib/wire-fixture.json")
}

fn sample_page() -> ImagePage {
    let full = Image {
        id: "a1B2c3D4e5F6g7H8".into(),
        filename: "Holiday Photo (1).jpg".into(),
        size: 2_345_678,
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        content_type: "image/jpeg".into(),
        width: 4032,
        height: 3024,
        taken_at: Some(datetime!(2025-07-14 09:30:00 UTC)),
        created_at: datetime!(2026-01-02 03:04:05 UTC),
        updated_at: datetime!(2026-01-03 00:00:00 UTC),
        deleted_at: Some(datetime!(2026-01-04 12:00:00 UTC)),
        tags: vec!["holiday".into(), "beach".into()],
        visibility: Default::default(),
        url: "http://127.0.0.1:9000/imgcloud/i/a1B2c3D4e5F6g7H8/Holiday%20Photo%20%281%29.jpg"
            .into(),
        thumb_url: "http://127.0.0.1:9000/imgcloud/t/a1B2c3D4e5F6g7H8/320.jpg".into(),
        preview_url: "http://127.0.0.1:9000/imgcloud/t/a1B2c3D4e5F6g7H8/1280.jpg".into(),
        thumbhash: None,
        derivatives: Default::default(),
        derivatives_error: None,
    };
    let bare = Image {
        id: "Z9y8X7w6V5u4T3s2".into(),
        filename: "diagram.png".into(),
        size: 512,
        content_type: "image/png".into(),
        width: 16,
        height: 16,
        taken_at: None,
        deleted_at: None,
        tags: vec![],
        ..full.clone()
    };
    ImagePage {
        items: vec![full, bare],
        next_cursor: Some("opaque-cursor-1".into()),
    }
}

/// Every shape the frontend receives, as the Rust side serialises it.
fn samples() -> Value {
    let last_page = ImagePage {
        items: vec![],
        next_cursor: None,
    };
    let image = sample_page().items[1].clone();
    let settings = Settings {
        server: Some("http://127.0.0.1:8420".into()),
        embedded: true,
        hosting_embedded: false,
        logged_in: true,
        link_format: "custom".into(),
        link_template: Some("![{name}]({url})".into()),
        config_file: "config.toml".into(),
    };
    let settings_bare = Settings {
        server: None,
        embedded: false,
        hosting_embedded: false,
        logged_in: false,
        link_format: "url".into(),
        link_template: None,
        config_file: "config.toml".into(),
    };
    let batch = "b1".to_string();
    let folder = WatchedFolder {
        path: "/home/u/Pictures/Screenshots".into(),
        recursive: true,
        album: Some("screens".into()),
        visibility: Some(imgcloud_core::api::Visibility::Private),
        include: vec!["*.png".into()],
        exclude: vec!["tmp/".into()],
    };
    let status = Status {
        version: "0.1.0".into(),
        pid: 4242,
        server: "http://127.0.0.1:8420".into(),
        embedded: true,
        online: true,
        paused: false,
        folders: vec![folder.clone(), WatchedFolder::new("/home/u/Photos")],
        counts: QueueCounts {
            discovered: 1,
            hashed: 2,
            uploading: 3,
            uploaded: 4,
            backed_up: 5,
            failed: 6,
            retrying: 7,
        },
        in_flight: vec![InFlight {
            path: "/home/u/Photos/a.jpg".into(),
            bytes_done: 10,
            bytes_total: 20,
        }],
        recent_errors: vec![FileError {
            path: "/home/u/Photos/b.jpg".into(),
            code: "offline".into(),
            message: "cannot reach the server".into(),
            attempts: 2,
            permanent: false,
            next_attempt_at: Some(datetime!(2026-01-05 00:00:00 UTC)),
            at: datetime!(2026-01-04 23:59:00 UTC),
        }],
        watch_warning: Some("inotify limit reached".into()),
        last_scan_at: Some(datetime!(2026-01-04 23:00:00 UTC)),
        backup_dir: Some("/home/u/.local/share/imgcloud/backup".into()),
    };
    let status_bare = Status {
        folders: vec![],
        in_flight: vec![],
        recent_errors: vec![],
        watch_warning: None,
        last_scan_at: None,
        backup_dir: None,
        ..status.clone()
    };
    let queue = vec![
        QueueEntry {
            path: "/home/u/Photos/a.jpg".into(),
            state: FileState::Uploading,
            size: 20,
            attempts: 1,
            last_error: Some("timeout".into()),
            next_attempt_at: Some(datetime!(2026-01-05 00:00:00 UTC)),
            image_id: None,
            url: None,
        },
        QueueEntry {
            path: "/home/u/Photos/c.jpg".into(),
            state: FileState::BackedUp,
            size: 30,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            image_id: Some("a1B2c3D4e5F6g7H8".into()),
            url: Some("http://127.0.0.1:8421/imgcloud/i/a1B2c3D4e5F6g7H8/c.jpg".into()),
        },
    ];
    json!({
        "sync_status": status,
        "sync_status_bare": status_bare,
        "sync_queue": queue,
        "settings": settings,
        "settings_bare": settings_bare,
        "connected": Connected { settings: settings.clone(), username: "alice".into(), warning: Some("no OS keyring".into()) },
        "connected_keyring": Connected { settings: settings_bare, username: "alice".into(), warning: None },
        "upload_progress": [
            UploadProgress::Started { batch: batch.clone(), index: 0, path: "/p/a.png".into(), bytes: 10 },
            UploadProgress::Progress { batch: batch.clone(), index: 0, bytes_done: 5, bytes_total: 10 },
            UploadProgress::Finished { batch: batch.clone(), index: 0, link: image.url.clone(), existed: false },
            UploadProgress::Failed { batch, index: 1, path: "/p/b.png".into(), error: "not an image".into() },
        ],
        "upload_results": [
            UploadResult { path: "/p/a.png".into(), image: Some(image.clone()), link: Some(image.url.clone()), existed: true, error: None },
            UploadResult { path: "/p/b.png".into(), image: None, link: None, existed: false, error: Some(UploadFailure { code: "not_an_image".into(), message: "/p/b.png is not an image".into(), retryable: false }) },
        ],
        "image_page": sample_page(),
        "last_page": last_page,
        "photo_info": PhotoInfo { taken_at: Some(datetime!(2019-06-30 07:08:09 UTC)), camera: Some("OLYMPUS E-M5".into()) },
        "photo_info_none": PhotoInfo::default(),
        "share": Share {
            id: "sh1B2c3D4e5F6g7H".into(),
            url: "http://127.0.0.1:8420/s/3kTMd92jd8Jx0Qe7vB5nZp1Lq8Rw4Ys".into(),
            label: "for Alice".into(),
            album_id: None,
            image_ids: vec!["a1B2c3D4e5F6g7H8".into()],
            state: ShareState::Active,
            created_at: datetime!(2026-12-01 10:00:00 UTC),
            expires_at: Some(datetime!(2026-12-31 10:00:00 UTC)),
            has_password: true,
            max_views: Some(10),
            views: 3,
            visitors: 2,
            last_viewed_at: Some(datetime!(2026-12-02 08:00:00 UTC)),
            allow_download: false,
            with_metadata: false,
            revoked_at: None,
        },
        "album": Album {
            id: "alB2c3D4e5F6g7H8".into(),
            name: "Trip".into(),
            description: "the coast".into(),
            cover_image_id: Some("a1B2c3D4e5F6g7H8".into()),
            image_count: 2,
            created_at: datetime!(2026-12-01 10:00:00 UTC),
            updated_at: datetime!(2026-12-02 10:00:00 UTC),
        },
        "album_bare": Album {
            id: "alB2c3D4e5F6g7H9".into(),
            name: "Empty".into(),
            description: String::new(),
            cover_image_id: None,
            image_count: 0,
            created_at: datetime!(2026-12-01 10:00:00 UTC),
            updated_at: datetime!(2026-12-01 10:00:00 UTC),
        },
        "share_bare": Share {
            id: "sh2B2c3D4e5F6g7H".into(),
            url: "http://127.0.0.1:8420/s/9kTMd92jd8Jx0Qe7vB5nZp1Lq8Rw4Yt".into(),
            label: String::new(),
            album_id: Some("alB2c3D4e5F6g7H8".into()),
            image_ids: vec![],
            state: ShareState::Revoked,
            created_at: datetime!(2026-12-01 10:00:00 UTC),
            expires_at: None,
            has_password: false,
            max_views: None,
            views: 0,
            visitors: 0,
            last_viewed_at: None,
            allow_download: true,
            with_metadata: true,
            revoked_at: Some(datetime!(2026-12-02 09:00:00 UTC)),
        },
        "server_info": ServerInfo { server: Some("http://127.0.0.1:8420".into()), config_file: "/home/u/.config/imgcloud/config.toml".into() },
        "server_info_unconfigured": ServerInfo { server: None, config_file: "config.toml".into() },
        "command_errors": [
            CommandError::new(ErrorCode::NotConfigured, "no server configured"),
            CommandError::new(ErrorCode::NotLoggedIn, "not logged in"),
            CommandError::new(ErrorCode::Unreachable, "cannot reach the server"),
            CommandError::new(ErrorCode::Unauthorized, "token rejected"),
            CommandError::new(ErrorCode::NotFound, "no such image"),
            CommandError::new(ErrorCode::Invalid, "bad name"),
            CommandError::new(ErrorCode::Server, "server error"),
            CommandError::new(ErrorCode::DaemonNotRunning, "start imgcloudd"),
            CommandError::new(ErrorCode::Daemon, "daemon error"),
            CommandError::new(ErrorCode::Embedded, "cannot start"),
            CommandError::new(ErrorCode::Clipboard, "no clipboard"),
            CommandError::new(ErrorCode::Config, "bad config"),
            CommandError::new(ErrorCode::Internal, "bug"),
        ],
    })
}

#[test]
fn fixture_matches_rust_serialization() {
    let expected = samples();
    let path = fixture_path();
    if std::env::var_os("UPDATE_WIRE_FIXTURE").is_some() {
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let on_disk: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        on_disk,
        expected,
        "{} is out of date: regenerate it with UPDATE_WIRE_FIXTURE=1 cargo test -p imgcloud-desktop \
         wire_fixture, then update ui/src/lib/types.ts until `npm test` passes",
        path.display()
    );
}

#[test]
fn fixture_deserialises_back_into_the_rust_types() {
    let page: ImagePage = serde_json::from_value(samples()["image_page"].clone()).unwrap();
    let sample = sample_page();
    assert_eq!(page.items, sample.items);
    assert_eq!(page.next_cursor, sample.next_cursor);
    // The last page has no cursor field at all (the frontend treats absence as "no more").
    assert!(samples()["last_page"].get("next_cursor").is_none());
}
