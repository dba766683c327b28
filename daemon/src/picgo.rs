//! The PicGo-compatible endpoint (`POST /upload` on 127.0.0.1:36677), so Typora, Obsidian and
//! other PicGo clients upload through imgcloud unchanged.
//!
//! CONTRACT STUB — implemented by the IPC helper.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::control::Control;

/// Serves the endpoint on `listen` (loopback only) until `shutdown` resolves. Clipboard images
/// are saved under `clipboard_dir` before they are uploaded.
pub async fn serve(
    listen: SocketAddr,
    control: Arc<dyn Control>,
    clipboard_dir: PathBuf,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = (listen, control, clipboard_dir, shutdown);
    unimplemented!()
}
