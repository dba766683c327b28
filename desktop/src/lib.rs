//! imgcloud desktop app: a Tauri 2 shell whose commands are thin adapters over `imgcloud-core`.
//!
//! Commands, grouped by feature:
//! - [`library`] (the gallery's data source): `list_images(cursor, query, trash)`, `server_info`;
//! - [`images`]: `get_image`, `rename_image`, `set_tags`, `trash_images`, `restore_images`,
//!   `image_links`, `format_image_link`;
//! - [`photo`]: `photo_info(url)` (camera and date taken from the original's first bytes);
//! - [`upload`]: `upload_files(batch, paths)`, `upload_bytes` (raw body),
//!   `upload_clipboard_image`, with per-file `upload-progress` events;
//! - [`sync`]: `sync_status`, `sync_queue`, `sync_pause`, `sync_resume`, `watch_add`,
//!   `watch_remove`, `sync_subscribe` (the daemon's events as `sync-event`);
//! - [`settings`]: `settings_get`, `settings_connect`, `settings_use_embedded`,
//!   `settings_set_link_format`;
//! - [`clipboard`]: `copy_text` (the link on the system clipboard);
//! - [`opener`]: `open_url` (an image's link in the default browser);
//! - [`folder_picker`]: `pick_folder` (the native dialog, for watched folders);
//! - [`notifications`]: `notify` (a native notification through `notify-send`).
//!
//! [`tray`] adds the tray menu and [`shortcut`] the global "upload clipboard image" shortcut
//! in [`run`]. [`connection`] holds what they share: the settings' sources and the API client.
//!
//! Every command fails with [`error::CommandError`] (`{code, message}`), never a bare string.

pub mod clipboard;
pub mod connection;
pub mod error;
pub mod folder_picker;
pub mod images;
pub mod library;
pub mod notifications;
pub mod opener;
pub mod photo;
pub mod settings;
pub mod sharing;
pub mod shortcut;
pub mod sync;
pub mod tray;
pub mod upload;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_fixture;

use imgcloud_core::paths::Dirs;
use tauri::{Builder, Runtime};

pub use connection::Connection;
pub use error::{CommandError, ErrorCode};

/// Registers the app's state and commands on `builder` (the real one in [`run`], Tauri's mock
/// builder in tests).
pub fn app<R: Runtime>(builder: Builder<R>, connection: Connection) -> Builder<R> {
    builder
        .manage(connection)
        .manage(library::Library::default())
        .manage(photo::Previews::default())
        .manage(clipboard::Clipboard::default())
        .manage(sync::SyncEvents::default())
        .invoke_handler(tauri::generate_handler![
            library::list_images,
            library::server_info,
            images::get_image,
            photo::photo_info,
            opener::open_url,
            images::rename_image,
            images::set_tags,
            images::trash_images,
            images::restore_images,
            images::image_links,
            images::format_image_link,
            sharing::set_visibility,
            sharing::create_share,
            sharing::list_shares,
            sharing::revoke_share,
            sharing::list_albums,
            sharing::album_images,
            sharing::add_to_album,
            upload::upload_files,
            upload::upload_bytes,
            upload::upload_clipboard_image,
            sync::sync_status,
            sync::sync_queue,
            sync::sync_pause,
            sync::sync_resume,
            sync::watch_add,
            sync::watch_remove,
            folder_picker::pick_folder,
            sync::sync_subscribe,
            settings::settings_get,
            settings::settings_connect,
            settings::settings_use_embedded,
            settings::settings_set_link_format,
            clipboard::copy_text,
            notifications::notify,
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
    let builder = app(Builder::default(), Connection::new(dirs)).setup(|app| {
        // A desktop without a tray (no StatusNotifier host) still gets the window.
        if let Err(e) = tray::install(app.handle()) {
            tracing::warn!("no tray icon: {e}");
        }
        if let Err(e) = folder_picker::install(app.handle()) {
            tracing::warn!("no folder picker: {e}");
        }
        if let Err(e) = shortcut::install(app.handle()) {
            tracing::warn!("no global shortcut: {e}");
        }
        Ok(())
    });
    if let Err(e) = builder.run(tauri::generate_context!()) {
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
