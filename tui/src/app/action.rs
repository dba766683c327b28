//! Actions change the state; anything that talks to the world is returned as an [`Effect`]
//! for the run loop, whose outcome comes back as another action.

use std::path::PathBuf;

use imgcloud_core::api::{Change, Image};
use imgcloud_core::daemon_api::{Event, Status};
use imgcloud_core::links::format_link;
use imgcloud_core::photo_info::PhotoInfo;
use imgcloud_core::upload::{UploadEvent, Uploaded};

use super::complete::Completion;
use super::input::Edit;
use super::local::FirstScreen;
use super::preview::Picture;
use super::state::{AppState, Daemon, Loading, Overlay, View};
use super::{prompts, uploads};

#[derive(Debug, Clone)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Start typing a search query.
    StartSearch,
    SearchChar(char),
    SearchBackspace,
    /// Keep the query and go back to the list.
    SearchAccept,
    /// Clear the query.
    SearchCancel,
    CycleSort,
    ToggleTrash,
    ToggleDetails,
    ToggleHelp,
    /// Open the copy-link format picker.
    OpenFormats,
    /// Copy the selected image's link in the format at this picker position.
    CopyAs(usize),
    /// Ask to move the selected image to the trash.
    AskTrash,
    ConfirmTrash,
    /// Restore the selected image (trash view).
    Restore,
    /// Restore the image trashed last.
    Undo,
    Refresh,
    /// Close the overlay, or clear the search.
    Escape,
    OverlayUp,
    OverlayDown,
    OverlayAccept,
    Resize {
        list_rows: usize,
    },
    Quit,
    /// Open the upload prompt.
    StartUpload,
    /// Open the rename prompt for the selected image.
    StartRename,
    /// Open the share prompt for the selected image.
    StartShare,
    /// Make the selected image private if public, public if private.
    ToggleVisibility,
    /// Open the album picker (albums read from the server).
    OpenAlbums,
    AlbumsLoaded(Result<Vec<imgcloud_core::api::Album>, String>),
    /// The album picked, with its images (or why they could not be read).
    AlbumLoaded(Result<imgcloud_core::api::AlbumDetail, String>),
    /// Open the list of share links (loaded from the server, for fresh counts).
    OpenShares,
    SharesLoaded(Result<Vec<imgcloud_core::api::Share>, String>),
    /// Revoke the share link selected in the list.
    RevokeSelectedShare,
    ShareRevoked(Result<imgcloud_core::api::Share, String>),
    /// A share link was made (or why not); its URL is copied next.
    Shared {
        what: String,
        result: Result<imgcloud_core::api::Share, String>,
    },
    /// Open the tags prompt for the selected image.
    StartTags,
    /// Edit the open prompt's text.
    PromptEdit(Edit),
    /// Text pasted into the terminal, or files dropped on it (bracketed paste).
    Paste(String),
    /// Complete the upload prompt's path (Tab).
    PromptComplete,
    /// Run what the prompt asks for (Enter).
    PromptSubmit,
    /// Copy the links of the last upload (one a line, configured format).
    CopyUploadLinks,
    /// Open the selected image's link in the browser.
    OpenLink,
    /// Pause the daemon's uploads, or resume them when paused.
    TogglePause,
    /// Ask the daemon to rescan its watched folders.
    Rescan,
    /// Show / hide the live sync panel.
    ToggleSync,
    /// Mouse wheel: move the cursor by this many rows.
    Scroll(isize),
    /// Mouse click on this list row: select it; on the selected row, copy its link.
    Click {
        row: usize,
    },
    // Results of effects.
    Loaded {
        changes: Vec<Change>,
        next_since: i64,
        /// More pages follow.
        more: bool,
    },
    LoadFailed(String),
    /// Every image of the local catalog, read after the first screen.
    CatalogLoaded(Result<Vec<Image>, String>),
    Trashed(Image),
    Restored(Image),
    ChangeFailed {
        what: String,
        reason: String,
    },
    Copied {
        what: String,
        result: Result<String, String>,
    },
    DaemonChecked(Daemon),
    Completed(Completion),
    /// Progress of the TUI's upload.
    UploadProgress(UploadEvent),
    /// The upload ended: one result per file, in input order.
    UploadDone(Vec<FileUpload>),
    /// A rename or tag edit went through.
    Patched {
        what: String,
        image: Image,
    },
    Opened {
        what: String,
        result: Result<(), String>,
    },
    /// A daemon command ended: what the daemon did, or why it could not.
    DaemonDone(Result<String, String>),
    /// The daemon's event stream (re)connected; its status at that moment.
    SyncConnected(Box<Status>),
    SyncEvent(Event),
    /// The event stream ended (the daemon stopped); it is retried.
    SyncLost(String),
    /// The picture of image `id` for the preview pane, or why there is none.
    PictureLoaded {
        id: String,
        result: Result<Picture, String>,
    },
    /// Camera and date of image `id`, or why they could not be read.
    PhotoInfoLoaded {
        id: String,
        result: Result<PhotoInfo, String>,
    },
}

