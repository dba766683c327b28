//! imgcloud desktop app: a Tauri 2 shell whose commands are thin adapters over `imgcloud-core`.
//!
//! Commands, grouped by feature:
//! - [`library`]: `list_images(cursor, query)`, `server_info()`.
//!
//! Every command fails with [`error::CommandError`] (`{code, message}`), never a bare string.

pub mod error;
pub mod library;

#[cfg(test)]
mod wire_fixture;

use imgcloud_core::paths::Dirs;
use tauri::{Builder, Runtime};

pub use error::{CommandError, ErrorCode};
pub use library::Library;

/// Registers the app's state and commands on `builder` (the real one in [`run`], Tauri's mock
/// builder in tests).
pub fn app<R: Runtime>(builder: Builder<R>, library: Library) -> Builder<R> {
    builder
        .manage(library)
        .invoke_handler(tauri::generate_handler![
            library::list_images,
            library::server_info
        ])
}

/// Starts the desktop app; returns when the last window is closed.
pub fn run() {
    init_tracing();
    let dirs = match Dirs::from_env() {
        Ok(dirs) => dirs,
        Err(e) => {
            eprintln!("imgcloud-desktop: {e}");
            std::process::exit(2);
        }
    };
    tracing::info!(config = %dirs.config_file().display(), "starting imgcloud desktop");
    if let Err(e) = app(Builder::default(), Library::new(dirs)).run(tauri::generate_context!()) {
        eprintln!("imgcloud-desktop: cannot start the app: {e}");
        std::process::exit(1);
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: this crate and imgcloud-core at `info`).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,imgcloud_desktop=info,imgcloud_core=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, never in files or CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
