//! PostgreSQL backend (production, "the managed DB"): migrations in `migrations/postgres`.
//!
//! Same semantics as the SQLite backend:
//! - `insert_image` is `INSERT … ON CONFLICT DO NOTHING`, and a conflict on (owner, SHA-256)
//!   returns the existing row, so racing completes get the same image;
//! - every write that records a change first takes a transaction-scoped advisory lock on the
//!   owner, so one owner's writes are serialised and the change feed's `seq` order is commit
//!   order (a reader polling `since` never skips a change committed late);
//! - filename search is a case-insensitive substring (`ILIKE` on the server-folded name, with
//!   `%`, `_` and `\` escaped, so they match themselves);
//! - upload sessions are deduplicated on (owner, idempotency key) with `ON CONFLICT`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use time::OffsetDateTime;

use imgcloud_core::api::{AccountSettings, DerivativeState, Visibility};

use super::{
    ChangeEntity, ChangeRecord, Claim, DerivativeJob, DerivativeUpdate, ImageRecord, JobStats,
    LOGIN_FAILURE_RETENTION, ListQuery, PageCursor, Store, StoreError, StoreResult, TokenRecord,
    UploadRecord, User, UserSummary, from_micros, is_token_id, now, token_id,
};

mod sharing;

/// Connections per server process. A replica's requests are short; PostgreSQL's default
/// `max_connections` (100) leaves room for several replicas plus admin sessions.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a free (or new) connection before failing as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// Image columns, for queries that name the table `i`.
const IMAGE_COLUMNS: &str = "i.id, i.owner_id, i.filename, i.key, i.size, i.sha256, i.content_type, \
     i.width, i.height, i.taken_at, i.created_at, i.updated_at, i.deleted_at, i.tags, \
     i.thumbhash, i.derivatives, i.derivatives_error, i.visibility, i.objects_public";

const UPLOAD_COLUMNS: &str = "u.id, u.owner_id, u.idempotency_key, u.image_id, u.key, u.filename, u.size, \
     u.sha256, u.content_type, u.width, u.height, u.taken_at, u.multipart_id, u.part_size, \
     u.parts_json, u.created_at, u.visibility";

fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(ref db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        // Class 08 (connection exception) and 57P01–57P03 (shutdown, crash recovery, "cannot
        // connect now"): the database is going away or not back yet.
        sqlx::Error::Database(ref db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")) =>
        {
            StoreError::Unavailable(db.message().to_string())
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

/// `search` as an `ILIKE` pattern matching it as a plain substring (escape character `\`).
fn contains_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn image_from_row(row: &PgRow) -> StoreResult<ImageRecord> {
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
        taken_at: row.try_get("taken_at").map_err(db_err)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        updated_at: row.try_get("updated_at").map_err(db_err)?,
        deleted_at: row.try_get("deleted_at").map_err(db_err)?,
        tags: row.try_get("tags").map_err(db_err)?,
        thumbhash: row.try_get("thumbhash").map_err(db_err)?,
        derivatives: DerivativeState::parse(row.try_get("derivatives").map_err(db_err)?),
        derivatives_error: row.try_get("derivatives_error").map_err(db_err)?,
        visibility: visibility_from_row(row)?,
        objects_public: row.try_get("objects_public").map_err(db_err)?,
    })
}

fn visibility_from_row(row: &PgRow) -> StoreResult<Visibility> {
    let name: String = row.try_get("visibility").map_err(db_err)?;
    Visibility::parse(&name)
        .ok_or_else(|| StoreError::Other(format!("unknown visibility {name:?} in the database")))
}

fn upload_from_row(row: &PgRow) -> StoreResult<UploadRecord> {
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
        taken_at: row.try_get("taken_at").map_err(db_err)?,
        multipart_id: row.try_get("multipart_id").map_err(db_err)?,
        part_size: row
            .try_get::<Option<i64>, _>("part_size")
            .map_err(db_err)?
            .map(to_u64),
        parts_json: row.try_get("parts_json").map_err(db_err)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        visibility: visibility_from_row(row)?,
    })
}

fn user_from_row(row: &PgRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id").map_err(db_err)?,
        username: row.try_get("username").map_err(db_err)?,
        disabled: row.try_get("disabled").map_err(db_err)?,
    })
}