/// The result of uploading one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload {
    pub path: PathBuf,
    pub result: Result<Uploaded, String>,
}

/// Commands for the sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonCommand {
    Pause,
    Resume,
    Rescan,
}

/// Work for the run loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Fetch the change feed after this position.
    Load {
        since: i64,
    },
    /// Read the whole local catalog.
    LoadCatalog,
    Trash {
        id: String,
    },
    Restore {
        id: String,
    },
    /// Put `text` on the clipboard; `what` names it in the status line.
    Copy {
        text: String,
        what: String,
    },
    /// Complete a path typed in the upload prompt (`~` is the home folder).
    Complete {
        text: String,
    },
    /// Upload the files and folders of the prompt's text (one path, or a list as dropped by a
    /// file manager: see [`super::path_list`]; `~` is the home folder).
    Upload {
        text: String,
    },
    /// Change an image's name and/or tags (`PATCH /v1/images/{id}`).
    /// `doing` names the change when it fails ("renaming a to b failed: …"), `done` reports it.
    Patch {
        id: String,
        filename: Option<String>,
        tags: Option<Vec<String>>,
        visibility: Option<imgcloud_core::api::Visibility>,
        doing: String,
        done: String,
    },
    /// Read the albums.
    LoadAlbums,
    /// Read one album and its images.
    LoadAlbum {
        id: String,
    },
    /// Read the share links.
    LoadShares,
    /// Revoke share link `id`.
    RevokeShare {
        id: String,
    },
    /// Make a share link.
    Share {
        request: imgcloud_core::api::CreateShare,
        what: String,
    },
    /// Open `url` in the browser.
    Open {
        url: String,
        what: String,
    },
    Daemon(DaemonCommand),
}

/// How the status line starts while the local catalog is shown before a sync.
pub const LOCAL_PREFIX: &str = "showing the local catalog";
/// How the status line starts when a sync failed but the local catalog is shown.
const OFFLINE_PREFIX: &str = "offline: local catalog";
/// How the status line starts when a load failed and nothing local is shown.
const FAILED_PREFIX: &str = "cannot load the library";

/// Shows the first screen of the local catalog and says so; the whole catalog, then the sync,
/// follow as effects.
pub fn show_catalog(state: &mut AppState, first: FirstScreen) -> Vec<Effect> {
    state.show_catalog(first.images, first.counts, first.since, first.synced_at);
    let synced = state
        .local
        .as_ref()
        .map(|local| local.synced_label())
        .unwrap_or_default();
    state.set_status(format!("{LOCAL_PREFIX}, {synced} · syncing…"));
    vec![Effect::LoadCatalog]
}

