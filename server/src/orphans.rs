//! `imgcloud-server orphans [--delete]`: objects in the bucket that no database row points at.
//!
//! After a database is restored to an earlier point in time, objects uploaded since are in the
//! bucket but not in the database. An object is ours when its key is `i/ID/…` or `t/ID/…`
//! (optionally under `p/`); it is pointed at when ID is an image (trashed ones included) or an
//! open upload. Objects younger than the minimum age are left alone (an upload may be between
//! its PUT and its registration), and so is anything outside those prefixes.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::objects::{ListedObject, ObjectStore};
use crate::store::Store;

/// The prefixes imgcloud writes to.
const PREFIXES: &[&str] = &["i/", "t/", "p/"];

/// What a scan found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Objects listed under imgcloud's prefixes.
    pub scanned: u64,
    /// Pointed at by a row.
    pub referenced: u64,
    /// Not pointed at, but younger than the minimum age: left alone.
    pub too_recent: u64,
    /// Under imgcloud's prefixes but not shaped like its keys: left alone.
    pub unrecognised: u64,
    pub orphans: Vec<Orphan>,
    /// Orphans deleted (`--delete`).
    pub deleted: u64,
}

#[derive(Debug, Serialize)]
pub struct Orphan {
    pub key: String,
    pub bytes: u64,
}

/// The image id a key of ours names: `i/ID/…`, `t/ID/…`, under `p/` or not.
pub fn image_id_of(key: &str) -> Option<&str> {
    let key = key.strip_prefix(crate::keys::PRIVATE_PREFIX).unwrap_or(key);
    let rest = key.strip_prefix("i/").or_else(|| key.strip_prefix("t/"))?;
    let (id, name) = rest.split_once('/')?;
    (crate::keys::is_plausible_id(id) && !name.is_empty()).then_some(id)
}

/// Lists the bucket and finds the orphans; deletes them when `delete`. `progress` hears how
/// far the listing is.
pub async fn scan(
    store: &dyn Store,
    objects: &ObjectStore,
    min_age: Duration,
    delete: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Report> {
    // The ids are read before listing: an object that appears after this read is younger
    // than the minimum age anyway.
    let ids: HashSet<String> = store.object_image_ids().await?.into_iter().collect();
    let now = OffsetDateTime::now_utc();
    let mut report = Report::default();
    let mut said = 0;
    for prefix in PREFIXES {
        let mut token: Option<String> = None;
        loop {
            let (page, next) = objects.list_page(prefix, token.as_deref()).await?;
            for object in page {
                classify(&mut report, &ids, object, now, min_age);
            }
            if report.scanned / 10_000 > said {
                said = report.scanned / 10_000;
                progress(&format!("{} objects listed", report.scanned));
            }
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    if delete {
        // Read again right before deleting: nothing a row points at by now goes.
        let ids: HashSet<String> = store.object_image_ids().await?.into_iter().collect();
        for orphan in &report.orphans {
            if image_id_of(&orphan.key).is_some_and(|id| ids.contains(id)) {
                continue;
            }
            objects.delete(&orphan.key).await?;
            report.deleted += 1;
        }
        progress(&format!("{} orphans deleted", report.deleted));
    }
    Ok(report)
}

fn classify(
    report: &mut Report,
    ids: &HashSet<String>,
    object: ListedObject,
    now: OffsetDateTime,
    min_age: Duration,
) {
    report.scanned += 1;
    let Some(id) = image_id_of(&object.key) else {
        report.unrecognised += 1;
        return;
    };
    if ids.contains(id) {
        report.referenced += 1;
        return;
    }
    // Without a time, an object counts as new: never delete what cannot be dated.
    let old_enough = object.last_modified.is_some_and(|at| now - at >= min_age);
    if !old_enough {
        report.too_recent += 1;
        return;
    }
    report.orphans.push(Orphan {
        key: object.key,
        bytes: object.size,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_image() {
        assert_eq!(image_id_of("i/abc123/photo.jpg"), Some("abc123"));
        assert_eq!(image_id_of("t/abc123/preview.jpg"), Some("abc123"));
        assert_eq!(image_id_of("p/i/abc123/photo.jpg"), Some("abc123"));
        assert_eq!(image_id_of("p/t/abc123/thumb.jpg"), Some("abc123"));
        for other in [
            "i/abc123",
            "x/abc/def",
            "i/../p",
            "i/a-b/c",
            "p/p/i/abc/d",
            "i//x",
        ] {
            assert_eq!(image_id_of(other), None, "{other}");
        }
    }

    #[test]
    fn only_old_objects_no_row_names_are_orphans() {
        let now = OffsetDateTime::now_utc();
        let ids: HashSet<String> = ["kept".to_string()].into();
        let day = Duration::from_secs(86_400);
        let mut report = Report::default();
        let object = |key: &str, age: Option<Duration>| ListedObject {
            key: key.into(),
            size: 7,
            last_modified: age.map(|a| now - a),
        };
        for o in [
            object("i/kept/a.jpg", Some(day * 3)),
            object("p/t/kept/thumb.jpg", Some(day * 3)),
            object("i/gone/a.jpg", Some(day * 2)),
            object("t/gone/preview.jpg", Some(day * 2)),
            object("i/fresh/a.jpg", Some(Duration::from_secs(60))),
            object("i/undated/a.jpg", None),
            object("i/README", Some(day * 9)),
        ] {
            classify(&mut report, &ids, o, now, day);
        }
        assert_eq!(report.scanned, 7);
        assert_eq!(report.referenced, 2);
        assert_eq!(report.too_recent, 2);
        assert_eq!(report.unrecognised, 1);
        let keys: Vec<&str> = report.orphans.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["i/gone/a.jpg", "t/gone/preview.jpg"]);
    }
}
