//! The TUI's side of the local catalog ([`imgcloud_core::catalog`]): which file to open, the
//! first screen read from it before anything else, and syncing it from the change feed.
//!
//! The catalog of the user last seen on the server is opened at start, so the library shows at
//! once and offline. The first sync asks the server who is logged in; if that is another user,
//! their catalog is opened instead and the TUI is told to swap every image (one page of purges
//! and upserts).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use imgcloud_core::api::{Change, ChangePage, Image};
use imgcloud_core::catalog::{Catalog, Counts, Query, location, sync};
use imgcloud_core::client::Client;
use imgcloud_core::paths::Dirs;
use time::OffsetDateTime;

/// What the first frame shows from the catalog.
pub struct FirstScreen {
    /// The newest library images, as many as fit.
    pub images: Vec<Image>,
    pub counts: Counts,
    pub since: i64,
    pub synced_at: Option<OffsetDateTime>,
}

pub struct Local {
    dirs: Dirs,
    catalog: Mutex<Option<Arc<Catalog>>>,
    /// The server said who is logged in (once per run).
    checked: AtomicBool,
}

impl Local {
    /// Opens the catalog of the user last seen on `server`, if there is one. A catalog that
    /// cannot be used is reported (the TUI then loads from the server alone).
    pub fn open(dirs: &Dirs, server: &str) -> (Self, Option<String>) {
        let mut problem = None;
        let catalog = location::last_user(dirs, server).and_then(|user| {
            match Catalog::open_or_rebuild(&location::file(dirs, server, &user)) {
                Ok((catalog, rebuilt)) => {
                    if let Some(reason) = rebuilt {
                        problem = Some(format!(
                            "the local catalog was damaged ({reason}) and is rebuilt from the server"
                        ));
                    }
                    Some(Arc::new(catalog))
                }
                Err(e) => {
                    problem = Some(e.to_string());
                    None
                }
            }
        });
        let local = Self {
            dirs: dirs.clone(),
            catalog: Mutex::new(catalog),
            checked: AtomicBool::new(false),
        };
        (local, problem)
    }

    fn current(&self) -> Option<Arc<Catalog>> {
        self.catalog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The first `rows` library images by date, the counts and the feed position; None when
    /// there is no catalog yet.
    pub fn first_screen(&self, rows: usize) -> Result<Option<FirstScreen>, String> {
        let Some(catalog) = self.current() else {
            return Ok(None);
        };
        let read = || {
            Ok::<_, imgcloud_core::catalog::CatalogError>(FirstScreen {
                images: catalog.images(&Query {
                    limit: rows,
                    ..Query::default()
                })?,
                counts: catalog.counts()?,
                since: catalog.since()?,
                synced_at: catalog.synced_at()?,
            })
        };
        read().map(Some).map_err(|e| e.to_string())
    }

    /// Every image of the catalog, library and trash, newest first (read and sorted on a
    /// blocking thread; in that order the list's default sort walks memory in order).
    pub async fn all(&self) -> Result<Vec<Image>, String> {
        let Some(catalog) = self.current() else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || {
            catalog.all().map(|mut images| {
                images.sort_unstable_by_key(|image| {
                    std::cmp::Reverse(imgcloud_core::catalog::list_date(image))
                });
                images
            })
        })
        .await
        .map_err(|e| format!("reading the local catalog stopped: {e}"))?
        .map_err(|e| e.to_string())
    }

