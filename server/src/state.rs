//! What every request handler shares. Nothing here is replica-local state that a request could
//! depend on: the store, the object store and the configuration are the same on every replica.

use std::sync::Arc;

use crate::config::ServerConfig;
use crate::derivatives::Derivatives;
use crate::metrics::Metrics;
use crate::objects::ObjectStore;
use crate::placement::Placement;
use crate::shares::ShareKeys;
use crate::signed_urls::UrlSigner;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub objects: Arc<ObjectStore>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// Thumbnails and previews, made on demand and by the background queue.
    pub derivatives: Arc<Derivatives>,
    /// Moves images' objects where their visibility says.
    pub placement: Arc<Placement>,
    /// Signs the owner's links to images without a public one.
    pub signer: UrlSigner,
    /// Derives share-link tokens and cookies.
    pub share_keys: ShareKeys,
}

impl axum::extract::FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
