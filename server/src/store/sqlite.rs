//! SQLite backend (embedded mode): one file in WAL mode, migrations in `migrations/sqlite`.
//!
//! Write transactions start with `BEGIN IMMEDIATE` so concurrent writers wait on the busy
//! timeout instead of failing on a lock upgrade.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;

use imgcloud_core::api::{AccountSettings, DerivativeState, Visibility};

use super::{
    ChangeEntity, ChangeRecord, Claim, DerivativeJob, DerivativeUpdate, ImageRecord, JobStats,
    LOGIN_FAILURE_RETENTION, ListQuery, PageCursor, Store, StoreError, StoreResult, TokenRecord,
    UploadRecord, User, UserSummary, from_micros, is_token_id, now, to_micros, token_id,
};

mod sharing;

const LOGIN_FAILURE_RETENTION_MICROS: i64 = LOGIN_FAILURE_RETENTION.whole_microseconds() as i64;

/// The SQLite [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

const IMAGE_COLUMNS: &str = "i.id, i.owner_id, i.filename, i.key, i.size, i.sha256, i.content_type, \
     i.width, i.height, i.taken_at, i.created_at, i.updated_at, i.deleted_at, \
     i.thumbhash, i.derivatives, i.derivatives_error, i.visibility, i.objects_public, \
     (SELECT json_group_array(tag) FROM (SELECT tag FROM image_tags t WHERE t.image_id = i.id ORDER BY t.position)) AS tags";

const UPLOAD_COLUMNS: &str = "id, owner_id, idempotency_key, image_id, key, filename, size, sha256, content_type, \
     width, height, taken_at, multipart_id, part_size, parts_json, created_at, visibility";

fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        other => StoreError::Other(other.to_string()),
    }
}

fn to_i64(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Other(format!("value {v} out of range")))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn image_from_row(row: &SqliteRow) -> StoreResult<ImageRecord> {
    let tags: Option<String> = row.try_get("tags").map_err(db_err)?;
    let tags: Vec<String> = match tags {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Other(format!("tags column: {e}")))?,
        None => Vec::new(),
    };
    Ok(ImageRecord {
        id: row.try_get("id").map_err(db_err)?,
        owner_id: row.try_get("owner_id").map_err(db_err)?,
        filename: row.try_get("filename").map_err(db_err)?,
        key: row.try_get("key").map_err(db_err)?,
        size: to_u64(row.try_get("size").map_err(db_err)?),
        sha256: row.try_get("sha256").map_err(db_err)?,
        content_type: row.try_get("content_type").map_err(db_err)?,
        width: to_u32(row.try_get("width").map_err(db_err)?),
        height: to_u32(row.try_get("height").map_err(db_err)?),
        taken_at: row
            .try_get::<Option<i64>, _>("taken_at")
            .map_err(db_err)?
            .map(from_micros),
        created_at: from_micros(row.try_get("created_at").map_err(db_err)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_err)?),
        deleted_at: row
            .try_get::<Option<i64>, _>("deleted_at")
            .map_err(db_err)?
            .map(from_micros),
        tags,
        thumbhash: row.try_get("thumbhash").map_err(db_err)?,
        derivatives: DerivativeState::parse(row.try_get("derivatives").map_err(db_err)?),
        derivatives_error: row.try_get("derivatives_error").map_err(db_err)?,
        visibility: visibility_from_row(row)?,
        objects_public: row.try_get("objects_public").map_err(db_err)?,
    })
}

fn visibility_from_row(row: &SqliteRow) -> StoreResult<Visibility> {
    let name: String = row.try_get("visibility").map_err(db_err)?;
    Visibility::parse(&name)
        .ok_or_else(|| StoreError::Other(format!("unknown visibility {name:?} in the database")))
}

