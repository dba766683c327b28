//! What every request handler shares. Nothing here is replica-local state that a request could
//! depend on: the store, the object store and the configuration are the same on every replica.

use std::sync::Arc;

use crate::config::ServerConfig;
use crate::derivatives::Derivatives;
use crate::metrics::Metrics;
use crate::objects::ObjectStore;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub objects: Arc<ObjectStore>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// Thumbnails and previews, made on demand and by the background queue.
    pub derivatives: Arc<Derivatives>,
}

impl axum::extract::FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
