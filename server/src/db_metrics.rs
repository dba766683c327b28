//! A counting decorator around the database backend: every [`Store`] call that reaches the
//! database is counted by method (`imgcloud_db_queries_total{op="…"}` at `/metrics`). It sits
//! *inside* the cache decorator, so cache hits are not counted: the ratio of database queries
//! to requests shows what the cache saves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use imgcloud_core::api::{AccountSettings, Visibility};
use time::OffsetDateTime;

use crate::store::{
    ChangeRecord, Claim, DerivativeJob, DerivativeUpdate, ImageRecord, JobStats, ListQuery, Store,
    StoreResult, TokenRecord, UploadRecord, User, UserSummary,
};

/// The [`Store`] methods, as `op` label values.
pub const OPS: &[&str] = &[
    "ping",
    "create_user",
    "user_by_name",
    "add_token",
    "user_by_token_hash",
    "revoke_tokens",
    "set_password_hash",
    "login_record",
    "set_disabled",
    "account_settings",
    "set_account_settings",
    "list_users",
    "list_tokens",
    "revoke_token",
    "revoke_all_tokens",
    "auth_epoch",
    "record_login_failure",
    "login_failures_since",
    "clear_login_failures",
    "forget_login_failure",
    "image",
    "images_by_sha256",
    "list_images",
    "insert_image",
    "rename_image",
    "set_tags",
    "set_deleted",
    "set_visibility",
    "set_objects_public",
    "claim_placement",
    "release_placement",
    "misplaced_images",
    "purge_image",
    "changes",
    "create_upload",
    "upload",
    "delete_upload",
    "stale_uploads",
    "image_by_id",
    "set_derivatives",
    "claim_derivative",
    "finish_derivative",
    "forget_derivative",
    "claim_job",
    "finish_job",
    "retry_job",
    "job_stats",
];

/// Calls per [`OPS`] entry.
#[derive(Debug)]
pub struct DbStats {
    counts: Vec<AtomicU64>,
}