    /// One page of the change feed after `since`, applied to the catalog before it is
    /// returned. The first call of a run checks who is logged in and may switch catalogs.
    pub async fn changes(
        &self,
        client: &Client,
        since: i64,
        limit: u32,
    ) -> Result<ChangePage, String> {
        let mut since = since;
        if !self.checked.load(Ordering::Acquire) {
            let swap = self.check_account(client).await?;
            self.checked.store(true, Ordering::Release);
            if let Some(swap) = swap {
                if !swap.changes.is_empty() {
                    return Ok(swap);
                }
                since = swap.next_since;
            }
        }
        match self.current() {
            Some(catalog) => catalog
                .fetch(client, since, limit)
                .await
                .map_err(|e| e.to_string()),
            None => client
                .changes(since, Some(limit))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Keeps an image a request changed (trash, restore) in the catalog before the feed
    /// brings it; a failure only means the feed brings it later.
    pub fn put(&self, image: &Image) {
        if let Some(catalog) = self.current()
            && let Err(e) = catalog.put(image)
        {
            tracing::warn!("cannot update the local catalog: {e}");
        }
    }

    /// Asks the server who is logged in. When it is not the user whose catalog is open, opens
    /// theirs and returns the page that swaps the TUI's images over (purges of the old
    /// catalog's, upserts of the new one's, at the new position). None: nothing to swap.
    async fn check_account(&self, client: &Client) -> Result<Option<ChangePage>, String> {
        let (new, _me) = sync::open_for(&self.dirs, client)
            .await
            .map_err(|e| e.to_string())?;
        let old = self.current();
        if old.as_ref().is_some_and(|c| c.path() == new.path()) {
            return Ok(None);
        }
        let reader = Arc::clone(&new);
        let page = tokio::task::spawn_blocking(move || {
            let mut changes: Vec<Change> = match &old {
                Some(old) => old
                    .ids()?
                    .into_iter()
                    .map(|image_id| Change::image_purge(0, image_id))
                    .collect(),
                None => Vec::new(),
            };
            changes.extend(
                reader
                    .all()?
                    .into_iter()
                    .map(|image| Change::image_upsert(0, image)),
            );
            Ok::<_, imgcloud_core::catalog::CatalogError>(ChangePage {
                changes,
                next_since: reader.since()?,
                has_more: true,
            })
        })
        .await
        .map_err(|e| format!("reading the local catalog stopped: {e}"))?
        .map_err(|e| e.to_string())?;
        *self.catalog.lock().unwrap_or_else(|e| e.into_inner()) = Some(new);
        Ok(Some(page))
    }
}

#[cfg(test)]
mod tests {
    use imgcloud_core::api::ChangePage;

    use super::*;
    use crate::app::tests::image;

    const SERVER: &str = "https://img.example.com";

    fn dirs(dir: &tempfile::TempDir) -> Dirs {
        Dirs::resolve(|name| match name {
            "IMGCLOUD_CONFIG_DIR" => Some(dir.path().join("config")),
            "IMGCLOUD_DATA_DIR" => Some(dir.path().join("data")),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn without_a_known_user_there_is_no_catalog_to_show() {
        let dir = tempfile::tempdir().unwrap();
        let (local, problem) = Local::open(&dirs(&dir), SERVER);
        assert!(problem.is_none());
        assert!(local.first_screen(20).unwrap().is_none());
    }

    #[test]
    fn the_last_users_catalog_gives_the_first_screen_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = dirs(&dir);
        let catalog = Catalog::open(&location::file(&dirs, SERVER, "u1")).unwrap();
        let changes = (1..=30u8)
            .map(|day| {
                let image = image(
                    &format!("i{day:015}"),
                    &format!("d{day}.jpg"),
                    1,
                    day % 28 + 1,
                    &[],
                );
                Change::image_upsert(i64::from(day), image)
            })
            .collect();
        catalog
            .apply(&ChangePage {
                changes,
                next_since: 30,
                has_more: false,
            })
            .unwrap();
        drop(catalog);
        location::remember_user(&dirs, SERVER, "u1").unwrap();
        let (local, problem) = Local::open(&dirs, SERVER);
        assert!(problem.is_none());
        let first = local.first_screen(5).unwrap().unwrap();
        assert_eq!(first.images.len(), 5);
        assert_eq!(first.images[0].filename, "d27.jpg", "day 28 is the newest");
        assert_eq!(first.counts.library, 30);
        assert_eq!(first.since, 30);
        assert!(first.synced_at.is_some());
        // Another user on the same server has a catalog of their own.
        location::remember_user(&dirs, SERVER, "u2").unwrap();
        let (local, _) = Local::open(&dirs, SERVER);
        assert_eq!(local.first_screen(5).unwrap().unwrap().counts.library, 0);
    }

    #[test]
    fn a_damaged_catalog_is_rebuilt_and_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = dirs(&dir);
        let path = location::file(&dirs, SERVER, "u1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        location::remember_user(&dirs, SERVER, "u1").unwrap();
        let (local, problem) = Local::open(&dirs, SERVER);
        assert!(problem.unwrap().contains("damaged"));
        assert_eq!(local.first_screen(5).unwrap().unwrap().since, 0);
    }
}