fn upload_from_row(row: &SqliteRow) -> StoreResult<UploadRecord> {
    Ok(UploadRecord {
        id: row.try_get("id").map_err(db_err)?,
        owner_id: row.try_get("owner_id").map_err(db_err)?,
        idempotency_key: row.try_get("idempotency_key").map_err(db_err)?,
        image_id: row.try_get("image_id").map_err(db_err)?,
        key: row.try_get("key").map_err(db_err)?,
        filename: row.try_get("filename").map_err(db_err)?,
        size: to_u64(row.try_get("size").map_err(db_err)?),
        sha256: row.try_get("sha256").map_err(db_err)?,
        content_type: row.try_get("content_type").map_err(db_err)?,
        width: to_u32(row.try_get("width").map_err(db_err)?),
        height: to_u32(row.try_get("height").map_err(db_err)?),
        taken_at: row
            .try_get::<Option<i64>, _>("taken_at")
            .map_err(db_err)?
            .map(from_micros),
        multipart_id: row.try_get("multipart_id").map_err(db_err)?,
        part_size: row
            .try_get::<Option<i64>, _>("part_size")
            .map_err(db_err)?
            .map(to_u64),
        parts_json: row.try_get("parts_json").map_err(db_err)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_err)?),
        visibility: visibility_from_row(row)?,
    })
}

fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id").map_err(db_err)?,
        username: row.try_get("username").map_err(db_err)?,
        disabled: row.try_get::<i64, _>("disabled").map_err(db_err)? != 0,
    })
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH`, `sqlite:PATH` or
    /// `sqlite::memory:`) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid database URL {url:?}: {e}")))?;
        Self::connect(options, url.contains(":memory:"), url).await
    }

    /// Opens (creating if needed) the database file at `path` and runs the migrations.
    pub async fn open_path(path: &std::path::Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::connect(options, false, &path.display().to_string()).await
    }

    async fn connect(
        options: SqliteConnectOptions,
        memory: bool,
        name: &str,
    ) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let options = if memory {
            options
        } else {
            // FULL: a commit is on disk before the client hears of it. With NORMAL a power
            // cut could lose an upload whose link was already handed out (the object would stay,
            // unlisted). In WAL mode it costs one small fsync of the log per commit.
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
        };
        // An in-memory database exists once per connection: keep exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {name}: {e}")))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrating {name}: {e}")))?;
        Ok(Self { pool })
    }

    /// A `BEGIN IMMEDIATE` transaction. It starts in a task of its own: sqlx (0.8) awaits
    /// once more after a custom `BEGIN` has run, and a caller cancelled at that point (a client
    /// that went away) would put the connection back in the pool inside the transaction,
    /// holding the write lock. A spawned start always finishes; if nobody waits for it any
    /// more, the transaction is dropped and rolled back like any other.
    async fn write_tx(&self) -> StoreResult<Tx> {
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await })
            .await
            .map_err(|e| StoreError::Other(format!("starting a write transaction: {e}")))?
            .map_err(db_err)
    }

    async fn image_in(
        conn: &mut sqlx::SqliteConnection,
        owner: &str,
        id: &str,
    ) -> StoreResult<ImageRecord> {
        let sql = format!("SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = ? AND i.id = ?");
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        image_from_row(&row)
    }

    async fn record_change(
        conn: &mut sqlx::SqliteConnection,
        owner: &str,
        image_id: &str,
    ) -> StoreResult<()> {
        Self::record_entity_change(conn, owner, ChangeEntity::Image, image_id).await
    }

    /// Records that `owner`'s `entity` `id` changed (replacing its earlier change).
    async fn record_entity_change(
        conn: &mut sqlx::SqliteConnection,
        owner: &str,
        entity: ChangeEntity,
        id: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM changes WHERE owner_id = ? AND entity = ? AND image_id = ?")
            .bind(owner)
            .bind(entity.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO changes (owner_id, entity, image_id) VALUES (?, ?, ?)")
            .bind(owner)
            .bind(entity.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn replace_tags(
        conn: &mut sqlx::SqliteConnection,
        image_id: &str,
        tags: &[String],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM image_tags WHERE image_id = ?")
            .bind(image_id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        for (position, tag) in tags.iter().enumerate() {
            sqlx::query("INSERT INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)")
                .bind(image_id)
                .bind(to_i64(position as u64)?)
                .bind(tag)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Applies `update` to the owner's image `id`, bumps `updated_at`, records a change and
    /// returns the new row.
    async fn update_image(
        &self,
        owner: &str,
        id: &str,
        update: Update<'_>,
    ) -> StoreResult<ImageRecord> {
        let mut tx = self.write_tx().await?;
        let updated_at = to_micros(now());
        let query = match update {
            Update::Rename(filename) => {
                sqlx::query("UPDATE images SET filename = ?, filename_folded = ?, updated_at = ? WHERE owner_id = ? AND id = ?")
                    .bind(filename)
                    .bind(filename.to_lowercase())
            }
            Update::Tags(_) => sqlx::query("UPDATE images SET updated_at = ? WHERE owner_id = ? AND id = ?"),
            Update::Deleted(deleted_at) => {
                sqlx::query("UPDATE images SET deleted_at = ?, updated_at = ? WHERE owner_id = ? AND id = ?")
                    .bind(deleted_at.map(to_micros))
            }
            Update::Visibility(visibility) => {
                sqlx::query("UPDATE images SET visibility = ?, updated_at = ? WHERE owner_id = ? AND id = ?")
                    .bind(visibility.as_str())
            }
        };
        let touched = query
            .bind(updated_at)
            .bind(owner)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        if let Update::Tags(tags) = update {
            Self::replace_tags(&mut tx, id, tags).await?;
        }
        Self::record_change(&mut tx, owner, id).await?;
        let image = Self::image_in(&mut tx, owner, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(image)
    }
}

#[derive(Clone, Copy)]
enum Update<'a> {
    Rename(&'a str),
    Tags(&'a [String]),
    Deleted(Option<OffsetDateTime>),
    Visibility(Visibility),
}

#[async_trait]
impl Store for SqliteStore {
    fn sharing(&self) -> &dyn super::Sharing {
        self
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(())
    }

    async fn create_user(&self, username: &str) -> StoreResult<User> {
        let user = User {
            id: crate::keys::new_user_id(),
            username: username.to_string(),
            disabled: false,
        };
        sqlx::query("INSERT INTO users (id, username, disabled, created_at) VALUES (?, ?, 0, ?)")
            .bind(&user.id)
            .bind(&user.username)
            .bind(to_micros(now()))
            .execute(&self.pool)
            .await
            .map_err(|e| match db_err(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("user {username:?} already exists"))
                }
                other => other,
            })?;
        Ok(user)
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<User> {
        let row = sqlx::query("SELECT id, username, disabled FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    async fn add_token(&self, user_id: &str, token_hash: &str, name: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, name, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(name)
        .bind(to_micros(now()))
        .execute(&self.pool)
        .await
        .map_err(|e| match db_err(e) {
            // a missing user fails the foreign key
            StoreError::Other(msg) if msg.contains("FOREIGN KEY") => StoreError::NotFound,
            other => other,
        })?;
        Ok(())
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<User> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.disabled FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = ? AND t.revoked = 0 AND u.disabled = 0",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
        let user = user_from_row(&row)?;
        // Record the use at minute granularity so hot tokens do not write on every request.
        let now = to_micros(now());
        let result = sqlx::query(
            "UPDATE tokens SET last_used_at = ? WHERE token_hash = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now - 60_000_000)
        .execute(&self.pool)
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record token use");
        }
        Ok(user)
    }

    async fn revoke_tokens(&self, user_id: &str, name: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE tokens SET revoked = 1 WHERE user_id = ? AND name = ? AND revoked = 0 RETURNING token_hash",
        )
        .bind(user_id)
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| row.try_get("token_hash").map_err(db_err))
            .collect()
    }

    async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> StoreResult<()> {
        let touched = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn login_record(&self, username: &str) -> StoreResult<(User, Option<String>)> {
        let row = sqlx::query(
            "SELECT id, username, disabled, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
        Ok((
            user_from_row(&row)?,
            row.try_get("password_hash").map_err(db_err)?,
        ))
    }

    async fn set_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<Vec<String>> {
        let mut tx = self.write_tx().await?;
        let touched = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(i64::from(disabled))
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes =
            sqlx::query_scalar("SELECT token_hash FROM tokens WHERE user_id = ? AND revoked = 0")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(hashes)
    }

    async fn account_settings(&self, user_id: &str) -> StoreResult<AccountSettings> {
        let row =
            sqlx::query("SELECT default_visibility, share_expiry_days FROM users WHERE id = ?")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .ok_or(StoreError::NotFound)?;
        let visibility: String = row.try_get("default_visibility").map_err(db_err)?;
        Ok(AccountSettings {
            default_visibility: Visibility::parse(&visibility).unwrap_or_default(),
            share_expiry_days: to_u32(row.try_get("share_expiry_days").map_err(db_err)?),
        })
    }

    async fn set_account_settings(
        &self,
        user_id: &str,
        settings: &AccountSettings,
    ) -> StoreResult<()> {
        let touched = sqlx::query(
            "UPDATE users SET default_visibility = ?, share_expiry_days = ? WHERE id = ?",
        )
        .bind(settings.default_visibility.as_str())
        .bind(i64::from(settings.share_expiry_days))
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_users(&self) -> StoreResult<Vec<UserSummary>> {
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.disabled, u.password_hash IS NOT NULL AS has_password, \
             u.created_at, \
             (SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND t.revoked = 0) AS tokens \
             FROM users u ORDER BY u.username",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(UserSummary {
                    user: user_from_row(row)?,
                    has_password: row.try_get::<i64, _>("has_password").map_err(db_err)? != 0,
                    created_at: from_micros(row.try_get("created_at").map_err(db_err)?),
                    tokens: to_u32(row.try_get("tokens").map_err(db_err)?),
                })
            })
            .collect()
    }

    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT token_hash, name, created_at, last_used_at FROM tokens \
             WHERE user_id = ? AND revoked = 0 ORDER BY created_at, token_hash",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let hash: String = row.try_get("token_hash").map_err(db_err)?;
                Ok(TokenRecord {
                    id: token_id(&hash),
                    name: row.try_get("name").map_err(db_err)?,
                    created_at: from_micros(row.try_get("created_at").map_err(db_err)?),
                    last_used_at: row
                        .try_get::<Option<i64>, _>("last_used_at")
                        .map_err(db_err)?
                        .map(from_micros),
                })
            })
            .collect()
    }

    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<String> {
        if !is_token_id(token_id) {
            return Err(StoreError::NotFound);
        }
        let hashes: Vec<String> = sqlx::query_scalar(
            "UPDATE tokens SET revoked = 1 \
             WHERE user_id = ? AND substr(token_hash, 1, 16) = ? AND revoked = 0 \
             RETURNING token_hash",
        )
        .bind(user_id)
        .bind(token_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        hashes.into_iter().next().ok_or(StoreError::NotFound)
    }

    async fn revoke_all_tokens(&self, user_id: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "UPDATE tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0 RETURNING token_hash",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn auth_epoch(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT value FROM auth_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn record_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()> {
        let at = to_micros(at);
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < ?")
            .bind(at.saturating_sub(LOGIN_FAILURE_RETENTION_MICROS))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO login_failures (key, at) VALUES (?, ?)")
            .bind(key)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn login_failures_since(&self, key: &str, since: OffsetDateTime) -> StoreResult<u32> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE key = ? AND at >= ?")
                .bind(key)
                .bind(to_micros(since))
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(to_u32(count))
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn forget_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM login_failures WHERE rowid IN \
             (SELECT rowid FROM login_failures WHERE key = ? AND at = ? LIMIT 1)",
        )
        .bind(key)
        .bind(to_micros(at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::image_in(&mut conn, owner, id).await
    }

    async fn images_by_sha256(
        &self,
        owner: &str,
        hashes: &[String],
    ) -> StoreResult<Vec<ImageRecord>> {
        let mut found = Vec::new();
        // Stay well below SQLite's bound-parameter limit.
        for chunk in hashes.chunks(500) {
            let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = "
            ));
            builder.push_bind(owner).push(" AND i.sha256 IN (");
            let mut separated = builder.separated(", ");
            for hash in chunk {
                separated.push_bind(hash);
            }
            builder.push(")");
            let rows = builder
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
            for row in &rows {
                found.push(image_from_row(row)?);
            }
        }
        Ok(found)
    }

    async fn list_images(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> StoreResult<(Vec<ImageRecord>, Option<String>)> {
        let limit = query.limit.clamp(1, 1000);
        let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = "
        ));
        builder.push_bind(owner);
        builder.push(if query.trash {
            " AND i.deleted_at IS NOT NULL"
        } else {
            " AND i.deleted_at IS NULL"
        });
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            // instr() on the folded name: a plain substring, so `%` and `_` match themselves.
            builder
                .push(" AND instr(i.filename_folded, ")
                .push_bind(search.to_lowercase())
                .push(") > 0");
        }
        if let Some(cursor) = query.cursor.as_deref() {
            let cursor = PageCursor::decode(cursor)?;
            builder
                .push(" AND (i.created_at < ")
                .push_bind(cursor.created_at_micros)
                .push(" OR (i.created_at = ")
                .push_bind(cursor.created_at_micros)
                .push(" AND i.id < ")
                .push_bind(cursor.id)
                .push("))");
        }
        builder
            .push(" ORDER BY i.created_at DESC, i.id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = builder
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut images = rows
            .iter()
            .map(image_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let next = if images.len() > limit as usize {
            images.truncate(limit as usize);
            images.last().map(|last| PageCursor::after(last).encode())
        } else {
            None
        };
        Ok((images, next))
    }

    async fn insert_image(&self, image: &ImageRecord) -> StoreResult<ImageRecord> {
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO images (id, owner_id, filename, filename_folded, key, size, sha256, content_type, width, height, \
             taken_at, created_at, updated_at, deleted_at, visibility, objects_public) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&image.id)
        .bind(&image.owner_id)
        .bind(&image.filename)
        .bind(image.filename.to_lowercase())
        .bind(&image.key)
        .bind(to_i64(image.size)?)
        .bind(&image.sha256)
        .bind(&image.content_type)
        .bind(i64::from(image.width))
        .bind(i64::from(image.height))
        .bind(image.taken_at.map(to_micros))
        .bind(to_micros(image.created_at))
        .bind(to_micros(image.updated_at))
        .bind(image.deleted_at.map(to_micros))
        .bind(image.visibility.as_str())
        .bind(image.objects_public)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if inserted == 0 {
            let sql = format!(
                "SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = ? AND i.sha256 = ?"
            );
            let row = sqlx::query(&sql)
                .bind(&image.owner_id)
                .bind(&image.sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| {
                    StoreError::Conflict(format!("image id {} or key is taken", image.id))
                })?;
            return image_from_row(&row);
        }
        Self::replace_tags(&mut tx, &image.id, &image.tags).await?;
        Self::record_change(&mut tx, &image.owner_id, &image.id).await?;
        // Its derivatives' job, in the same transaction: an image never misses its job.
        sqlx::query(
            "INSERT INTO derivative_jobs (image_id, attempts, run_after, created_at) VALUES (?, 0, ?, ?)",
        )
        .bind(&image.id)
        .bind(to_micros(image.created_at))
        .bind(to_micros(image.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let stored = Self::image_in(&mut tx, &image.owner_id, &image.id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn rename_image(
        &self,
        owner: &str,
        id: &str,
        filename: &str,
    ) -> StoreResult<ImageRecord> {
        self.update_image(owner, id, Update::Rename(filename)).await
    }

    async fn set_tags(&self, owner: &str, id: &str, tags: &[String]) -> StoreResult<ImageRecord> {
        self.update_image(owner, id, Update::Tags(tags)).await
    }

    async fn set_deleted(
        &self,
        owner: &str,
        id: &str,
        deleted_at: Option<OffsetDateTime>,
    ) -> StoreResult<ImageRecord> {
        self.update_image(owner, id, Update::Deleted(deleted_at))
            .await
    }

    async fn set_visibility(
        &self,
        owner: &str,
        id: &str,
        visibility: Visibility,
    ) -> StoreResult<ImageRecord> {
        self.update_image(owner, id, Update::Visibility(visibility))
            .await
    }

    async fn set_objects_public(&self, owner: &str, id: &str, public: bool) -> StoreResult<()> {
        let touched =
            sqlx::query("UPDATE images SET objects_public = ? WHERE owner_id = ? AND id = ?")
                .bind(public)
                .bind(owner)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn claim_placement(
        &self,
        id: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        let claimed = sqlx::query(
            "UPDATE images SET placing_holder = ?, placing_until = ? WHERE id = ? \
             AND (placing_until IS NULL OR placing_until < ? OR placing_holder = ?)",
        )
        .bind(holder)
        .bind(to_micros(until))
        .bind(id)
        .bind(to_micros(now))
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        if claimed == 1 {
            return Ok(true);
        }
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM images WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        exists.map(|_| false).ok_or(StoreError::NotFound)
    }

    async fn release_placement(&self, id: &str, holder: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE images SET placing_holder = NULL, placing_until = NULL \
             WHERE id = ? AND placing_holder = ?",
        )
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn misplaced_images(&self, limit: u32) -> StoreResult<Vec<ImageRecord>> {
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM images i \
             WHERE i.objects_public <> (i.visibility = 'public' AND i.deleted_at IS NULL) LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(image_from_row).collect()
    }

    async fn purge_image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        let mut tx = self.write_tx().await?;
        let image = Self::image_in(&mut tx, owner, id).await?;
        sqlx::query("DELETE FROM images WHERE owner_id = ? AND id = ?")
            .bind(owner)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::record_change(&mut tx, owner, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(image)
    }

    async fn changes(&self, owner: &str, since: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>> {
        let sql = format!(
            "SELECT c.seq AS seq, c.entity AS change_entity, c.image_id AS change_image_id, \
             i.id IS NOT NULL AS present, {IMAGE_COLUMNS} \
             FROM changes c LEFT JOIN images i ON i.id = c.image_id AND i.owner_id = c.owner_id \
             AND c.entity = 'image' \
             WHERE c.owner_id = ? AND c.seq > ? ORDER BY c.seq LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(since)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let present: bool = row.try_get("present").map_err(db_err)?;
                let entity: String = row.try_get("change_entity").map_err(db_err)?;
                Ok(ChangeRecord {
                    seq: row.try_get("seq").map_err(db_err)?,
                    entity: ChangeEntity::parse(&entity),
                    image_id: row.try_get("change_image_id").map_err(db_err)?,
                    image: if present {
                        Some(image_from_row(row)?)
                    } else {
                        None
                    },
                })
            })
            .collect()
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<UploadRecord> {
        let mut tx = self.write_tx().await?;
        if let Some(key) = &upload.idempotency_key {
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE owner_id = ? AND idempotency_key = ?"
            );
            let existing = sqlx::query(&sql)
                .bind(&upload.owner_id)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if let Some(row) = existing {
                return upload_from_row(&row);
            }
        }
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, idempotency_key, image_id, key, filename, size, sha256, content_type, \
             width, height, taken_at, multipart_id, part_size, parts_json, created_at, visibility) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&upload.id)
        .bind(&upload.owner_id)
        .bind(&upload.idempotency_key)
        .bind(&upload.image_id)
        .bind(&upload.key)
        .bind(&upload.filename)
        .bind(to_i64(upload.size)?)
        .bind(&upload.sha256)
        .bind(&upload.content_type)
        .bind(i64::from(upload.width))
        .bind(i64::from(upload.height))
        .bind(upload.taken_at.map(to_micros))
        .bind(&upload.multipart_id)
        .bind(upload.part_size.map(to_i64).transpose()?)
        .bind(&upload.parts_json)
        .bind(to_micros(upload.created_at))
        .bind(upload.visibility.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(upload.clone())
    }

    async fn upload(&self, owner: &str, id: &str) -> StoreResult<UploadRecord> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE owner_id = ? AND id = ?");
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        upload_from_row(&row)
    }

    async fn delete_upload(&self, owner: &str, id: &str) -> StoreResult<()> {
        let result = sqlx::query("DELETE FROM uploads WHERE owner_id = ? AND id = ?")
            .bind(owner)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn object_image_ids(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM images UNION SELECT image_id FROM uploads")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn stale_uploads(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<UploadRecord>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE created_at < ? ORDER BY created_at LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(to_micros(before))
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn image_by_id(&self, id: &str) -> StoreResult<ImageRecord> {
        let sql = format!("SELECT {IMAGE_COLUMNS} FROM images i WHERE i.id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        image_from_row(&row)
    }

    async fn set_derivatives(
        &self,
        id: &str,
        update: &DerivativeUpdate,
    ) -> StoreResult<ImageRecord> {
        let mut tx = self.write_tx().await?;
        let owner: String = sqlx::query_scalar(
            "UPDATE images SET derivatives = ?, derivatives_error = ?, \
             thumbhash = coalesce(?, thumbhash) WHERE id = ? RETURNING owner_id",
        )
        .bind(update.state.as_str())
        .bind(&update.error)
        .bind(&update.thumbhash)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
        Self::record_change(&mut tx, &owner, id).await?;
        let stored = Self::image_in(&mut tx, &owner, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn claim_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        let mut tx = self.write_tx().await?;
        let claimed = sqlx::query(
            "INSERT INTO derivatives (image_id, preset, holder, claimed_until) VALUES (?, ?, ?, ?) \
             ON CONFLICT (image_id, preset) DO UPDATE SET holder = excluded.holder, \
             claimed_until = excluded.claimed_until \
             WHERE derivatives.made_at IS NULL AND derivatives.claimed_until < ?",
        )
        .bind(image_id)
        .bind(preset)
        .bind(holder)
        .bind(to_micros(until))
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            // The image is gone (foreign key).
            StoreError::Other(m) if m.contains("FOREIGN KEY") => StoreError::NotFound,
            other => other,
        })?
        .rows_affected();
        let claim = if claimed == 1 {
            Claim::Ours
        } else {
            let made: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT made_at FROM derivatives WHERE image_id = ? AND preset = ?",
            )
            .bind(image_id)
            .bind(preset)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            match made {
                Some(Some(_)) => Claim::Made,
                _ => Claim::Busy,
            }
        };
        tx.commit().await.map_err(db_err)?;
        Ok(claim)
    }

    async fn finish_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        made: bool,
    ) -> StoreResult<()> {
        let query = if made {
            sqlx::query(
                "UPDATE derivatives SET made_at = ?, claimed_until = NULL \
                 WHERE image_id = ? AND preset = ? AND holder = ?",
            )
            .bind(to_micros(now()))
        } else {
            sqlx::query(
                "DELETE FROM derivatives \
                 WHERE image_id = ? AND preset = ? AND holder = ? AND made_at IS NULL",
            )
        };
        query
            .bind(image_id)
            .bind(preset)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn forget_derivative(&self, image_id: &str, preset: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM derivatives WHERE image_id = ? AND preset = ? AND made_at IS NOT NULL",
        )
        .bind(image_id)
        .bind(preset)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Option<DerivativeJob>> {
        // One writer at a time (BEGIN IMMEDIATE): the select-then-update cannot race.
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE derivative_jobs SET leased_until = ?, attempts = attempts + 1 \
             WHERE image_id = (SELECT image_id FROM derivative_jobs \
                 WHERE run_after <= ? AND (leased_until IS NULL OR leased_until < ?) \
                 ORDER BY run_after, created_at LIMIT 1) \
             RETURNING image_id, attempts, created_at",
        )
        .bind(to_micros(lease_until))
        .bind(to_micros(now))
        .bind(to_micros(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(|row| {
            Ok(DerivativeJob {
                image_id: row.try_get("image_id").map_err(db_err)?,
                attempts: to_u32(row.try_get("attempts").map_err(db_err)?),
                created_at: from_micros(row.try_get("created_at").map_err(db_err)?),
            })
        })
        .transpose()
    }

    async fn finish_job(&self, image_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM derivative_jobs WHERE image_id = ?")
            .bind(image_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn retry_job(
        &self,
        image_id: &str,
        run_after: OffsetDateTime,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE derivative_jobs SET run_after = ?, leased_until = NULL, last_error = ? \
             WHERE image_id = ?",
        )
        .bind(to_micros(run_after))
        .bind(error)
        .bind(image_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn job_stats(&self, now: OffsetDateTime) -> StoreResult<JobStats> {
        let row = sqlx::query(
            "SELECT count(*) AS depth, min(created_at) AS oldest, \
             count(last_error) AS failing FROM derivative_jobs",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let oldest: Option<i64> = row.try_get("oldest").map_err(db_err)?;
        Ok(JobStats {
            depth: to_u64(row.try_get("depth").map_err(db_err)?),
            oldest_age_secs: oldest.map_or(0.0, |micros| {
                ((to_micros(now) - micros).max(0) as f64) / 1e6
            }),
            failing: to_u64(row.try_get("failing").map_err(db_err)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::conformance;

    async fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_path(&dir.path().join("test.db"))
            .await
            .unwrap();
        (dir, Arc::new(store))
    }

    conformance::store_conformance_tests!(open());

    /// A request dropped while its write transaction starts (the client went away) must not
    /// leave a pooled connection inside `BEGIN IMMEDIATE`: that connection would hold the
    /// write lock, so every other writer waits out the busy timeout ("database is locked").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_write_transactions_leave_no_connection_holding_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_path(&dir.path().join("cancel.db"))
            .await
            .unwrap();
        // Cancel at every await point of starting a transaction: polled a few times, with
        // the connection's worker thread given 0–400 µs between polls.
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(store.pool.acquire().await.unwrap());
        }
        drop(held);
        for attempt in 0..600u64 {
            let mut begin = Box::pin(store.write_tx());
            for _ in 0..1 + attempt % 4 {
                if futures::poll!(begin.as_mut()).is_ready() {
                    break;
                }
                std::thread::sleep(Duration::from_micros(attempt % 200 * 2));
            }
            drop(begin);
        }
        // Every connection of the pool, taken at once, is outside any transaction.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut held = Vec::new();
        for _ in 0..8 {
            let conn = tokio::time::timeout(Duration::from_secs(5), store.pool.acquire())
                .await
                .expect("a connection within 5 s (one left inside BEGIN IMMEDIATE makes the others wait out the busy timeout)")
                .unwrap();
            held.push(conn);
        }
        for conn in &held {
            assert!(
                !sqlx::Connection::is_in_transaction(&**conn),
                "a pooled connection is inside a transaction"
            );
        }
        drop(held);
        // And a write goes through at once instead of after the 10 s busy timeout.
        let user = tokio::time::timeout(Duration::from_secs(3), store.create_user("ann"))
            .await
            .expect("a write within 3 s")
            .unwrap();
        assert_eq!(user.username, "ann");
    }

    #[tokio::test]
    async fn uses_wal_and_persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("persist.db");
        {
            let store = SqliteStore::open_path(&path).await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(mode.to_lowercase(), "wal");
            // every commit synced before it is answered (2 = FULL)
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(synchronous, 2);
            let user = store.create_user("ann").await.unwrap();
            store
                .insert_image(&conformance::image(&user.id, "img1", "a.png", "a"))
                .await
                .unwrap();
            store.pool.close().await;
        }
        let url = format!("sqlite://{}", path.display());
        let reopened = SqliteStore::open(&url).await.unwrap();
        let user = reopened.user_by_name("ann").await.unwrap();
        assert_eq!(
            reopened.image(&user.id, "img1").await.unwrap().filename,
            "a.png"
        );
    }

    #[tokio::test]
    async fn racing_inserts_of_the_same_bytes_return_one_image() {
        let (_dir, store) = open().await;
        let user = store.create_user("ann").await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let image =
                    conformance::image(&user.id, &format!("img{i}"), "same.png", "same-bytes");
                tokio::spawn(async move { store.insert_image(&image).await.unwrap().id })
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap());
        }
        assert_eq!(ids.len(), 1, "every racer gets the same image: {ids:?}");
        let (all, _) = store
            .list_images(
                &user.id,
                &ListQuery {
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn memory_databases_work() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        store.create_user("ann").await.unwrap();
        assert_eq!(store.user_by_name("ann").await.unwrap().username, "ann");
    }
}
