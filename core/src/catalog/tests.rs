use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::api::{Change, ChangeKind, ChangePage, Image};
use crate::paths::Dirs;

fn image(id: &str, filename: &str, size: u64, day: u8, tags: &[&str]) -> Image {
    let at: OffsetDateTime = datetime!(2024-05-01 09:30:00.123456789 UTC)
        .replace_day(day)
        .unwrap();
    Image {
        id: id.to_string(),
        filename: filename.to_string(),
        size,
        sha256: "0".repeat(64),
        content_type: "image/jpeg".to_string(),
        width: 4032,
        height: 3024,
        taken_at: Some(at),
        created_at: at + Duration::days(1),
        updated_at: at + Duration::days(1),
        deleted_at: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        visibility: Default::default(),
        url: format!("https://cdn.example.com/i/{id}/{filename}"),
        thumb_url: format!("https://cdn.example.com/t/{id}/320.webp"),
        preview_url: format!("https://cdn.example.com/t/{id}/1280.webp"),
        thumbhash: None,
        derivatives: Default::default(),
        derivatives_error: None,
    }
}

fn upsert(seq: i64, image: &Image) -> Change {
    Change {
        seq,
        kind: ChangeKind::Upsert,
        entity: Default::default(),
        image_id: image.id.clone(),
        image: Some(image.clone()),
        album: None,
        album_image_ids: None,
        share: None,
    }
}

fn purge(seq: i64, id: &str) -> Change {
    Change {
        seq,
        kind: ChangeKind::Purge,
        entity: Default::default(),
        image_id: id.to_string(),
        image: None,
        album: None,
        album_image_ids: None,
        share: None,
    }
}

fn page(changes: Vec<Change>) -> ChangePage {
    let next_since = changes.iter().map(|c| c.seq).max().unwrap_or(0);
    ChangePage {
        changes,
        next_since,
        has_more: false,
    }
}

fn ids(images: &[Image]) -> Vec<&str> {
    images.iter().map(|i| i.id.as_str()).collect()
}

fn query(view: View, sort: Sort, search: &str) -> Query {
    Query {
        view,
        sort,
        search: search.to_string(),
        ..Query::default()
    }
}

/// beach (day 10, 2.5 MB), Cat (12, 120 kB), diagram (5, 48 kB; tagged Work), and Ärger (7).
fn sample() -> Vec<Image> {
    vec![
        image("a1", "beach.jpg", 2_500_000, 10, &["holiday", "sea"]),
        image("a2", "Cat.png", 120_000, 12, &["pets"]),
        image("a3", "diagram.webp", 48_000, 5, &["Work"]),
        image("a4", "Ärger.jpg", 700_000, 7, &[]),
    ]
}

fn filled(dir: &tempfile::TempDir) -> Catalog {
    let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
    let images = sample();
    let changes = images
        .iter()
        .enumerate()
        .map(|(i, image)| upsert(i as i64 + 1, image))
        .collect();
    catalog.apply(&page(changes)).unwrap();
    catalog
}

#[test]
fn albums_and_share_links_follow_the_feed() {
    use crate::api::{Album, ChangeEntity, Share, ShareState};
    let dir = tempfile::tempdir().unwrap();
    let catalog = filled(&dir);
    let at = datetime!(2026-12-01 10:00 UTC);
    let album = Album {
        id: "alb1".into(),
        name: "Trip".into(),
        description: String::new(),
        cover_image_id: None,
        image_count: 2,
        created_at: at,
        updated_at: at,
    };
    let share = Share {
        id: "sh1".into(),
        url: "https://img.example/s/TOKEN".into(),
        label: "for Alice".into(),
        album_id: None,
        image_ids: vec!["a".into()],
        state: ShareState::Active,
        created_at: at,
        expires_at: None,
        has_password: false,
        max_views: Some(3),
        views: 1,
        visitors: 1,
        last_viewed_at: Some(at),
        allow_download: true,
        with_metadata: false,
        revoked_at: None,
    };
    let entity = |seq, entity, id: &str| Change {
        entity,
        ..purge(seq, id)
    };
    catalog
        .apply(&page(vec![
            Change {
                kind: ChangeKind::Upsert,
                album: Some(album.clone()),
                album_image_ids: Some(vec!["c".into(), "a".into()]),
                ..entity(100, ChangeEntity::Album, "alb1")
            },
            Change {
                kind: ChangeKind::Upsert,
                share: Some(share.clone()),
                ..entity(101, ChangeEntity::Share, "sh1")
            },
        ]))
        .unwrap();
    assert_eq!(catalog.albums().unwrap(), vec![album]);
    assert_eq!(catalog.album_image_ids("alb1").unwrap(), ["c", "a"]);
    assert_eq!(catalog.shares().unwrap(), vec![share]);
    assert_eq!(
        catalog.all().unwrap().len(),
        sample().len(),
        "no image was touched"
    );

    catalog
        .apply(&page(vec![
            entity(102, ChangeEntity::Album, "alb1"),
            entity(103, ChangeEntity::Share, "sh1"),
        ]))
        .unwrap();
    assert!(catalog.albums().unwrap().is_empty());
    assert!(catalog.album_image_ids("alb1").unwrap().is_empty());
    assert!(catalog.shares().unwrap().is_empty());
    assert_eq!(catalog.since().unwrap(), 103);
}

