//! Feeding the catalog from the change feed, one page per transaction.

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::row::{self, nanos};
use super::{Catalog, CatalogError};
use crate::api::{Album, Change, ChangeEntity, ChangeKind, ChangePage, Image, Share};

/// What one page changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub upserts: usize,
    pub purges: usize,
}

const SINCE: &str = "since";
const SYNCED_AT: &str = "synced_at";

impl Catalog {
    /// The change-feed position the catalog is at (0: nothing synced yet).
    pub fn since(&self) -> Result<i64, CatalogError> {
        Ok(self.meta(SINCE)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// When the catalog last heard from the server (None: never).
    pub fn synced_at(&self) -> Result<Option<OffsetDateTime>, CatalogError> {
        Ok(self
            .meta(SYNCED_AT)?
            .and_then(|v| v.parse::<i128>().ok())
            .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok()))
    }

    /// Applies one page of the change feed in one transaction: upserts replace (unless the
    /// catalog already holds a later state of the image), purges delete, and the position
    /// moves to `next_since` (never backwards). An empty page still records the sync time.
    pub fn apply(&self, page: &ChangePage) -> Result<Applied, CatalogError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut applied = Applied::default();
        {
            let mut upsert = tx.prepare_cached(UPSERT).map_err(|e| self.err(e))?;
            let mut purge = tx
                .prepare_cached("DELETE FROM images WHERE id = ?1")
                .map_err(|e| self.err(e))?;
            for change in &page.changes {
                let Change {
                    seq,
                    kind,
                    entity,
                    image_id,
                    image,
                    ..
                } = change;
                match entity {
                    ChangeEntity::Image => match (kind, image) {
                        (ChangeKind::Upsert, Some(image)) => {
                            write(&mut upsert, *seq, image).map_err(|e| self.err(e))?;
                            applied.upserts += 1;
                        }
                        (ChangeKind::Purge, _) | (ChangeKind::Upsert, None) => {
                            purge.execute([image_id]).map_err(|e| self.err(e))?;
                            applied.purges += 1;
                        }
                    },
                    ChangeEntity::Album => {
                        apply_album(&tx, change).map_err(|e| self.err(e))?;
                    }
                    ChangeEntity::Share => {
                        apply_share(&tx, change).map_err(|e| self.err(e))?;
                    }
                }
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            params![SINCE, page.next_since.to_string()],
        )
        .map_err(|e| self.err(e))?;
        set_meta(
            &tx,
            SYNCED_AT,
            &OffsetDateTime::now_utc().unix_timestamp_nanos().to_string(),
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(applied)
    }

    /// Replaces one image outside the feed (the answer of a trash or restore request), so the
    /// catalog shows it before the feed catches up. The feed's later entries still win.
    pub fn put(&self, image: &Image) -> Result<(), CatalogError> {
        let conn = self.lock();
        conn.prepare_cached(UPSERT)
            .and_then(|mut s| write(&mut s, 0, image))
            .map_err(|e| self.err(e))
    }

    fn meta(&self, key: &str) -> Result<Option<String>, CatalogError> {
        self.lock()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }
}

/// Replaces (or, for a purge, deletes) an album and its image order.
fn apply_album(tx: &rusqlite::Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM album_images WHERE album_id = ?1",
        [&change.image_id],
    )?;
    match (&change.kind, &change.album) {
        (ChangeKind::Upsert, Some(album)) => {
            let json = serde_json::to_string(album).unwrap_or_default();
            tx.execute(
                "INSERT INTO albums (id, name, json) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, json = excluded.json",
                params![album.id, album.name, json],
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO album_images (album_id, position, image_id) VALUES (?1, ?2, ?3)",
            )?;
            for (position, image_id) in change.album_image_ids.iter().flatten().enumerate() {
                insert.execute(params![album.id, position as i64, image_id])?;
            }
        }
        _ => {
            tx.execute("DELETE FROM albums WHERE id = ?1", [&change.image_id])?;
        }
    }
    Ok(())
}

/// Replaces (or, for a purge, deletes) a share link.
fn apply_share(tx: &rusqlite::Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    match (&change.kind, &change.share) {
        (ChangeKind::Upsert, Some(share)) => {
            let json = serde_json::to_string(share).unwrap_or_default();
            tx.execute(
                "INSERT INTO shares (id, created_at, json) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json",
                params![share.id, nanos(share.created_at), json],
            )?;
        }
        _ => {
            tx.execute("DELETE FROM shares WHERE id = ?1", [&change.image_id])?;
        }
    }
    Ok(())
}

impl Catalog {
    /// The albums, by name.
    pub fn albums(&self) -> Result<Vec<Album>, CatalogError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached("SELECT json FROM albums ORDER BY name COLLATE NOCASE, id")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut albums = Vec::new();
        for json in rows {
            let json = json.map_err(|e| self.err(e))?;
            if let Ok(album) = serde_json::from_str(&json) {
                albums.push(album);
            }
        }
        Ok(albums)
    }