impl Default for DbStats {
    fn default() -> Self {
        Self {
            counts: OPS.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl DbStats {
    fn add(&self, op: &'static str) {
        let i = OPS.iter().position(|o| *o == op);
        debug_assert!(i.is_some(), "{op} is missing from db_metrics::OPS");
        if let Some(i) = i {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(op, count)` for every method, in [`OPS`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        OPS.iter()
            .zip(&self.counts)
            .map(|(op, n)| (*op, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Calls of `op` so far.
    pub fn get(&self, op: &str) -> u64 {
        OPS.iter()
            .position(|o| *o == op)
            .map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }

    /// Every call so far.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }
}

/// The decorator.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    stats: Arc<DbStats>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> Arc<DbStats> {
        self.stats.clone()
    }
}

macro_rules! count {
    ($self:ident, $op:ident ( $($arg:expr),* )) => {{
        $self.stats.add(stringify!($op));
        $self.inner.$op($($arg),*).await
    }};
}

#[async_trait]
impl Store for CountingStore {
    fn sharing(&self) -> &dyn crate::store::Sharing {
        self.inner.sharing()
    }

    async fn ping(&self) -> StoreResult<()> {
        count!(self, ping())
    }
    async fn create_user(&self, username: &str) -> StoreResult<User> {
        count!(self, create_user(username))
    }
    async fn user_by_name(&self, username: &str) -> StoreResult<User> {
        count!(self, user_by_name(username))
    }
    async fn add_token(&self, user_id: &str, token_hash: &str, name: &str) -> StoreResult<()> {
        count!(self, add_token(user_id, token_hash, name))
    }
    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<User> {
        count!(self, user_by_token_hash(token_hash))
    }
    async fn revoke_tokens(&self, user_id: &str, name: &str) -> StoreResult<Vec<String>> {
        count!(self, revoke_tokens(user_id, name))
    }
    async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> StoreResult<()> {
        count!(self, set_password_hash(user_id, hash))
    }
    async fn login_record(&self, username: &str) -> StoreResult<(User, Option<String>)> {
        count!(self, login_record(username))
    }
    async fn set_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<Vec<String>> {
        count!(self, set_disabled(user_id, disabled))
    }
    async fn account_settings(&self, user_id: &str) -> StoreResult<AccountSettings> {
        count!(self, account_settings(user_id))
    }
    async fn set_account_settings(
        &self,
        user_id: &str,
        settings: &AccountSettings,
    ) -> StoreResult<()> {
        count!(self, set_account_settings(user_id, settings))
    }
    async fn list_users(&self) -> StoreResult<Vec<UserSummary>> {
        count!(self, list_users())
    }
    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<TokenRecord>> {
        count!(self, list_tokens(user_id))
    }
    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<String> {
        count!(self, revoke_token(user_id, token_id))
    }
    async fn revoke_all_tokens(&self, user_id: &str) -> StoreResult<Vec<String>> {
        count!(self, revoke_all_tokens(user_id))
    }
    async fn auth_epoch(&self) -> StoreResult<i64> {
        count!(self, auth_epoch())
    }
    async fn record_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()> {
        count!(self, record_login_failure(key, at))
    }
    async fn login_failures_since(&self, key: &str, since: OffsetDateTime) -> StoreResult<u32> {
        count!(self, login_failures_since(key, since))
    }
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        count!(self, clear_login_failures(key))
    }
    async fn forget_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()> {
        count!(self, forget_login_failure(key, at))
    }
    async fn image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        count!(self, image(owner, id))
    }
    async fn images_by_sha256(
        &self,
        owner: &str,
        hashes: &[String],
    ) -> StoreResult<Vec<ImageRecord>> {
        count!(self, images_by_sha256(owner, hashes))
    }
    async fn list_images(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> StoreResult<(Vec<ImageRecord>, Option<String>)> {
        count!(self, list_images(owner, query))
    }
    async fn insert_image(&self, image: &ImageRecord) -> StoreResult<ImageRecord> {
        count!(self, insert_image(image))
    }
    async fn rename_image(
        &self,
        owner: &str,
        id: &str,
        filename: &str,
    ) -> StoreResult<ImageRecord> {
        count!(self, rename_image(owner, id, filename))
    }
    async fn set_tags(&self, owner: &str, id: &str, tags: &[String]) -> StoreResult<ImageRecord> {
        count!(self, set_tags(owner, id, tags))
    }
    async fn set_deleted(
        &self,
        owner: &str,
        id: &str,
        deleted_at: Option<OffsetDateTime>,
    ) -> StoreResult<ImageRecord> {
        count!(self, set_deleted(owner, id, deleted_at))
    }
    async fn set_visibility(
        &self,
        owner: &str,
        id: &str,
        visibility: Visibility,
    ) -> StoreResult<ImageRecord> {
        count!(self, set_visibility(owner, id, visibility))
    }
    async fn set_objects_public(&self, owner: &str, id: &str, public: bool) -> StoreResult<()> {
        count!(self, set_objects_public(owner, id, public))
    }
    async fn claim_placement(
        &self,
        id: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        count!(self, claim_placement(id, holder, now, until))
    }
    async fn release_placement(&self, id: &str, holder: &str) -> StoreResult<()> {
        count!(self, release_placement(id, holder))
    }
    async fn misplaced_images(&self, limit: u32) -> StoreResult<Vec<ImageRecord>> {
        count!(self, misplaced_images(limit))
    }
    async fn purge_image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        count!(self, purge_image(owner, id))
    }
    async fn changes(&self, owner: &str, since: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>> {
        count!(self, changes(owner, since, limit))
    }
    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<UploadRecord> {
        count!(self, create_upload(upload))
    }
    async fn upload(&self, owner: &str, id: &str) -> StoreResult<UploadRecord> {
        count!(self, upload(owner, id))
    }
    async fn delete_upload(&self, owner: &str, id: &str) -> StoreResult<()> {
        count!(self, delete_upload(owner, id))
    }
    async fn stale_uploads(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<UploadRecord>> {
        count!(self, stale_uploads(before, limit))
    }

    async fn image_by_id(&self, id: &str) -> StoreResult<ImageRecord> {
        count!(self, image_by_id(id))
    }

    async fn set_derivatives(
        &self,
        id: &str,
        update: &DerivativeUpdate,
    ) -> StoreResult<ImageRecord> {
        count!(self, set_derivatives(id, update))
    }

    async fn claim_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        count!(self, claim_derivative(image_id, preset, holder, now, until))
    }

    async fn finish_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        made: bool,
    ) -> StoreResult<()> {
        count!(self, finish_derivative(image_id, preset, holder, made))
    }

    async fn forget_derivative(&self, image_id: &str, preset: &str) -> StoreResult<()> {
        count!(self, forget_derivative(image_id, preset))
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Option<DerivativeJob>> {
        count!(self, claim_job(now, lease_until))
    }

    async fn finish_job(&self, image_id: &str) -> StoreResult<()> {
        count!(self, finish_job(image_id))
    }

    async fn retry_job(
        &self,
        image_id: &str,
        run_after: OffsetDateTime,
        error: &str,
    ) -> StoreResult<()> {
        count!(self, retry_job(image_id, run_after, error))
    }

    async fn job_stats(&self, now: OffsetDateTime) -> StoreResult<JobStats> {
        count!(self, job_stats(now))
    }

    async fn standby_lag(&self) -> StoreResult<Option<crate::standby::Lag>> {
        self.inner.standby_lag().await
    }

    async fn object_image_ids(&self) -> StoreResult<Vec<String>> {
        self.inner.object_image_ids().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn every_call_is_counted_by_method() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = CountingStore::new(Arc::new(SqliteStore::open(&url).await.unwrap()));
        let stats = store.stats();
        let user = store.create_user("ann").await.unwrap();
        store.add_token(&user.id, "h", "laptop").await.unwrap();
        store.user_by_token_hash("h").await.unwrap();
        store.user_by_token_hash("h").await.unwrap();
        let _ = store.image(&user.id, "missing").await;
        assert_eq!(stats.get("user_by_token_hash"), 2);
        assert_eq!(stats.get("image"), 1, "failed calls count too");
        assert_eq!(stats.get("list_images"), 0);
        assert_eq!(stats.total(), 5);
        assert_eq!(stats.snapshot().len(), OPS.len());
    }
}