#[test]
fn a_new_catalog_is_empty_at_position_zero() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("sub/c.sqlite")).unwrap();
    assert_eq!(catalog.since().unwrap(), 0);
    assert_eq!(catalog.synced_at().unwrap(), None);
    assert_eq!(catalog.counts().unwrap(), Counts::default());
    assert!(catalog.images(&Query::default()).unwrap().is_empty());
}

#[test]
fn applied_pages_round_trip_every_field_and_move_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let before = OffsetDateTime::now_utc();
    let catalog = filled(&dir);
    assert_eq!(catalog.since().unwrap(), 4);
    assert!(catalog.synced_at().unwrap().unwrap() >= before - Duration::seconds(1));
    let stored = catalog.get("a1").unwrap().unwrap();
    assert_eq!(stored, sample()[0]);
    assert_eq!(catalog.get("nope").unwrap(), None);
    assert_eq!(
        catalog.counts().unwrap(),
        Counts {
            library: 4,
            trash: 0
        }
    );
    // A second page: one change, one new image; the position follows.
    let mut renamed = sample()[1].clone();
    renamed.filename = "kitten.png".to_string();
    let new = image("a5", "new.gif", 1, 1, &[]);
    let applied = catalog
        .apply(&page(vec![upsert(5, &renamed), upsert(6, &new)]))
        .unwrap();
    assert_eq!(
        applied,
        Applied {
            upserts: 2,
            purges: 0
        }
    );
    assert_eq!(catalog.since().unwrap(), 6);
    assert_eq!(catalog.get("a2").unwrap().unwrap().filename, "kitten.png");
    assert_eq!(catalog.counts().unwrap().library, 5);
}

#[test]
fn trash_moves_between_views_and_purge_removes() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = filled(&dir);
    let mut trashed = sample()[0].clone();
    trashed.deleted_at = Some(datetime!(2024-06-01 00:00 UTC));
    catalog.apply(&page(vec![upsert(5, &trashed)])).unwrap();
    assert_eq!(
        catalog.counts().unwrap(),
        Counts {
            library: 3,
            trash: 1
        }
    );
    let trash = catalog.images(&query(View::Trash, Sort::Date, "")).unwrap();
    assert_eq!(ids(&trash), ["a1"]);
    assert_eq!(catalog.all().unwrap().len(), 4, "all() holds both views");
    assert!(
        !ids(&catalog.images(&Query::default()).unwrap()).contains(&"a1"),
        "a trashed image left the library"
    );
    let applied = catalog.apply(&page(vec![purge(6, "a1")])).unwrap();
    assert_eq!(applied.purges, 1);
    assert_eq!(catalog.get("a1").unwrap(), None);
    assert_eq!(
        catalog.counts().unwrap(),
        Counts {
            library: 3,
            trash: 0
        }
    );
}

#[test]
fn an_older_feed_entry_never_overwrites_a_newer_one_and_the_position_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = filled(&dir);
    let mut newer = sample()[0].clone();
    newer.filename = "newer.jpg".to_string();
    catalog.apply(&page(vec![upsert(9, &newer)])).unwrap();
    let mut older = sample()[0].clone();
    older.filename = "older.jpg".to_string();
    catalog.apply(&page(vec![upsert(7, &older)])).unwrap();
    assert_eq!(catalog.get("a1").unwrap().unwrap().filename, "newer.jpg");
    assert_eq!(catalog.since().unwrap(), 9);
    // A request's answer replaces at once; the feed's next entry still wins over it.
    older.filename = "put.jpg".to_string();
    catalog.put(&older).unwrap();
    assert_eq!(catalog.get("a1").unwrap().unwrap().filename, "put.jpg");
    catalog.apply(&page(vec![upsert(10, &newer)])).unwrap();
    assert_eq!(catalog.get("a1").unwrap().unwrap().filename, "newer.jpg");
}