    /// The images of album `id`, in order.
    pub fn album_image_ids(&self, id: &str) -> Result<Vec<String>, CatalogError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(
                "SELECT image_id FROM album_images WHERE album_id = ?1 ORDER BY position",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The share links, newest first (their counts as of the last sync).
    pub fn shares(&self) -> Result<Vec<Share>, CatalogError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached("SELECT json FROM shares ORDER BY created_at DESC, id")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut shares = Vec::new();
        for json in rows {
            let json = json.map_err(|e| self.err(e))?;
            if let Ok(share) = serde_json::from_str(&json) {
                shares.push(share);
            }
        }
        Ok(shares)
    }
}

/// Inserts or replaces an image, unless the stored row came from a later feed entry
/// (`seq` 0: not from the feed, always replaces and keeps the stored `seq`).
const UPSERT: &str = "
INSERT INTO images (id, seq, filename, name_key, search_key, size, sha256, content_type, width, height,
                    taken_at, created_at, updated_at, deleted_at, date, trashed, tags, url, thumb_url, preview_url,
                    thumbhash, derivatives, derivatives_error, visibility)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
        ?21, ?22, ?23, ?24)
ON CONFLICT (id) DO UPDATE SET
    seq = max(images.seq, excluded.seq), filename = excluded.filename, name_key = excluded.name_key,
    search_key = excluded.search_key, size = excluded.size, sha256 = excluded.sha256,
    content_type = excluded.content_type, width = excluded.width, height = excluded.height,
    taken_at = excluded.taken_at, created_at = excluded.created_at, updated_at = excluded.updated_at,
    deleted_at = excluded.deleted_at, date = excluded.date, trashed = excluded.trashed,
    tags = excluded.tags, url = excluded.url, thumb_url = excluded.thumb_url,
    preview_url = excluded.preview_url, thumbhash = excluded.thumbhash,
    derivatives = excluded.derivatives, derivatives_error = excluded.derivatives_error,
    visibility = excluded.visibility
WHERE excluded.seq = 0 OR excluded.seq >= images.seq";

fn write(upsert: &mut rusqlite::Statement<'_>, seq: i64, image: &Image) -> rusqlite::Result<()> {
    upsert.execute(params![
        image.id,
        seq,
        image.filename,
        row::name_key(image),
        row::search_key(image),
        i64::try_from(image.size).unwrap_or(i64::MAX),
        image.sha256,
        image.content_type,
        image.width,
        image.height,
        image.taken_at.map(nanos),
        nanos(image.created_at),
        nanos(image.updated_at),
        image.deleted_at.map(nanos),
        nanos(row::list_date(image)),
        image.deleted_at.is_some(),
        row::tags(image),
        image.url,
        image.thumb_url,
        image.preview_url,
        image.thumbhash,
        image.derivatives.as_str(),
        image.derivatives_error,
        image.visibility.as_str(),
    ])?;
    Ok(())
}

fn set_meta(conn: &rusqlite::Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(|_| ())
}