/// Applies `action` to `state`; returns the effects to run.
pub fn update(state: &mut AppState, action: Action) -> Vec<Effect> {
    use Action as A;
    match action {
        A::Up => state.select(state.selected.saturating_sub(1)),
        A::Down => state.select(state.selected + 1),
        A::PageUp => state.select(state.selected.saturating_sub(state.page)),
        A::PageDown => state.select(state.selected + state.page),
        A::Top => state.select(0),
        A::Bottom => state.select(usize::MAX),
        A::StartSearch => {
            state.overlay = None;
            state.searching = true;
        }
        A::SearchChar(c) => {
            state.query.push(c);
            state.rebuild_from_top();
        }
        A::SearchBackspace => {
            state.query.pop();
            state.rebuild_from_top();
        }
        A::SearchAccept => {
            state.searching = false;
            let n = state.rows.len();
            state.set_status(format!("{n} match{}", if n == 1 { "" } else { "es" }));
        }
        A::SearchCancel => {
            state.searching = false;
            state.query.clear();
            state.rebuild();
        }
        A::CycleSort => {
            state.sort = state.sort.next();
            state.rebuild();
            state.set_status(format!("sorted by {}", state.sort.label()));
        }
        A::ToggleTrash => {
            state.view = match state.view {
                View::Library => View::Trash,
                View::Trash => View::Library,
            };
            state.selected = 0;
            state.rebuild_from_top();
        }
        A::ToggleDetails => state.show_details = !state.show_details,
        A::ToggleHelp => {
            state.overlay = match state.overlay {
                Some(Overlay::Help) => None,
                _ => Some(Overlay::Help),
            }
        }
        A::OpenFormats => match state.selected_image() {
            Some(_) => state.overlay = Some(Overlay::Formats { selected: 0 }),
            None => state.set_error("nothing to copy: no image selected"),
        },
        A::CopyAs(position) => {
            state.overlay = None;
            let (Some(image), Some(format)) = (state.selected_image(), state.formats.get(position))
            else {
                state.set_error("nothing to copy: no image selected");
                return vec![];
            };
            return vec![Effect::Copy {
                text: format_link(image, format),
                what: format!("{format} link of {}", image.filename),
            }];
        }
        A::AskTrash => match (state.view, state.selected_image()) {
            (View::Library, Some(image)) => {
                state.overlay = Some(Overlay::ConfirmTrash {
                    id: image.id.clone(),
                    name: image.filename.clone(),
                })
            }
            (View::Trash, Some(_)) => {
                state.set_error("already in the trash: press r to restore it")
            }
            (_, None) => state.set_error("nothing to delete: no image selected"),
        },
        A::ConfirmTrash => {
            if let Some(Overlay::ConfirmTrash { id, name }) = state.overlay.take() {
                state.set_status(format!("moving {name} to the trash…"));
                return vec![Effect::Trash { id }];
            }
        }
        A::Restore => match (state.view, state.selected_image()) {
            (View::Trash, Some(image)) => {
                let id = image.id.clone();
                state.set_status(format!("restoring {}…", image.filename));
                return vec![Effect::Restore { id }];
            }
            (View::Library, _) => state.set_error("restore works in the trash view (press t)"),
            (_, None) => state.set_error("nothing to restore: the trash is empty"),
        },
        A::Undo => match state.undo.pop() {
            Some(id) => {
                let name = state.image(&id).map_or(id.clone(), |i| i.filename.clone());
                state.set_status(format!("restoring {name}…"));
                return vec![Effect::Restore { id }];
            }
            None => state.set_error("nothing to undo"),
        },
        A::Refresh => {
            if state.loading == Loading::Initial || state.loading == Loading::Refreshing {
                return vec![];
            }
            state.loading = Loading::Refreshing;
            state.set_status("refreshing…");
            return vec![Effect::Load { since: state.since }];
        }
        A::Escape => {
            if state.overlay.take().is_none() {
                if !state.query.is_empty() {
                    state.query.clear();
                    state.rebuild();
                } else if let Some(album) = state.album.take() {
                    state.set_album(None);
                    state.set_status(format!("every image (was album {})", album.name));
                }
            }
        }
        A::OverlayUp | A::OverlayDown => {
            let up = matches!(action, A::OverlayUp);
            let step = |selected: &mut usize, n: usize| {
                if n > 0 {
                    *selected = if up {
                        (*selected + n - 1) % n
                    } else {
                        (*selected + 1) % n
                    };
                }
            };
            match &mut state.overlay {
                Some(Overlay::Formats { selected }) => step(selected, state.formats.len()),
                Some(Overlay::Shares { shares, selected }) => step(selected, shares.len()),
                Some(Overlay::Albums { albums, selected }) => step(selected, albums.len() + 1),
                _ => {}
            }
        }
        A::OverlayAccept => match state.overlay.clone() {
            Some(Overlay::Formats { selected }) => return update(state, A::CopyAs(selected)),
            Some(Overlay::Albums { albums, selected }) => {
                state.overlay = None;
                match selected.checked_sub(1).and_then(|i| albums.get(i)) {
                    None => {
                        state.set_album(None);
                        state.set_status("every image");
                    }
                    Some(album) => {
                        state.set_status(format!("reading album {}…", album.name));
                        return vec![Effect::LoadAlbum {
                            id: album.id.clone(),
                        }];
                    }
                }
            }
            Some(Overlay::Shares { shares, selected }) => {
                if let Some(share) = shares.get(selected).filter(|s| !s.url.is_empty()) {
                    let what = if share.label.is_empty() {
                        "share link".to_string()
                    } else {
                        format!("share link {}", share.label)
                    };
                    return vec![Effect::Copy {
                        text: share.url.clone(),
                        what,
                    }];
                }
            }
            Some(Overlay::ConfirmTrash { .. }) => return update(state, A::ConfirmTrash),
            Some(Overlay::Help) => state.overlay = None,
            Some(Overlay::Prompt(_)) => return prompts::submit(state),
            None => {}
        },
        A::Resize { list_rows } => state.set_page(list_rows),
        A::Quit => state.quit = true,
        A::StartUpload => prompts::start_upload(state),
        A::StartRename => prompts::start_rename(state),
        A::StartShare => prompts::start_share(state),
        A::ToggleVisibility => match state.selected_image() {
            Some(image) => {
                use imgcloud_core::api::Visibility;
                let (id, name) = (image.id.clone(), image.filename.clone());
                let to = match image.visibility {
                    Visibility::Public => Visibility::Private,
                    Visibility::Private => Visibility::Public,
                };
                state.set_status(format!("making {name} {to}…"));
                let done = match to {
                    Visibility::Private => {
                        format!("{name} is private: its public link stops within a minute")
                    }
                    Visibility::Public => format!("{name} is public: its link works again"),
                };
                return vec![Effect::Patch {
                    id,
                    filename: None,
                    tags: None,
                    visibility: Some(to),
                    doing: format!("making {name} {to}"),
                    done,
                }];
            }
            None => state.set_error("nothing to change: no image selected"),
        },
        A::OpenAlbums => {
            state.set_status("reading your albums…");
            return vec![Effect::LoadAlbums];
        }
        A::AlbumsLoaded(Ok(albums)) => {
            if albums.is_empty() {
                state.set_status("no albums yet: imgcloud album create NAME makes one");
            } else {
                let selected = state
                    .album
                    .as_ref()
                    .and_then(|f| albums.iter().position(|a| a.id == f.id))
                    .map_or(0, |i| i + 1);
                state.set_status(format!("{} albums", albums.len()));
                state.overlay = Some(Overlay::Albums { albums, selected });
            }
        }
        A::AlbumsLoaded(Err(reason)) => {
            state.set_error(format!("reading the albums failed: {reason}"))
        }
        A::AlbumLoaded(Ok(detail)) => {
            let name = detail.album.name.clone();
            state.set_album(Some(crate::app::state::AlbumFilter {
                id: detail.album.id,
                name: name.clone(),
                members: detail.images.into_iter().map(|i| i.id).collect(),
            }));
            state.set_status(format!(
                "album {name}: {} images (Esc shows every image)",
                state.rows.len()
            ));
        }
        A::AlbumLoaded(Err(reason)) => {
            state.set_error(format!("reading the album failed: {reason}"))
        }
        A::OpenShares => {
            state.set_status("reading your share links…");
            return vec![Effect::LoadShares];
        }
        A::SharesLoaded(Ok(shares)) => {
            state.set_status(match shares.len() {
                0 => "no share links yet: L makes one".to_string(),
                n => format!("{n} share link{}", if n == 1 { "" } else { "s" }),
            });
            if !shares.is_empty() {
                state.overlay = Some(Overlay::Shares {
                    shares,
                    selected: 0,
                });
            }
        }
        A::SharesLoaded(Err(reason)) => {
            state.set_error(format!("reading the share links failed: {reason}"));
        }
        A::RevokeSelectedShare => {
            if let Some(Overlay::Shares { shares, selected }) = &state.overlay
                && let Some(share) = shares.get(*selected)
            {
                if share.state == imgcloud_core::api::ShareState::Revoked {
                    state.set_status("that link is revoked already");
                    return vec![];
                }
                let id = share.id.clone();
                state.set_status("revoking the link…");
                return vec![Effect::RevokeShare { id }];
            }
        }
        A::ShareRevoked(Ok(revoked)) => {
            if let Some(Overlay::Shares { shares, .. }) = &mut state.overlay
                && let Some(share) = shares.iter_mut().find(|s| s.id == revoked.id)
            {
                *share = revoked;
            }
            state.set_status("link revoked: its page answers 410 now");
        }
        A::ShareRevoked(Err(reason)) => state.set_error(format!("revoking failed: {reason}")),
        A::Shared { what, result } => match result {
            Ok(share) => {
                let terms = match share.expires_at {
                    Some(at) => format!("expires {}", crate::output::short_date(at)),
                    None => "never expires".to_string(),
                };
                state.set_status(format!("share link of {what} made ({terms})"));
                return vec![Effect::Copy {
                    text: share.url,
                    what: format!("share link of {what}"),
                }];
            }
            Err(reason) => state.set_error(format!("sharing {what} failed: {reason}")),
        },
        A::StartTags => prompts::start_tags(state),
        A::PromptEdit(edit) => prompts::edit(state, edit),
        A::Paste(text) => prompts::paste(state, &text),
        A::PromptComplete => return prompts::complete(state),
        A::PromptSubmit => return prompts::submit(state),
        A::Completed(completion) => prompts::completed(state, completion),
        A::CopyUploadLinks => return uploads::copy_links(state),
        A::UploadProgress(event) => uploads::progress(state, event),
        A::UploadDone(files) => uploads::done(state, files),
        A::Patched { what, image } => {
            state.put(image);
            state.set_status(what);
        }
        A::OpenLink => match state.selected_image() {
            Some(image) => {
                let (what, url) = (image.filename.clone(), image.url.clone());
                state.set_status(format!("opening {what} in the browser…"));
                return vec![Effect::Open { url, what }];
            }
            None => state.set_error("nothing to open: no image selected"),
        },
        A::Opened { what, result } => match result {
            Ok(()) => state.set_status(format!("opened {what} in the browser")),
            Err(reason) => state.set_error(format!("cannot open {what} in the browser: {reason}")),
        },
        A::TogglePause => {
            let command = if state.sync.paused {
                DaemonCommand::Resume
            } else {
                DaemonCommand::Pause
            };
            state.set_status(match command {
                DaemonCommand::Resume => "resuming the sync daemon…",
                _ => "pausing the sync daemon…",
            });
            return vec![Effect::Daemon(command)];
        }
        A::Rescan => {
            state.set_status("asking the sync daemon to rescan…");
            return vec![Effect::Daemon(DaemonCommand::Rescan)];
        }
        A::DaemonDone(result) => match result {
            Ok(message) => {
                if message.starts_with("sync paused") {
                    set_paused(state, true);
                } else if message.starts_with("sync resumed") {
                    set_paused(state, false);
                }
                state.set_status(message);
            }
            Err(reason) => state.set_error(reason),
        },
        A::ToggleSync => state.show_sync = !state.show_sync,
        A::SyncConnected(status) => {
            state.sync.connected(&status);
            state.daemon = Daemon::Running {
                summary: super::backend::summary(&status),
            };
        }
        A::SyncEvent(event) => match event {
            imgcloud_core::daemon_api::Event::Paused => set_paused(state, true),
            imgcloud_core::daemon_api::Event::Resumed => set_paused(state, false),
            event => state.sync.apply(event),
        },
        A::SyncLost(reason) => state.sync.disconnected(reason),
        A::Scroll(rows) => {
            let target = state.selected.saturating_add_signed(rows);
            state.select(target);
        }
        A::Click { row } => {
            if row >= state.rows.len() {
                return vec![];
            }
            if row == state.selected {
                // A second click on the selected row copies its link in the configured format.
                return update(state, A::CopyAs(0));
            }
            state.select(row);
        }
        A::Loaded {
            changes,
            next_since,
            more,
        } => {
            let first = state.loading == Loading::Initial;
            let n = changes.len();
            state.apply_changes(changes, next_since);
            if more {
                return vec![Effect::Load { since: next_since }];
            }
            state.loading = Loading::Idle;
            if let Some(local) = &mut state.local {
                local.synced_at = Some(time::OffsetDateTime::now_utc());
            }
            if first {
                let total = state.count(View::Library);
                state.set_status(format!(
                    "{total} image{}",
                    if total == 1 { "" } else { "s" }
                ));
            } else if state.status.as_ref().is_some_and(|s| {
                s.text == "refreshing…"
                    || s.text.starts_with(LOCAL_PREFIX)
                    || s.text.starts_with(OFFLINE_PREFIX)
                    || s.text.starts_with(FAILED_PREFIX)
            }) {
                state.set_status(if n == 0 {
                    "up to date".to_string()
                } else {
                    format!("{n} change{}", if n == 1 { "" } else { "s" })
                });
            }
        }
        A::LoadFailed(reason) => {
            match &state.local {
                Some(local) => state.set_error(format!(
                    "{OFFLINE_PREFIX}, {} · server unreachable: {reason} (R retries)",
                    local.synced_label()
                )),
                None => state.set_error(format!("{FAILED_PREFIX}: {reason} (R retries)")),
            }
            state.loading = Loading::Failed(reason);
        }
        A::CatalogLoaded(result) => {
            match result {
                Ok(images) => state.load_catalog(images),
                Err(reason) => state.set_error(format!("cannot read the local catalog: {reason}")),
            }
            return vec![Effect::Load { since: state.since }];
        }
        A::Trashed(image) => {
            let name = image.filename.clone();
            state.undo.push(image.id.clone());
            state.put(image);
            state.set_status(format!("moved {name} to the trash (u undoes)"));
        }
        A::Restored(image) => {
            let name = image.filename.clone();
            state.undo.retain(|id| *id != image.id);
            state.put(image);
            state.set_status(format!("restored {name}"));
        }
        A::ChangeFailed { what, reason } => state.set_error(format!("{what} failed: {reason}")),
        A::Copied { what, result } => match result {
            Ok(place) => state.set_status(format!("copied {what} {place}")),
            Err(reason) => state.set_error(format!("cannot copy the {what}: {reason}")),
        },
        A::DaemonChecked(daemon) => state.daemon = daemon,
        A::PictureLoaded { id, result } => state.preview.picture = Some((id, result)),
        A::PhotoInfoLoaded { id, result } => state.preview.info = Some((id, result)),
    }
    vec![]
}

/// The daemon paused or resumed: the panel and the sync line say so at once (the line is
/// otherwise refreshed by the next status poll).
fn set_paused(state: &mut AppState, paused: bool) {
    state.sync.paused = paused;
    if let Daemon::Running { summary } = &mut state.daemon {
        let (from, to) = if paused {
            ("sync running", "sync paused")
        } else {
            ("sync paused", "sync running")
        };
        if let Some(rest) = summary.strip_prefix(from) {
            *summary = format!("{to}{rest}");
        }
    }
}