#[test]
fn sorts_by_date_name_and_size_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = filled(&dir);
    let by = |sort| {
        ids(&catalog.images(&query(View::Library, sort, "")).unwrap())
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // Taken dates: Cat 12, beach 10, Ärger 7, diagram 5.
    assert_eq!(by(Sort::Date), ["a2", "a1", "a4", "a3"]);
    // Case-insensitive, Unicode-aware lower-casing: "ärger" sorts after the ASCII letters.
    assert_eq!(by(Sort::Name), ["a1", "a2", "a3", "a4"]);
    assert_eq!(by(Sort::Size), ["a1", "a4", "a2", "a3"]);
    let second = catalog
        .images(&Query {
            offset: 1,
            limit: 2,
            ..query(View::Library, Sort::Date, "")
        })
        .unwrap();
    assert_eq!(ids(&second), ["a1", "a4"]);
    // An image without a taken date is listed by its upload date.
    let mut undated = image("a6", "undated.png", 1, 1, &[]);
    undated.taken_at = None;
    undated.created_at = datetime!(2024-05-11 00:00 UTC);
    catalog.apply(&page(vec![upsert(5, &undated)])).unwrap();
    assert_eq!(by(Sort::Date)[..3], ["a2", "a6", "a1"]);
}

#[test]
fn search_matches_filenames_and_tags_ignoring_case() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = filled(&dir);
    let found = |search: &str| {
        let images = catalog
            .images(&query(View::Library, Sort::Name, search))
            .unwrap();
        assert_eq!(
            catalog.count(View::Library, search).unwrap(),
            images.len(),
            "count and images agree for {search:?}"
        );
        ids(&images)
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(found("CAT"), ["a2"]);
    assert_eq!(found("work"), ["a3"]);
    assert_eq!(found("ÄRG"), ["a4"]);
    assert_eq!(found(".jpg"), ["a1", "a4"]);
    assert_eq!(found("s"), ["a1", "a2"]);
    assert!(found("zebra").is_empty());
    // A search never reaches into the other view.
    assert!(
        catalog
            .images(&query(View::Trash, Sort::Date, "cat"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn reopening_keeps_the_images_and_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    let synced = {
        let catalog = filled(&dir);
        catalog.synced_at().unwrap()
    };
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.since().unwrap(), 4);
    assert_eq!(catalog.synced_at().unwrap(), synced);
    assert_eq!(catalog.counts().unwrap().library, 4);
    let mut ids = catalog.ids().unwrap();
    ids.sort();
    assert_eq!(ids, ["a1", "a2", "a3", "a4"]);
    let mut all = catalog.all().unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(all, sample());
}

#[test]
fn a_catalog_from_a_newer_imgcloud_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    drop(filled(&dir));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
    }
    let error = Catalog::open_or_rebuild(&path).unwrap_err();
    assert!(matches!(error, CatalogError::Newer { found, .. } if found == SCHEMA_VERSION + 1));
    let message = error.to_string();
    assert!(
        message.contains("newer imgcloud") && message.contains("c.sqlite"),
        "{message}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM images", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 4, "the newer file was not touched");
}

#[test]
fn a_damaged_file_is_rebuilt_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let error = Catalog::open(&path).unwrap_err();
    assert!(matches!(error, CatalogError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("damaged"), "{error}");
    let (catalog, rebuilt) = Catalog::open_or_rebuild(&path).unwrap();
    assert!(rebuilt.is_some());
    assert_eq!(catalog.since().unwrap(), 0);
    catalog.apply(&page(vec![upsert(1, &sample()[0])])).unwrap();
    assert_eq!(catalog.counts().unwrap().library, 1);
}

#[test]
fn each_server_and_user_has_its_own_file_and_the_last_user_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = Dirs::resolve(|name| match name {
        "IMGCLOUD_CONFIG_DIR" => Some(dir.path().join("config")),
        "IMGCLOUD_DATA_DIR" => Some(dir.path().join("data")),
        _ => None,
    })
    .unwrap();
    let a = location::file(&dirs, "https://img.example.com/", "u1");
    assert_eq!(a, location::file(&dirs, "https://img.example.com", "u1"));
    assert!(a.starts_with(dir.path().join("data")));
    assert_ne!(a, location::file(&dirs, "https://img.example.com", "u2"));
    assert_ne!(a, location::file(&dirs, "http://img.example.com", "u1"));
    assert_ne!(location::file(&dirs, "https://x", "../evil").parent(), None);
    assert!(location::file(&dirs, "https://x", "../evil").starts_with(dirs.catalogs()));
    assert_eq!(location::last_user(&dirs, "https://img.example.com"), None);
    location::remember_user(&dirs, "https://img.example.com", "u2").unwrap();
    assert_eq!(
        location::last_user(&dirs, "https://img.example.com/").as_deref(),
        Some("u2")
    );
    assert_eq!(
        location::last_user(&dirs, "https://other.example.com"),
        None
    );
}

#[cfg(unix)]
#[test]
fn a_new_catalog_and_its_wal_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalogs").join("c.sqlite");
    let catalog = Catalog::open(&path).unwrap();
    catalog
        .apply(&ChangePage {
            changes: vec![upsert(1, &image("a000000000000001", "a.jpg", 1, 1, &[]))],
            next_since: 1,
            has_more: false,
        })
        .unwrap();
    for name in ["c.sqlite", "c.sqlite-wal"] {
        let file = path.with_file_name(name);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}