/// Times go to the database at the precision it keeps, so what is returned equals what was
/// stored.
fn micros(t: OffsetDateTime) -> OffsetDateTime {
    from_micros(super::to_micros(t))
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

impl PostgresStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`, libpq-style parameters such as
    /// `sslmode` and `application_name` included) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // The URL may hold a password: never put it in an error.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// Connects with `options` and runs the migrations.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let name = format!(
            "PostgreSQL database {:?} on {}:{}",
            options.get_database().unwrap_or_default(),
            options.get_host(),
            options.get_port()
        );
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(1800)))
            // A connection broken by a database restart is found out before a request gets it.
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to {name}: {e}")))?;
        // sqlx holds an advisory lock while migrating, so replicas starting together are safe.
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrating {name}: {e}")))?;
        Ok(Self { pool })
    }

    /// The connection pool (tests and ops).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction holding the owner's write lock until it ends.
    async fn owner_tx(&self, owner: &str) -> StoreResult<Tx> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Ok(tx)
    }

    async fn record_change(
        conn: &mut sqlx::PgConnection,
        owner: &str,
        image_id: &str,
    ) -> StoreResult<()> {
        Self::record_entity_change(conn, owner, ChangeEntity::Image, image_id).await
    }

    /// Records that `owner`'s `entity` `id` changed (replacing its earlier change).
    async fn record_entity_change(
        conn: &mut sqlx::PgConnection,
        owner: &str,
        entity: ChangeEntity,
        id: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM changes WHERE owner_id = $1 AND entity = $2 AND image_id = $3")
            .bind(owner)
            .bind(entity.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO changes (owner_id, entity, image_id) VALUES ($1, $2, $3)")
            .bind(owner)
            .bind(entity.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
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
        let mut tx = self.owner_tx(owner).await?;
        let set = match update {
            Update::Rename(_) => "filename = $3, filename_folded = $4, updated_at = $5",
            Update::Tags(_) => "tags = $3, updated_at = $4",
            Update::Deleted(_) => "deleted_at = $3, updated_at = $4",
            Update::Visibility(_) => "visibility = $3, updated_at = $4",
        };
        let sql = format!(
            "UPDATE images AS i SET {set} WHERE i.owner_id = $1 AND i.id = $2 \
             RETURNING {IMAGE_COLUMNS}"
        );
        let query = sqlx::query(&sql).bind(owner).bind(id);
        let query = match update {
            Update::Rename(filename) => query.bind(filename).bind(filename.to_lowercase()),
            Update::Tags(tags) => query.bind(tags),
            Update::Deleted(deleted_at) => query.bind(deleted_at.map(micros)),
            Update::Visibility(visibility) => query.bind(visibility.as_str()),
        };
        let row = query
            .bind(now())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        let image = image_from_row(&row)?;
        Self::record_change(&mut tx, owner, id).await?;
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
impl Store for PostgresStore {
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
        sqlx::query(
            "INSERT INTO users (id, username, disabled, created_at) VALUES ($1, $2, false, $3)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(now())
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
        let row = sqlx::query("SELECT id, username, disabled FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    async fn add_token(&self, user_id: &str, token_hash: &str, name: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(name)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            // a missing user fails the foreign key
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => StoreError::NotFound,
            other => db_err(other),
        })?;
        Ok(())
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<User> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.disabled FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND NOT t.revoked AND NOT u.disabled",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
        let user = user_from_row(&row)?;
        // Record the use at minute granularity so hot tokens do not write on every request.
        let now = now();
        let result = sqlx::query(
            "UPDATE tokens SET last_used_at = $1 WHERE token_hash = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now - time::Duration::minutes(1))
        .execute(&self.pool)
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record token use");
        }
        Ok(user)
    }

    async fn revoke_tokens(&self, user_id: &str, name: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE tokens SET revoked = true WHERE user_id = $1 AND name = $2 AND NOT revoked \
             RETURNING token_hash",
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
        let touched = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
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
            "SELECT id, username, disabled, password_hash FROM users WHERE username = $1",
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let touched = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(disabled)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes =
            sqlx::query_scalar("SELECT token_hash FROM tokens WHERE user_id = $1 AND NOT revoked")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(hashes)
    }

    async fn account_settings(&self, user_id: &str) -> StoreResult<AccountSettings> {
        let row =
            sqlx::query("SELECT default_visibility, share_expiry_days FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .ok_or(StoreError::NotFound)?;
        let visibility: String = row.try_get("default_visibility").map_err(db_err)?;
        let days: i32 = row.try_get("share_expiry_days").map_err(db_err)?;
        Ok(AccountSettings {
            default_visibility: Visibility::parse(&visibility).unwrap_or_default(),
            share_expiry_days: u32::try_from(days).unwrap_or(0),
        })
    }

    async fn set_account_settings(
        &self,
        user_id: &str,
        settings: &AccountSettings,
    ) -> StoreResult<()> {
        let days = i32::try_from(settings.share_expiry_days)
            .map_err(|_| StoreError::Other("share_expiry_days out of range".into()))?;
        let touched = sqlx::query(
            "UPDATE users SET default_visibility = $2, share_expiry_days = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(settings.default_visibility.as_str())
        .bind(days)
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
             (SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND NOT t.revoked) AS tokens \
             FROM users u ORDER BY u.username COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(UserSummary {
                    user: user_from_row(row)?,
                    has_password: row.try_get("has_password").map_err(db_err)?,
                    created_at: row.try_get("created_at").map_err(db_err)?,
                    tokens: to_u32(row.try_get("tokens").map_err(db_err)?),
                })
            })
            .collect()
    }

    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT token_hash, name, created_at, last_used_at FROM tokens \
             WHERE user_id = $1 AND NOT revoked ORDER BY created_at, token_hash COLLATE \"C\"",
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
                    created_at: row.try_get("created_at").map_err(db_err)?,
                    last_used_at: row.try_get("last_used_at").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<String> {
        if !is_token_id(token_id) {
            return Err(StoreError::NotFound);
        }
        let hashes: Vec<String> = sqlx::query_scalar(
            "UPDATE tokens SET revoked = true \
             WHERE user_id = $1 AND substr(token_hash, 1, 16) = $2 AND NOT revoked \
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
            "UPDATE tokens SET revoked = true WHERE user_id = $1 AND NOT revoked \
             RETURNING token_hash",
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
        let at = micros(at);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(at - LOGIN_FAILURE_RETENTION)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
            .bind(key)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn login_failures_since(&self, key: &str, since: OffsetDateTime) -> StoreResult<u32> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE key = $1 AND at >= $2")
                .bind(key)
                .bind(micros(since))
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(to_u32(count))
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn forget_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM login_failures WHERE ctid IN \
             (SELECT ctid FROM login_failures WHERE key = $1 AND at = $2 LIMIT 1)",
        )
        .bind(key)
        .bind(micros(at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        let sql =
            format!("SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = $1 AND i.id = $2");
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        image_from_row(&row)
    }

    async fn images_by_sha256(
        &self,
        owner: &str,
        hashes: &[String],
    ) -> StoreResult<Vec<ImageRecord>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        // One array parameter, however many hashes.
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = $1 AND i.sha256 = ANY($2)"
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(hashes)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(image_from_row).collect()
    }

    async fn list_images(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> StoreResult<(Vec<ImageRecord>, Option<String>)> {
        let limit = query.limit.clamp(1, 1000);
        let mut builder = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
            "SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = "
        ));
        builder.push_bind(owner);
        builder.push(if query.trash {
            " AND i.deleted_at IS NOT NULL"
        } else {
            " AND i.deleted_at IS NULL"
        });
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            // The name is folded by the server (Unicode lower case) so the result does not
            // depend on the database's locale; ILIKE folds ASCII on top.
            builder
                .push(" AND i.filename_folded ILIKE ")
                .push_bind(contains_pattern(&search.to_lowercase()))
                .push(" ESCAPE '\\'");
        }
        if let Some(cursor) = query.cursor.as_deref() {
            let cursor = PageCursor::decode(cursor)?;
            builder
                .push(" AND (i.created_at, i.id) < (")
                .push_bind(from_micros(cursor.created_at_micros))
                .push(", ")
                .push_bind(cursor.id)
                .push(")");
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
        let mut tx = self.owner_tx(&image.owner_id).await?;
        let sql = format!(
            "INSERT INTO images AS i (id, owner_id, filename, filename_folded, key, size, sha256, \
             content_type, width, height, taken_at, created_at, updated_at, deleted_at, tags, \
             visibility, objects_public) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT DO NOTHING RETURNING {IMAGE_COLUMNS}"
        );
        let inserted = sqlx::query(&sql)
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
            .bind(image.taken_at.map(micros))
            .bind(micros(image.created_at))
            .bind(micros(image.updated_at))
            .bind(image.deleted_at.map(micros))
            .bind(&image.tags)
            .bind(image.visibility.as_str())
            .bind(image.objects_public)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = inserted else {
            // Read committed: this statement sees the row the conflicting insert committed.
            let sql = format!(
                "SELECT {IMAGE_COLUMNS} FROM images i WHERE i.owner_id = $1 AND i.sha256 = $2"
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
        };
        let stored = image_from_row(&row)?;
        Self::record_change(&mut tx, &image.owner_id, &image.id).await?;
        // Its derivatives' job, in the same transaction: an image never misses its job.
        sqlx::query(
            "INSERT INTO derivative_jobs (image_id, attempts, run_after, created_at) \
             VALUES ($1, 0, $2, $2)",
        )
        .bind(&image.id)
        .bind(micros(image.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
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
            sqlx::query("UPDATE images SET objects_public = $3 WHERE owner_id = $1 AND id = $2")
                .bind(owner)
                .bind(id)
                .bind(public)
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
            "UPDATE images SET placing_holder = $1, placing_until = $2 WHERE id = $3 \
             AND (placing_until IS NULL OR placing_until < $4 OR placing_holder = $1)",
        )
        .bind(holder)
        .bind(micros(until))
        .bind(id)
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        if claimed == 1 {
            return Ok(true);
        }
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM images WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        exists.map(|_| false).ok_or(StoreError::NotFound)
    }

    async fn release_placement(&self, id: &str, holder: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE images SET placing_holder = NULL, placing_until = NULL \
             WHERE id = $1 AND placing_holder = $2",
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
             WHERE i.objects_public <> (i.visibility = 'public' AND i.deleted_at IS NULL) LIMIT $1"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(image_from_row).collect()
    }

    async fn purge_image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        let mut tx = self.owner_tx(owner).await?;
        let sql = format!(
            "DELETE FROM images AS i WHERE i.owner_id = $1 AND i.id = $2 RETURNING {IMAGE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        let image = image_from_row(&row)?;
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
             WHERE c.owner_id = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3"
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Only the (owner, idempotency key) conflict returns the existing session; a taken id
        // is a unique violation (Conflict). Sessions without a key never conflict (NULLs are
        // distinct).
        let sql = format!(
            "INSERT INTO uploads AS u (id, owner_id, idempotency_key, image_id, key, filename, size, \
             sha256, content_type, width, height, taken_at, multipart_id, part_size, \
             parts_json, created_at, visibility) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (owner_id, idempotency_key) DO NOTHING RETURNING {UPLOAD_COLUMNS}"
        );
        let inserted = sqlx::query(&sql)
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
            .bind(upload.taken_at.map(micros))
            .bind(&upload.multipart_id)
            .bind(upload.part_size.map(to_i64).transpose()?)
            .bind(&upload.parts_json)
            .bind(micros(upload.created_at))
            .bind(upload.visibility.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let row = match inserted {
            Some(row) => row,
            None => {
                let sql = format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads u \
                     WHERE u.owner_id = $1 AND u.idempotency_key = $2"
                );
                sqlx::query(&sql)
                    .bind(&upload.owner_id)
                    .bind(&upload.idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    // the conflicting session was deleted in between: let the client retry
                    .ok_or_else(|| {
                        StoreError::Conflict("upload session changed concurrently".into())
                    })?
            }
        };
        tx.commit().await.map_err(db_err)?;
        upload_from_row(&row)
    }

    async fn upload(&self, owner: &str, id: &str) -> StoreResult<UploadRecord> {
        let sql =
            format!("SELECT {UPLOAD_COLUMNS} FROM uploads u WHERE u.owner_id = $1 AND u.id = $2");
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
        let result = sqlx::query("DELETE FROM uploads WHERE owner_id = $1 AND id = $2")
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
            "SELECT {UPLOAD_COLUMNS} FROM uploads u WHERE u.created_at < $1 \
             ORDER BY u.created_at LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(before)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn image_by_id(&self, id: &str) -> StoreResult<ImageRecord> {
        let sql = format!("SELECT {IMAGE_COLUMNS} FROM images i WHERE i.id = $1");
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
        let owner: String = sqlx::query_scalar("SELECT owner_id FROM images WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        let mut tx = self.owner_tx(&owner).await?;
        let sql = format!(
            "UPDATE images AS i SET derivatives = $2, derivatives_error = $3, \
             thumbhash = coalesce($4, i.thumbhash) WHERE i.id = $1 RETURNING {IMAGE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(update.state.as_str())
            .bind(&update.error)
            .bind(&update.thumbhash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        let image = image_from_row(&row)?;
        Self::record_change(&mut tx, &owner, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(image)
    }

    async fn claim_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        let claimed = sqlx::query(
            "INSERT INTO derivatives AS d (image_id, preset, holder, claimed_until) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (image_id, preset) DO UPDATE SET holder = excluded.holder, \
             claimed_until = excluded.claimed_until \
             WHERE d.made_at IS NULL AND d.claimed_until < $5",
        )
        .bind(image_id)
        .bind(preset)
        .bind(holder)
        .bind(micros(until))
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            // The image is gone (foreign key).
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => StoreError::NotFound,
            other => db_err(other),
        })?
        .rows_affected();
        if claimed == 1 {
            return Ok(Claim::Ours);
        }
        let made: Option<Option<OffsetDateTime>> = sqlx::query_scalar(
            "SELECT made_at FROM derivatives WHERE image_id = $1 AND preset = $2",
        )
        .bind(image_id)
        .bind(preset)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(match made {
            Some(Some(_)) => Claim::Made,
            _ => Claim::Busy,
        })
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
                "UPDATE derivatives SET made_at = $4, claimed_until = NULL \
                 WHERE image_id = $1 AND preset = $2 AND holder = $3",
            )
        } else {
            sqlx::query(
                "DELETE FROM derivatives \
                 WHERE image_id = $1 AND preset = $2 AND holder = $3 AND made_at IS NULL",
            )
        };
        let query = query.bind(image_id).bind(preset).bind(holder);
        let query = if made { query.bind(now()) } else { query };
        query.execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn forget_derivative(&self, image_id: &str, preset: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM derivatives WHERE image_id = $1 AND preset = $2 AND made_at IS NOT NULL",
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
        // SKIP LOCKED: replicas claiming at once each get a different job, none waits.
        let row = sqlx::query(
            "UPDATE derivative_jobs SET leased_until = $1, attempts = attempts + 1 \
             WHERE image_id = (SELECT image_id FROM derivative_jobs \
                 WHERE run_after <= $2 AND (leased_until IS NULL OR leased_until < $2) \
                 ORDER BY run_after, created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING image_id, attempts, created_at",
        )
        .bind(micros(lease_until))
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|row| {
            Ok(DerivativeJob {
                image_id: row.try_get("image_id").map_err(db_err)?,
                attempts: u32::try_from(row.try_get::<i32, _>("attempts").map_err(db_err)?)
                    .unwrap_or(0),
                created_at: row.try_get("created_at").map_err(db_err)?,
            })
        })
        .transpose()
    }

    async fn finish_job(&self, image_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM derivative_jobs WHERE image_id = $1")
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
            "UPDATE derivative_jobs SET run_after = $2, leased_until = NULL, last_error = $3 \
             WHERE image_id = $1",
        )
        .bind(image_id)
        .bind(micros(run_after))
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn standby_lag(&self) -> StoreResult<Option<crate::standby::Lag>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        crate::standby::lag(&mut conn)
            .await
            .map_err(|e| StoreError::Other(format!("reading the standby's lag: {e:#}")))
    }

    async fn job_stats(&self, now: OffsetDateTime) -> StoreResult<JobStats> {
        let row = sqlx::query(
            "SELECT count(*) AS depth, min(created_at) AS oldest, \
             count(last_error) AS failing FROM derivative_jobs",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let oldest: Option<OffsetDateTime> = row.try_get("oldest").map_err(db_err)?;
        Ok(JobStats {
            depth: to_u64(row.try_get("depth").map_err(db_err)?),
            oldest_age_secs: oldest.map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0)),
            failing: to_u64(row.try_get("failing").map_err(db_err)?),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
