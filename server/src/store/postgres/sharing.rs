//! [`Sharing`] on PostgreSQL (same semantics as SQLite's: see `store::sharing`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use super::{IMAGE_COLUMNS, PostgresStore, db_err, image_from_row, micros, to_i64, to_u32, to_u64};
use crate::store::sharing::{
    AlbumRecord, AlbumUpdate, ShareRecord, ShareState, Sharing, ViewOutcome,
};
use crate::store::{ChangeEntity, ImageRecord, StoreError, StoreResult};

const ALBUM_COLUMNS: &str = "a.id, a.owner_id, a.name, a.description, a.cover_image_id, \
     a.created_at, a.updated_at, \
     (SELECT count(*) FROM album_images ai JOIN images i ON i.id = ai.image_id \
      WHERE ai.album_id = a.id AND i.deleted_at IS NULL) AS image_count";

const SHARE_COLUMNS: &str = "s.id, s.owner_id, s.token_hash, s.nonce, s.album_id, s.label, \
     s.created_at, s.expires_at, s.password_hash, s.max_views, s.views, s.visitors, \
     s.last_viewed_at, s.allow_download, s.with_metadata, s.revoked_at, \
     ARRAY(SELECT si.image_id FROM share_images si WHERE si.share_id = s.id \
      ORDER BY si.position) AS image_ids";

fn album_from_row(row: &PgRow) -> StoreResult<AlbumRecord> {
    Ok(AlbumRecord {
        id: row.try_get("id").map_err(db_err)?,
        owner_id: row.try_get("owner_id").map_err(db_err)?,
        name: row.try_get("name").map_err(db_err)?,
        description: row.try_get("description").map_err(db_err)?,
        cover_image_id: row.try_get("cover_image_id").map_err(db_err)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        updated_at: row.try_get("updated_at").map_err(db_err)?,
        image_count: to_u32(row.try_get("image_count").map_err(db_err)?),
    })
}

fn micros_opt(row: &PgRow, name: &str) -> StoreResult<Option<OffsetDateTime>> {
    row.try_get(name).map_err(db_err)
}

fn share_from_row(row: &PgRow) -> StoreResult<ShareRecord> {
    let image_ids: Vec<String> = row.try_get("image_ids").map_err(db_err)?;
    Ok(ShareRecord {
        id: row.try_get("id").map_err(db_err)?,
        owner_id: row.try_get("owner_id").map_err(db_err)?,
        token_hash: row.try_get("token_hash").map_err(db_err)?,
        nonce: row.try_get("nonce").map_err(db_err)?,
        album_id: row.try_get("album_id").map_err(db_err)?,
        image_ids,
        label: row.try_get("label").map_err(db_err)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        expires_at: micros_opt(row, "expires_at")?,
        password_hash: row.try_get("password_hash").map_err(db_err)?,
        max_views: row
            .try_get::<Option<i64>, _>("max_views")
            .map_err(db_err)?
            .map(to_u64),
        views: to_u64(row.try_get("views").map_err(db_err)?),
        visitors: to_u64(row.try_get("visitors").map_err(db_err)?),
        last_viewed_at: micros_opt(row, "last_viewed_at")?,
        allow_download: row.try_get("allow_download").map_err(db_err)?,
        with_metadata: row.try_get("with_metadata").map_err(db_err)?,
        revoked_at: micros_opt(row, "revoked_at")?,
    })
}

/// Fails with `NotFound` unless every one of `image_ids` is an image of `owner`.
async fn check_images(
    conn: &mut sqlx::PgConnection,
    owner: &str,
    image_ids: &[String],
) -> StoreResult<()> {
    for id in image_ids {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM images WHERE owner_id = $1 AND id = $2")
                .bind(owner)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
    }
    Ok(())
}

async fn album_in(
    conn: &mut sqlx::PgConnection,
    owner: &str,
    id: &str,
) -> StoreResult<AlbumRecord> {
    let sql = format!("SELECT {ALBUM_COLUMNS} FROM albums a WHERE a.owner_id = $1 AND a.id = $2");
    let row = sqlx::query(&sql)
        .bind(owner)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    album_from_row(&row)
}

async fn share_in(
    conn: &mut sqlx::PgConnection,
    clause: &str,
    binds: &[&str],
) -> StoreResult<ShareRecord> {
    let sql = format!("SELECT {SHARE_COLUMNS} FROM shares s WHERE {clause}");
    let mut query = sqlx::query(&sql);
    for bind in binds {
        query = query.bind(*bind);
    }
    let row = query
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    share_from_row(&row)
}

