//! The local IPC server: HTTP/JSON on a Unix socket (mode 0600) in the runtime directory.
//! Routes: `imgcloud_core::daemon_api`.
//!
//! CONTRACT STUB — implemented by the IPC helper.

use std::path::Path;
use std::sync::Arc;

use crate::control::Control;

/// Binds the socket (replacing a stale one, refusing when another daemon answers on it) and
/// serves until `shutdown` resolves; removes the socket file on the way out.
pub async fn serve(
    socket: &Path,
    control: Arc<dyn Control>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = (socket, control, shutdown);
    unimplemented!()
}
