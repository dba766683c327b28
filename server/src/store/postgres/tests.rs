//! The PostgreSQL backend against a real server. These tests are `#[ignore]`d: they need
//! `IMGCLOUD_TEST_POSTGRES_URL`, a role allowed to create databases. `scripts/with-postgres.sh`
//! starts a private throw-away cluster and sets it, e.g.
//! `scripts/with-postgres.sh cargo test -p imgcloud-server --lib store::postgres -- --ignored`.
//! Every test gets a fresh database, dropped when the test ends.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::*;
use crate::store::conformance;

/// A uniquely named database, dropped (with its connections) on drop.
pub(crate) struct TestDb {
    admin_url: String,
    name: String,
}

fn admin_url() -> String {
    std::env::var("IMGCLOUD_TEST_POSTGRES_URL").expect(
        "IMGCLOUD_TEST_POSTGRES_URL must name a PostgreSQL role that may create databases \
         (scripts/with-postgres.sh starts one and sets it)",
    )
}

fn admin_options(url: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url).expect("IMGCLOUD_TEST_POSTGRES_URL is not a PostgreSQL URL")
}

impl TestDb {
    pub(crate) async fn create() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        // Only [a-z0-9_], so it needs no quoting rules beyond the double quotes.
        let name = format!(
            "imgcloud_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnection::connect_with(&admin_options(&admin_url))
            .await
            .expect("connecting to IMGCLOUD_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE (does the role have CREATEDB?)");
        conn.close().await.ok();
        Self { admin_url, name }
    }

    pub(crate) fn options(&self) -> PgConnectOptions {
        admin_options(&self.admin_url).database(&self.name)
    }

    /// The database's URL (the admin URL with this database's name).
    pub(crate) fn url(&self) -> String {
        let mut url = url::Url::parse(&self.admin_url).expect("admin URL");
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let options = admin_options(&self.admin_url);
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let outcome = std::thread::spawn(move || -> anyhow::Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async move {
                    let mut conn = PgConnection::connect_with(&options).await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await?;
                    Ok(())
                })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

async fn open() -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::create().await;
    let store = PostgresStore::connect_with(db.options()).await.unwrap();
    (db, Arc::new(store))
}

conformance::store_conformance_tests!(
    open(),
    #[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
);

#[tokio::test]
#[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
async fn opens_from_either_url_scheme_and_migrates_once() {
    let db = TestDb::create().await;
    let url = db.url();
    assert!(url.starts_with("postgres://") || url.starts_with("postgresql://"));
    let first = crate::store::open(&url).await.unwrap();
    let user = first.create_user("ann").await.unwrap();
    first
        .insert_image(&conformance::image(&user.id, "img1", "a.png", "a"))
        .await
        .unwrap();
    drop(first);
    // Reopening (the other scheme spelling) runs no migration twice and keeps the data.
    let other = match url.strip_prefix("postgres://") {
        Some(rest) => format!("postgresql://{rest}"),
        None => url.replacen("postgresql://", "postgres://", 1),
    };
    let reopened = crate::store::open(&other).await.unwrap();
    let user = reopened.user_by_name("ann").await.unwrap();
    assert_eq!(
        reopened.image(&user.id, "img1").await.unwrap().filename,
        "a.png"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
async fn racing_inserts_of_the_same_bytes_return_one_image() {
    let (_db, store) = open().await;
    let user = store.create_user("ann").await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let image = conformance::image(&user.id, &format!("img{i}"), "same.png", "same-bytes");
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
    assert_eq!(store.changes(&user.id, 0, 50).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
async fn racing_creates_with_one_idempotency_key_return_one_session() {
    let (_db, store) = open().await;
    let user = store.create_user("ann").await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let upload = UploadRecord {
                id: format!("up{i}"),
                owner_id: user.id.clone(),
                idempotency_key: Some("same-key".into()),
                image_id: format!("img{i}"),
                key: format!("i/img{i}/a.png"),
                filename: "a.png".into(),
                size: 10,
                sha256: "ab".repeat(32),
                content_type: "image/png".into(),
                width: 1,
                height: 1,
                taken_at: None,
                multipart_id: None,
                part_size: None,
                parts_json: "[]".into(),
                created_at: now(),
                visibility: Default::default(),
            };
            tokio::spawn(async move { store.create_upload(&upload).await.unwrap().id })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "every racer gets the same session: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
async fn concurrent_writers_keep_the_change_feed_in_commit_order() {
    let (_db, store) = open().await;
    let user = store.create_user("ann").await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            let image =
                conformance::image(&user.id, &format!("img{i:02}"), "x.png", &i.to_string());
            tokio::spawn(async move { store.insert_image(&image).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let feed = store.changes(&user.id, 0, 100).await.unwrap();
    assert_eq!(feed.len(), 32);
    assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[tokio::test]
#[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
async fn schema_has_the_constraints_and_indexes() {
    let (db, _store) = open().await;
    let mut conn = PgConnection::connect_with(&db.options()).await.unwrap();
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for wanted in [
        "images_owner_sha256",
        "images_owner_created",
        "uploads_owner_idempotency_key",
        "uploads_created",
        "changes_owner_seq",
        "changes_image",
        "tokens_user",
    ] {
        assert!(
            indexes.iter().any(|i| i == wanted),
            "{wanted} in {indexes:?}"
        );
    }
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_name = 'images' AND column_name IN ('created_at', 'size', 'tags')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut types = types;
    types.sort();
    assert_eq!(
        types,
        vec![
            ("created_at".into(), "timestamp with time zone".into()),
            ("size".into(), "bigint".into()),
            ("tags".into(), "ARRAY".into()),
        ]
    );
    conn.close().await.ok();
}

#[test]
fn search_patterns_escape_wildcards() {
    assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
    assert_eq!(contains_pattern("plain"), "%plain%");
}

#[tokio::test]
#[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
async fn recovers_when_the_database_drops_its_connections() {
    let db = TestDb::create().await;
    let store = PostgresStore::connect_with(db.options()).await.unwrap();
    let user = store.create_user("ann").await.unwrap();
    // What a database restart does to the pool: every server process of this database ends.
    let mut admin = PgConnection::connect_with(&admin_options(&db.admin_url))
        .await
        .unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&db.name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(killed >= 1, "the pool had a connection open");
    admin.close().await.ok();
    // Broken connections are found out before use and replaced: no error reaches the caller.
    store.ping().await.unwrap();
    assert_eq!(store.user_by_name("ann").await.unwrap().id, user.id);
}