#[async_trait]
impl Sharing for PostgresStore {
    async fn create_album(&self, album: &AlbumRecord) -> StoreResult<AlbumRecord> {
        let mut tx = self.owner_tx(&album.owner_id).await?;
        sqlx::query(
            "INSERT INTO albums (id, owner_id, name, description, cover_image_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6)",
        )
        .bind(&album.id)
        .bind(&album.owner_id)
        .bind(&album.name)
        .bind(&album.description)
        .bind(micros(album.created_at))
        .bind(micros(album.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let stored = album_in(&mut tx, &album.owner_id, &album.id).await?;
        PostgresStore::record_entity_change(
            &mut tx,
            &album.owner_id,
            ChangeEntity::Album,
            &album.id,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn albums(&self, owner: &str) -> StoreResult<Vec<AlbumRecord>> {
        let sql =
            format!("SELECT {ALBUM_COLUMNS} FROM albums a WHERE a.owner_id = $1 ORDER BY a.name");
        let rows = sqlx::query(&sql)
            .bind(owner)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(album_from_row).collect()
    }

    async fn album(&self, owner: &str, id: &str) -> StoreResult<AlbumRecord> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        album_in(&mut conn, owner, id).await
    }

    async fn album_by_name(&self, owner: &str, name: &str) -> StoreResult<AlbumRecord> {
        let sql =
            format!("SELECT {ALBUM_COLUMNS} FROM albums a WHERE a.owner_id = $1 AND a.name = $2");
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        album_from_row(&row)
    }

    async fn update_album(
        &self,
        owner: &str,
        id: &str,
        update: &AlbumUpdate,
    ) -> StoreResult<AlbumRecord> {
        let mut tx = self.owner_tx(owner).await?;
        let mut album = album_in(&mut tx, owner, id).await?;
        if let Some(Some(cover)) = &update.cover_image_id {
            check_images(&mut tx, owner, std::slice::from_ref(cover)).await?;
        }
        if let Some(name) = &update.name {
            album.name = name.clone();
        }
        if let Some(description) = &update.description {
            album.description = description.clone();
        }
        if let Some(cover) = &update.cover_image_id {
            album.cover_image_id = cover.clone();
        }
        sqlx::query(
            "UPDATE albums SET name = $1, description = $2, cover_image_id = $3, updated_at = $4 \
             WHERE owner_id = $5 AND id = $6",
        )
        .bind(&album.name)
        .bind(&album.description)
        .bind(&album.cover_image_id)
        .bind(crate::store::now())
        .bind(owner)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let stored = album_in(&mut tx, owner, id).await?;
        PostgresStore::record_entity_change(&mut tx, owner, ChangeEntity::Album, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn delete_album(&self, owner: &str, id: &str) -> StoreResult<()> {
        let mut tx = self.owner_tx(owner).await?;
        // Its links go with it (cascade): the feed tells of them too.
        let links: Vec<String> =
            sqlx::query_scalar("SELECT id FROM shares WHERE owner_id = $1 AND album_id = $2")
                .bind(owner)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        let deleted = sqlx::query("DELETE FROM albums WHERE owner_id = $1 AND id = $2")
            .bind(owner)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        PostgresStore::record_entity_change(&mut tx, owner, ChangeEntity::Album, id).await?;
        for link in &links {
            PostgresStore::record_entity_change(&mut tx, owner, ChangeEntity::Share, link).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn album_images(&self, owner: &str, id: &str) -> StoreResult<Vec<ImageRecord>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        album_in(&mut conn, owner, id).await?;
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM album_images ai JOIN images i ON i.id = ai.image_id \
             WHERE ai.album_id = $1 AND i.owner_id = $2 AND i.deleted_at IS NULL \
             ORDER BY ai.position, i.id"
        );
        let rows = sqlx::query(&sql)
            .bind(id)
            .bind(owner)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        rows.iter().map(image_from_row).collect()
    }

    async fn add_to_album(&self, owner: &str, id: &str, image_ids: &[String]) -> StoreResult<()> {
        let mut tx = self.owner_tx(owner).await?;
        album_in(&mut tx, owner, id).await?;
        check_images(&mut tx, owner, image_ids).await?;
        let last: Option<i64> =
            sqlx::query_scalar("SELECT max(position) FROM album_images WHERE album_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let mut position = last.unwrap_or(0);
        for image_id in image_ids {
            position += 1;
            sqlx::query(
                "INSERT INTO album_images (album_id, image_id, position) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(image_id)
            .bind(position)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query("UPDATE albums SET updated_at = $1 WHERE id = $2")
            .bind(crate::store::now())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        PostgresStore::record_entity_change(&mut tx, owner, ChangeEntity::Album, id).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn remove_from_album(
        &self,
        owner: &str,
        id: &str,
        image_ids: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.owner_tx(owner).await?;
        album_in(&mut tx, owner, id).await?;
        for image_id in image_ids {
            sqlx::query("DELETE FROM album_images WHERE album_id = $1 AND image_id = $2")
                .bind(id)
                .bind(image_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query(
            "UPDATE albums SET cover_image_id = NULL WHERE id = $1 AND cover_image_id IS NOT NULL \
             AND cover_image_id NOT IN (SELECT image_id FROM album_images WHERE album_id = $2)",
        )
        .bind(id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        PostgresStore::record_entity_change(&mut tx, owner, ChangeEntity::Album, id).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn reorder_album(&self, owner: &str, id: &str, image_ids: &[String]) -> StoreResult<()> {
        let mut tx = self.owner_tx(owner).await?;
        album_in(&mut tx, owner, id).await?;
        let current: Vec<String> = sqlx::query_scalar(
            "SELECT image_id FROM album_images WHERE album_id = $1 ORDER BY position, image_id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        if image_ids.iter().any(|i| !current.contains(i)) {
            return Err(StoreError::NotFound);
        }
        let order = crate::store::sharing_order(image_ids, &current);
        for (position, image_id) in order.iter().enumerate() {
            sqlx::query(
                "UPDATE album_images SET position = $1 WHERE album_id = $2 AND image_id = $3",
            )
            .bind(to_i64(position as u64 + 1)?)
            .bind(id)
            .bind(image_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        PostgresStore::record_entity_change(&mut tx, owner, ChangeEntity::Album, id).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn create_share(&self, share: &ShareRecord) -> StoreResult<ShareRecord> {
        let mut tx = self.owner_tx(&share.owner_id).await?;
        if let Some(album) = &share.album_id {
            album_in(&mut tx, &share.owner_id, album).await?;
        }
        check_images(&mut tx, &share.owner_id, &share.image_ids).await?;
        sqlx::query(
            "INSERT INTO shares (id, owner_id, token_hash, nonce, album_id, label, created_at, \
             expires_at, password_hash, max_views, allow_download, with_metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&share.id)
        .bind(&share.owner_id)
        .bind(&share.token_hash)
        .bind(&share.nonce)
        .bind(&share.album_id)
        .bind(&share.label)
        .bind(micros(share.created_at))
        .bind(share.expires_at.map(micros))
        .bind(&share.password_hash)
        .bind(share.max_views.map(to_i64).transpose()?)
        .bind(share.allow_download)
        .bind(share.with_metadata)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for (position, image_id) in share.image_ids.iter().enumerate() {
            sqlx::query(
                "INSERT INTO share_images (share_id, position, image_id) VALUES ($1, $2, $3)",
            )
            .bind(&share.id)
            .bind(to_i64(position as u64)?)
            .bind(image_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        PostgresStore::record_entity_change(
            &mut tx,
            &share.owner_id,
            ChangeEntity::Share,
            &share.id,
        )
        .await?;
        let stored = share_in(&mut tx, "s.id = $1", &[&share.id]).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn shares(&self, owner: &str) -> StoreResult<Vec<ShareRecord>> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM shares s WHERE s.owner_id = $1 ORDER BY s.created_at DESC, s.id"
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(share_from_row).collect()
    }

    async fn share(&self, owner: &str, id: &str) -> StoreResult<ShareRecord> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        share_in(&mut conn, "s.owner_id = $1 AND s.id = $2", &[owner, id]).await
    }

    async fn share_by_token_hash(&self, token_hash: &str) -> StoreResult<ShareRecord> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        share_in(&mut conn, "s.token_hash = $1", &[token_hash]).await
    }

    async fn revoke_share(
        &self,
        owner: &str,
        id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<ShareRecord> {
        let mut tx = self.owner_tx(owner).await?;
        sqlx::query(
            "UPDATE shares SET revoked_at = coalesce(revoked_at, $1) WHERE owner_id = $2 AND id = $3",
        )
        .bind(micros(at))
        .bind(owner)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let share = share_in(&mut tx, "s.owner_id = $1 AND s.id = $2", &[owner, id]).await?;
        PostgresStore::record_entity_change(&mut tx, owner, ChangeEntity::Share, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(share)
    }

    async fn record_share_view(
        &self,
        id: &str,
        at: OffsetDateTime,
        visitor: &str,
    ) -> StoreResult<ViewOutcome> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let now = micros(at);
        let counted = sqlx::query(
            "UPDATE shares SET views = views + 1, last_viewed_at = $1 WHERE id = $2 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
             AND (max_views IS NULL OR views < max_views)",
        )
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if counted == 0 {
            let share = share_in(&mut tx, "s.id = $1", &[id]).await?;
            return Ok(ViewOutcome::Ended(match share.state(at) {
                // Ended between our read and our update: it is exhausted now.
                ShareState::Active => ShareState::Exhausted,
                state => state,
            }));
        }
        let first_visit = sqlx::query(
            "INSERT INTO share_visitors (share_id, visitor, first_seen) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(visitor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if first_visit {
            sqlx::query("UPDATE shares SET visitors = visitors + 1 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(ViewOutcome::Counted { first_visit })
    }

    async fn share_images(&self, share: &ShareRecord) -> StoreResult<Vec<ImageRecord>> {
        if let Some(album) = &share.album_id {
            return self.album_images(&share.owner_id, album).await;
        }
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM share_images si JOIN images i ON i.id = si.image_id \
             WHERE si.share_id = $1 AND i.owner_id = $2 AND i.deleted_at IS NULL ORDER BY si.position"
        );
        let rows = sqlx::query(&sql)
            .bind(&share.id)
            .bind(&share.owner_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(image_from_row).collect()
    }
}
