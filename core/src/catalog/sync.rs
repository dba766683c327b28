//! Syncing a catalog with the server (feature `client`): opening the catalog of the account a
//! client is logged in as, and fetching and applying change-feed pages.

use std::sync::Arc;

use super::{Applied, Catalog, CatalogError, location};
use crate::api::{ChangePage, Me};
use crate::client::{Client, ClientError};
use crate::paths::Dirs;

/// Change-feed entries asked for per request by [`Catalog::sync`].
pub const PAGE: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("the local catalog task stopped: {0}")]
    Task(String),
}

/// Asks the server who `client` is logged in as, opens (or rebuilds, when damaged) that user's
/// catalog and records them as the user last seen on the server.
pub async fn open_for(dirs: &Dirs, client: &Client) -> Result<(Arc<Catalog>, Me), SyncError> {
    let me = client.me().await?;
    let (dirs, server, user) = (
        dirs.clone(),
        client.server().to_string(),
        me.user_id.clone(),
    );
    let catalog = blocking(move || {
        let (catalog, _rebuilt) = Catalog::open_or_rebuild(&location::file(&dirs, &server, &user))?;
        location::remember_user(&dirs, &server, &user)?;
        Ok(catalog)
    })
    .await?;
    Ok((Arc::new(catalog), me))
}

impl Catalog {
    /// Fetches one page of the change feed after `since` and applies it (on a blocking
    /// thread); returns the page.
    pub async fn fetch(
        self: &Arc<Self>,
        client: &Client,
        since: i64,
        limit: u32,
    ) -> Result<ChangePage, SyncError> {
        let page = client.changes(since, Some(limit)).await?;
        let catalog = Arc::clone(self);
        let page = blocking(move || catalog.apply(&page).map(|_| page)).await?;
        Ok(page)
    }

    /// Fetches and applies pages from the catalog's own position until the feed has no more.
    pub async fn sync(self: &Arc<Self>, client: &Client) -> Result<Applied, SyncError> {
        let mut total = Applied::default();
        let mut since = self.since()?;
        loop {
            let page = self.fetch(client, since, PAGE).await?;
            for change in &page.changes {
                match change.image {
                    Some(_) => total.upserts += 1,
                    None => total.purges += 1,
                }
            }
            if !page.has_more || page.next_since <= since {
                return Ok(total);
            }
            since = page.next_since;
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CatalogError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SyncError::Task(e.to_string()))?
        .map_err(SyncError::from)
}
