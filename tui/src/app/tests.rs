//! Tests of the state machine (no terminal), and the fixtures the view snapshots share.

use std::path::PathBuf;
use std::sync::Mutex;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use imgcloud_core::api::{Change, ChangePage, Image, ImagePatch};
use imgcloud_core::daemon_api::{Event as DaemonEvent, Status};
use imgcloud_core::links::LinkFormat;
use imgcloud_core::upload::{UploadEvent, Uploaded};
use time::OffsetDateTime;
use time::macros::datetime;

use super::action::{self as actions, Action, DaemonCommand, Effect, FileUpload, update};
use super::backend::{Backend, perform};
use super::keys::action_for;
use super::local::FirstScreen;
use super::state::{AppState, Daemon, Loading, Overlay, Sort, View};
use imgcloud_core::catalog::Counts;

/// An image as the server would return it.
pub fn image(id: &str, filename: &str, size: u64, day: u8, tags: &[&str]) -> Image {
    let at: OffsetDateTime = datetime!(2024-05-01 09:30 UTC).replace_day(day).unwrap();
    Image {
        id: id.to_string(),
        filename: filename.to_string(),
        size,
        sha256: "0".repeat(64),
        content_type: "image/jpeg".to_string(),
        width: 4032,
        height: 3024,
        taken_at: Some(at),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        visibility: Default::default(),
        url: format!("https://cdn.example.com/i/{id}/{filename}"),
        thumb_url: format!("https://cdn.example.com/t/{id}/320.webp"),
        preview_url: format!("https://cdn.example.com/t/{id}/1280.webp"),
        thumbhash: None,
        derivatives: Default::default(),
        derivatives_error: None,
    }
}

fn upsert(seq: i64, image: Image) -> Change {
    Change::image_upsert(seq, image)
}

/// A loaded library of four images (one in the trash), sorted by date.
pub fn sample() -> AppState {
    let mut trashed = image("trashed000000001", "old-scan.png", 900_000, 2, &[]);
    trashed.deleted_at = Some(datetime!(2024-05-20 18:00 UTC));
    let images = vec![
        image(
            "aaaaaaaaaaaaaaa1",
            "beach.jpg",
            2_500_000,
            10,
            &["holiday", "sea"],
        ),
        image("aaaaaaaaaaaaaaa2", "Cat.png", 120_000, 12, &["pets"]),
        image("aaaaaaaaaaaaaaa3", "diagram.webp", 48_000, 5, &["work"]),
        trashed,
    ];
    let mut state = AppState::new(LinkFormat::Markdown);
    let n = images.len() as i64;
    let changes = images
        .into_iter()
        .enumerate()
        .map(|(i, image)| upsert(i as i64 + 1, image))
        .collect();
    update(
        &mut state,
        Action::Loaded {
            changes,
            next_since: n,
            more: false,
        },
    );
    state.set_page(10);
    state
}

pub fn names(state: &AppState) -> Vec<&str> {
    state
        .rows
        .iter()
        .map(|&i| state.images[i].filename.as_str())
        .collect()
}

fn key(state: &AppState, code: KeyCode) -> Option<Action> {
    action_for(state, KeyEvent::new(code, KeyModifiers::NONE))
}

/// Sends one key through the key map and the update function; returns the effects.
pub fn hit(state: &mut AppState, code: KeyCode) -> Vec<Effect> {
    match key(state, code) {
        Some(action) => update(state, action),
        None => vec![],
    }
}

/// Sends keys through the key map and the update function; returns the effects.
pub fn press(state: &mut AppState, keys: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in keys.chars() {
        if let Some(action) = key(state, KeyCode::Char(c)) {
            effects.extend(update(state, action));
        }
    }
    effects
}

#[test]
fn first_load_sorts_newest_first_and_reports_the_count() {
    let state = sample();
    assert_eq!(names(&state), ["Cat.png", "beach.jpg", "diagram.webp"]);
    assert_eq!(state.loading, Loading::Idle);
    assert_eq!(state.status.as_ref().unwrap().text, "3 images");
    assert_eq!(state.count(View::Trash), 1);
}

#[test]
fn vim_and_arrow_keys_move_and_stop_at_the_ends() {
    let mut state = sample();
    press(&mut state, "j");
    assert_eq!(state.selected, 1);
    hit(&mut state, KeyCode::Down);
    hit(&mut state, KeyCode::Down);
    assert_eq!(state.selected, 2, "stops at the last row");
    press(&mut state, "g");
    assert_eq!(state.selected, 0);
    press(&mut state, "k");
    assert_eq!(state.selected, 0, "stops at the first row");
    press(&mut state, "G");
    assert_eq!(state.selected_image().unwrap().filename, "diagram.webp");
    hit(&mut state, KeyCode::PageUp);
    assert_eq!(state.selected, 0);
}

#[test]
fn paging_scrolls_a_large_list_to_keep_the_cursor_visible() {
    let mut state = AppState::new(LinkFormat::Url);
    let changes = (0..1000)
        .map(|i| {
            upsert(
                i + 1,
                image(&format!("id{i:014}"), &format!("img{i:04}.jpg"), 10, 1, &[]),
            )
        })
        .collect();
    update(
        &mut state,
        Action::Loaded {
            changes,
            next_since: 1000,
            more: false,
        },
    );
    state.set_page(20);
    update(&mut state, Action::PageDown);
    update(&mut state, Action::PageDown);
    assert_eq!((state.selected, state.offset), (40, 21));
    update(&mut state, Action::Bottom);
    assert_eq!((state.selected, state.offset), (999, 980));
    update(&mut state, Action::Top);
    assert_eq!((state.selected, state.offset), (0, 0));
}

#[test]
fn search_filters_filenames_and_tags_as_typed() {
    let mut state = sample();
    press(&mut state, "/");
    assert!(state.searching);
    press(&mut state, "ca");
    assert_eq!(
        names(&state),
        ["Cat.png"],
        "case-insensitive filename match"
    );
    hit(&mut state, KeyCode::Backspace);
    hit(&mut state, KeyCode::Backspace);
    press(&mut state, "SEA");
    assert_eq!(names(&state), ["beach.jpg"], "matches a tag");
    hit(&mut state, KeyCode::Enter);
    assert!(!state.searching);
    assert_eq!(state.query, "SEA", "Enter keeps the filter");
    assert_eq!(state.status.as_ref().unwrap().text, "1 match");
    // Keys act on the list again, and Esc clears the filter.
    press(&mut state, "j");
    hit(&mut state, KeyCode::Esc);
    assert_eq!(state.rows.len(), 3);
    assert_eq!(
        state.selected_image().unwrap().filename,
        "beach.jpg",
        "the cursor stays on its image"
    );
}

#[test]
fn search_never_matches_trashed_images_in_the_library() {
    let mut state = sample();
    press(&mut state, "/scan");
    assert!(state.rows.is_empty());
    update(&mut state, Action::SearchAccept);
    press(&mut state, "t");
    assert_eq!(names(&state), ["old-scan.png"]);
}

#[test]
fn sort_cycles_date_name_size() {
    let mut state = sample();
    press(&mut state, "s");
    assert_eq!(state.sort, Sort::Name);
    assert_eq!(names(&state), ["beach.jpg", "Cat.png", "diagram.webp"]);
    press(&mut state, "s");
    assert_eq!(names(&state), ["beach.jpg", "Cat.png", "diagram.webp"]);
    assert_eq!(state.sort, Sort::Size);
    assert_eq!(state.status.as_ref().unwrap().text, "sorted by size");
    press(&mut state, "s");
    assert_eq!(state.sort, Sort::Date);
}

#[test]
fn copy_opens_the_picker_with_the_configured_format_first() {
    let mut state = sample();
    assert!(press(&mut state, "y").is_empty());
    assert_eq!(state.overlay, Some(Overlay::Formats { selected: 0 }));
    assert_eq!(
        state.formats,
        [
            LinkFormat::Markdown,
            LinkFormat::Url,
            LinkFormat::Html,
            LinkFormat::Bbcode
        ]
    );
    // j moves in the picker, not in the list.
    press(&mut state, "j");
    assert_eq!(state.selected, 0);
    let effects = hit(&mut state, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::Copy {
            text: "https://cdn.example.com/i/aaaaaaaaaaaaaaa2/Cat.png".to_string(),
            what: "url link of Cat.png".to_string(),
        }]
    );
    assert_eq!(state.overlay, None);
    let effects = press(&mut state, "y4");
    assert!(matches!(&effects[..], [Effect::Copy { text, .. }]
        if text == "[img]https://cdn.example.com/i/aaaaaaaaaaaaaaa2/Cat.png[/img]"));
}

#[test]
fn delete_asks_first_and_undo_restores() {
    let mut state = sample();
    assert!(
        press(&mut state, "d").is_empty(),
        "nothing happens before y"
    );
    assert!(
        matches!(state.overlay, Some(Overlay::ConfirmTrash { ref name, .. }) if name == "Cat.png")
    );
    press(&mut state, "n");
    assert_eq!(state.overlay, None);
    press(&mut state, "d");
    let effects = press(&mut state, "y");
    assert_eq!(
        effects,
        [Effect::Trash {
            id: "aaaaaaaaaaaaaaa2".to_string()
        }]
    );
    let mut trashed = state.image("aaaaaaaaaaaaaaa2").unwrap().clone();
    trashed.deleted_at = Some(datetime!(2024-06-01 10:00 UTC));
    update(&mut state, Action::Trashed(trashed));
    assert_eq!(names(&state), ["beach.jpg", "diagram.webp"]);
    assert_eq!(
        state.status.as_ref().unwrap().text,
        "moved Cat.png to the trash (u undoes)"
    );
    let effects = press(&mut state, "u");
    assert_eq!(
        effects,
        [Effect::Restore {
            id: "aaaaaaaaaaaaaaa2".to_string()
        }]
    );
    assert!(press(&mut state, "u").is_empty());
    assert_eq!(state.status.as_ref().unwrap().text, "nothing to undo");
    assert!(state.status.as_ref().unwrap().error);
}

#[test]
fn restore_works_in_the_trash_view_only() {
    let mut state = sample();
    assert!(press(&mut state, "r").is_empty());
    assert!(state.status.as_ref().unwrap().error);
    press(&mut state, "t");
    assert_eq!(state.view, View::Trash);
    assert!(press(&mut state, "d").is_empty(), "no second trash");
    let effects = press(&mut state, "r");
    assert_eq!(
        effects,
        [Effect::Restore {
            id: "trashed000000001".to_string()
        }]
    );
}

#[test]
fn failures_land_in_the_status_line_with_their_reason() {
    let mut state = sample();
    update(
        &mut state,
        Action::ChangeFailed {
            what: "moving x to the trash".to_string(),
            reason: "cannot reach the server".to_string(),
        },
    );
    let status = state.status.clone().unwrap();
    assert!(status.error);
    assert_eq!(
        status.text,
        "moving x to the trash failed: cannot reach the server"
    );
    update(&mut state, Action::LoadFailed("timed out".to_string()));
    assert_eq!(state.loading, Loading::Failed("timed out".to_string()));
    assert_eq!(state.rows.len(), 3, "the list keeps what it had");
    // Refresh retries from where the library stood.
    assert_eq!(press(&mut state, "R"), [Effect::Load { since: 4 }]);
}

#[test]
fn help_overlay_takes_the_keys_until_closed() {
    let mut state = sample();
    press(&mut state, "?");
    assert_eq!(state.overlay, Some(Overlay::Help));
    press(&mut state, "jq");
    assert_eq!(state.selected, 0);
    assert_eq!(state.overlay, None, "q closes the help, not the app");
    assert!(!state.quit);
    press(&mut state, "q");
    assert!(state.quit);
}

#[test]
fn ctrl_c_quits_even_while_searching() {
    let mut state = sample();
    press(&mut state, "/");
    let action = action_for(
        &state,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    );
    update(&mut state, action.unwrap());
    assert!(state.quit);
}

/// A backend that records calls and answers from a script.
#[derive(Default)]
pub struct Fake {
    pub pages: Mutex<Vec<ChangePage>>,
    pub calls: Mutex<Vec<String>>,
    pub fail_trash: bool,
    /// Patches, opening and daemon commands fail with this reason.
    pub fail_with: Option<String>,
    /// What the daemon's event stream sends after its status (`None`: daemon not running).
    pub daemon_events: Option<(Status, Vec<DaemonEvent>)>,
    /// What the local catalog holds.
    pub catalog: Vec<Image>,
}

impl Fake {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn call(&self, call: String) -> Result<(), String> {
        self.calls.lock().unwrap().push(call);
        self.fail_with.clone().map_or(Ok(()), Err)
    }
}

impl Backend for Fake {
    async fn changes(&self, since: i64) -> Result<ChangePage, String> {
        self.calls.lock().unwrap().push(format!("changes {since}"));
        let mut pages = self.pages.lock().unwrap();
        if pages.is_empty() {
            return Err("no more pages".to_string());
        }
        Ok(pages.remove(0))
    }

    async fn catalog(&self) -> Result<Vec<Image>, String> {
        self.calls.lock().unwrap().push("catalog".to_string());
        Ok(self.catalog.clone())
    }

    async fn trash(&self, id: &str) -> Result<Image, String> {
        self.calls.lock().unwrap().push(format!("trash {id}"));
        if self.fail_trash {
            return Err("HTTP 503".to_string());
        }
        let mut image = image(id, "x.jpg", 1, 1, &[]);
        image.deleted_at = Some(datetime!(2024-06-01 10:00 UTC));
        Ok(image)
    }

    async fn restore(&self, id: &str) -> Result<Image, String> {
        self.calls.lock().unwrap().push(format!("restore {id}"));
        Ok(image(id, "x.jpg", 1, 1, &[]))
    }

    async fn daemon(&self) -> Daemon {
        Daemon::Unknown
    }

    fn copy(&self, text: &str) -> Result<String, String> {
        self.calls.lock().unwrap().push(format!("copy {text}"));
        Ok("to the clipboard".to_string())
    }

    async fn patch(&self, id: &str, patch: ImagePatch) -> Result<Image, String> {
        let visibility = patch
            .visibility
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        self.call(format!(
            "patch {id} {:?} {:?}{visibility}",
            patch.filename.as_deref(),
            patch.tags
        ))?;
        let tags: Vec<&str> = patch.tags.iter().flatten().map(String::as_str).collect();
        let mut patched = image(
            id,
            patch.filename.as_deref().unwrap_or("x.jpg"),
            1,
            1,
            &tags,
        );
        patched.visibility = patch.visibility.unwrap_or_default();
        Ok(patched)
    }

    /// One album, "Trip", holding the second sample image.
    async fn albums(&self) -> Result<Vec<imgcloud_core::api::Album>, String> {
        self.call("albums".to_string())?;
        Ok(vec![self.album("album0000000001").await?.album])
    }

    async fn album(&self, id: &str) -> Result<imgcloud_core::api::AlbumDetail, String> {
        self.call(format!("album {id}"))?;
        let at = time::OffsetDateTime::UNIX_EPOCH;
        Ok(imgcloud_core::api::AlbumDetail {
            album: imgcloud_core::api::Album {
                id: id.to_string(),
                name: "Trip".into(),
                description: String::new(),
                cover_image_id: None,
                image_count: 1,
                created_at: at,
                updated_at: at,
            },
            images: vec![image("aaaaaaaaaaaaaaa1", "beach.jpg", 1, 1, &[])],
        })
    }

    /// Two links: one active with counts, one revoked.
    async fn shares(&self) -> Result<Vec<imgcloud_core::api::Share>, String> {
        self.call("shares".to_string())?;
        let mut first = self
            .share(imgcloud_core::api::CreateShare {
                image_ids: vec!["aaaaaaaaaaaaaaa1".into()],
                max_views: Some(10),
                label: Some("for Alice".into()),
                ..Default::default()
            })
            .await?;
        first.views = 3;
        first.visitors = 2;
        let mut second = first.clone();
        second.id = "share0000000002".into();
        second.url = "https://img.example/s/TOKEN-second".into();
        second.label = String::new();
        second.state = imgcloud_core::api::ShareState::Revoked;
        Ok(vec![first, second])
    }

    async fn revoke_share(&self, id: &str) -> Result<imgcloud_core::api::Share, String> {
        self.call(format!("revoke {id}"))?;
        let mut share = self.shares().await?.remove(0);
        share.id = id.to_string();
        share.state = imgcloud_core::api::ShareState::Revoked;
        Ok(share)
    }

    /// The link is `https://img.example/s/TOKEN-{first image id}`.
    async fn share(
        &self,
        request: imgcloud_core::api::CreateShare,
    ) -> Result<imgcloud_core::api::Share, String> {
        self.call(format!(
            "share {:?} expires={:?} never={} max={:?} download={:?} meta={} label={:?}",
            request.image_ids,
            request.expires_at.map(|t| t.date()),
            request.never_expires,
            request.max_views,
            request.allow_download,
            request.with_metadata,
            request.label
        ))?;
        Ok(imgcloud_core::api::Share {
            id: "share0000000001".into(),
            url: format!("https://img.example/s/TOKEN-{}", request.image_ids[0]),
            label: request.label.unwrap_or_default(),
            album_id: None,
            image_ids: request.image_ids,
            state: imgcloud_core::api::ShareState::Active,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            expires_at: request.expires_at,
            has_password: false,
            max_views: request.max_views.map(|n| n as u64),
            views: 0,
            visitors: 0,
            last_viewed_at: None,
            allow_download: request.allow_download.unwrap_or(true),
            with_metadata: request.with_metadata,
            revoked_at: None,
        })
    }

    /// Every file uploads, except those whose name contains "bad"; `seen.jpg` already existed.
    async fn upload(
        &self,
        paths: Vec<PathBuf>,
        events: impl Fn(UploadEvent) + Send + Sync + 'static,
    ) -> Vec<FileUpload> {
        self.calls.lock().unwrap().push(format!(
            "upload {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        let files = ["new.jpg", "seen.jpg", "bad.txt"];
        files
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let path = paths[0].join(name);
                events(UploadEvent::Started {
                    index,
                    path: path.clone(),
                    bytes: 100,
                });
                events(UploadEvent::Progress {
                    index,
                    bytes_done: 50,
                    bytes_total: 100,
                });
                let result = if name.contains("bad") {
                    events(UploadEvent::Failed {
                        index,
                        path: path.clone(),
                        error: format!("{}: not an image", path.display()),
                    });
                    Err("not an image".to_string())
                } else {
                    let image = image(&format!("up{index:014}"), name, 100, 28, &[]);
                    events(UploadEvent::Finished {
                        index,
                        image: image.clone(),
                        existed: *name == "seen.jpg",
                    });
                    Ok(Uploaded {
                        image,
                        existed: *name == "seen.jpg",
                    })
                };
                FileUpload { path, result }
            })
            .collect()
    }

    async fn open(&self, url: &str) -> Result<(), String> {
        self.call(format!("open {url}"))
    }

    async fn daemon_command(&self, command: DaemonCommand) -> Result<String, String> {
        self.call(format!("daemon {command:?}"))?;
        Ok(match command {
            DaemonCommand::Pause => "sync paused: new files wait in the queue (p resumes)",
            DaemonCommand::Resume => "sync resumed: 0 file(s) waiting to upload",
            DaemonCommand::Rescan => "rescanning the watched folders",
        }
        .to_string())
    }

    async fn follow(&self, report: impl Fn(Action) + Send + Sync) -> String {
        self.calls.lock().unwrap().push("follow".to_string());
        let Some((status, events)) = &self.daemon_events else {
            return "the imgcloud daemon is not running".to_string();
        };
        report(Action::SyncConnected(Box::new(status.clone())));
        for event in events {
            report(Action::SyncEvent(event.clone()));
        }
        "the imgcloud daemon closed the event stream (it stopped)".to_string()
    }
}

/// Runs effects against `backend` until none are left, like the run loop does.
pub async fn drive(state: &mut AppState, backend: &Fake, mut effects: Vec<Effect>) {
    while let Some(effect) = effects.pop() {
        let action = perform(backend, effect).await;
        effects.extend(update(state, action));
    }
}

#[tokio::test]
async fn loading_follows_the_change_feed_across_pages() {
    let backend = Fake {
        pages: Mutex::new(vec![
            ChangePage {
                changes: vec![upsert(1, image("a000000000000001", "a.jpg", 1, 1, &[]))],
                next_since: 1,
                has_more: true,
            },
            ChangePage {
                changes: vec![
                    upsert(2, image("b000000000000002", "b.jpg", 1, 2, &[])),
                    Change::image_purge(3, "a000000000000001".to_string()),
                ],
                next_since: 3,
                has_more: false,
            },
        ]),
        ..Fake::default()
    };
    let mut state = AppState::new(LinkFormat::Url);
    drive(&mut state, &backend, vec![Effect::Load { since: 0 }]).await;
    assert_eq!(*backend.calls.lock().unwrap(), ["changes 0", "changes 1"]);
    assert_eq!(names(&state), ["b.jpg"], "the purge removed a.jpg");
    assert_eq!(state.since, 3);
    assert_eq!(state.loading, Loading::Idle);
    assert_eq!(state.status.as_ref().unwrap().text, "1 image");
}

#[tokio::test]
async fn trash_then_undo_round_trips_through_the_backend() {
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "d");
    let effects = press(&mut state, "y");
    drive(&mut state, &backend, effects).await;
    assert_eq!(state.count(View::Trash), 2);
    let effects = press(&mut state, "u");
    drive(&mut state, &backend, effects).await;
    assert_eq!(state.count(View::Trash), 1);
    assert_eq!(
        *backend.calls.lock().unwrap(),
        ["trash aaaaaaaaaaaaaaa2", "restore aaaaaaaaaaaaaaa2"]
    );
    assert_eq!(state.status.as_ref().unwrap().text, "restored x.jpg");
}

#[tokio::test]
async fn a_failed_delete_keeps_the_image_and_says_why() {
    let backend = Fake {
        fail_trash: true,
        ..Fake::default()
    };
    let mut state = sample();
    press(&mut state, "d");
    let effects = press(&mut state, "y");
    drive(&mut state, &backend, effects).await;
    assert_eq!(state.count(View::Library), 3);
    assert!(state.undo.is_empty());
    let status = state.status.clone().unwrap();
    assert!(status.error);
    assert_eq!(
        status.text,
        "moving aaaaaaaaaaaaaaa2 to the trash failed: HTTP 503"
    );
}

#[tokio::test]
async fn copy_reports_where_the_link_went() {
    let backend = Fake::default();
    let mut state = sample();
    let effects = press(&mut state, "y1");
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        *backend.calls.lock().unwrap(),
        ["copy ![Cat](https://cdn.example.com/i/aaaaaaaaaaaaaaa2/Cat.png)"]
    );
    assert_eq!(
        state.status.as_ref().unwrap().text,
        "copied markdown link of Cat.png to the clipboard"
    );
}

/// 250 library images a day apart (newest: img-249) and one trashed.
fn catalog_images() -> Vec<Image> {
    let mut images: Vec<Image> = (0..250u32)
        .map(|n| {
            let mut image = image(&format!("c{n:015}"), &format!("img-{n:03}.jpg"), 1, 1, &[]);
            image.taken_at = Some(datetime!(2024-01-01 00:00 UTC) + time::Duration::days(n.into()));
            image
        })
        .collect();
    let mut trashed = image("t000000000000001", "gone.png", 1, 1, &[]);
    trashed.deleted_at = Some(datetime!(2024-06-01 10:00 UTC));
    images.push(trashed);
    images
}

/// The first screen as `run` reads it from the catalog: the newest `rows` library images.
fn first_screen(images: &[Image], rows: usize) -> FirstScreen {
    let mut library: Vec<Image> = images
        .iter()
        .filter(|i| i.deleted_at.is_none())
        .cloned()
        .collect();
    library.sort_by_key(|i| std::cmp::Reverse(i.taken_at));
    library.truncate(rows);
    FirstScreen {
        images: library,
        counts: Counts {
            library: 250,
            trash: 1,
        },
        since: 251,
        synced_at: Some(datetime!(2024-06-02 08:15 UTC)),
    }
}

#[tokio::test]
async fn the_catalog_shows_at_once_then_loads_whole_then_syncs_from_its_position() {
    let images = catalog_images();
    let mut renamed = images[249].clone();
    renamed.filename = "renamed.jpg".to_string();
    let backend = Fake {
        catalog: images.clone(),
        pages: Mutex::new(vec![ChangePage {
            changes: vec![upsert(252, renamed)],
            next_since: 252,
            has_more: false,
        }]),
        ..Fake::default()
    };
    let mut state = AppState::new(LinkFormat::Url);
    state.set_page(10);
    let effects = actions::show_catalog(&mut state, first_screen(&images, 10));
    // The first screen: ten rows, but the catalog's counts, and it says where they come from.
    assert_eq!(state.rows.len(), 10);
    assert_eq!(names(&state)[0], "img-249.jpg");
    assert_eq!(state.count(View::Library), 250);
    assert_eq!(state.count(View::Trash), 1);
    let status = state.status.clone().unwrap();
    assert!(!status.error);
    assert_eq!(
        status.text,
        "showing the local catalog, last synced 2024-06-02 08:15 UTC · syncing…"
    );
    assert_eq!(effects, [Effect::LoadCatalog]);
    press(&mut state, "jj");
    drive(&mut state, &backend, effects).await;
    assert_eq!(*backend.calls.lock().unwrap(), ["catalog", "changes 251"]);
    assert_eq!(state.rows.len(), 250, "the whole catalog is loaded");
    assert_eq!(state.count(View::Trash), 1);
    assert_eq!(state.since, 252);
    assert_eq!(state.loading, Loading::Idle);
    assert_eq!(
        names(&state)[0],
        "renamed.jpg",
        "the sync applied the rename"
    );
    assert_eq!(
        state.selected_image().unwrap().filename,
        "img-247.jpg",
        "the cursor stayed on its image"
    );
    assert_eq!(state.status.as_ref().unwrap().text, "1 change");
    // The renamed image sorts and searches by its new name.
    press(&mut state, "s");
    assert_eq!(state.sort, Sort::Name);
    assert_eq!(names(&state).last().unwrap(), &"renamed.jpg");
    press(&mut state, "/RENAMED");
    assert_eq!(names(&state), ["renamed.jpg"]);
}

#[tokio::test]
async fn offline_the_catalog_stays_and_the_status_line_says_so() {
    let images = catalog_images();
    let backend = Fake {
        catalog: images.clone(),
        ..Fake::default()
    };
    let mut state = AppState::new(LinkFormat::Url);
    let effects = actions::show_catalog(&mut state, first_screen(&images, 10));
    drive(&mut state, &backend, effects).await;
    assert_eq!(state.rows.len(), 250);
    assert!(matches!(state.loading, Loading::Failed(_)));
    let status = state.status.clone().unwrap();
    assert!(status.error);
    assert_eq!(
        status.text,
        "offline: local catalog, last synced 2024-06-02 08:15 UTC · \
         server unreachable: no more pages (R retries)"
    );
    // Everything local still works.
    press(&mut state, "/img-00");
    assert_eq!(state.rows.len(), 10);
    hit(&mut state, KeyCode::Esc);
    press(&mut state, "t");
    assert_eq!(names(&state), ["gone.png"]);
}

#[test]
fn changes_keep_the_sort_and_search_keys_current() {
    let mut state = sample();
    press(&mut state, "s");
    assert_eq!(names(&state), ["beach.jpg", "Cat.png", "diagram.webp"]);
    let mut renamed = image("aaaaaaaaaaaaaaa1", "zebra.jpg", 2_500_000, 10, &["striped"]);
    renamed.updated_at = datetime!(2024-06-01 00:00 UTC);
    update(
        &mut state,
        Action::Loaded {
            changes: vec![upsert(9, renamed)],
            next_since: 9,
            more: false,
        },
    );
    assert_eq!(names(&state), ["Cat.png", "diagram.webp", "zebra.jpg"]);
    // Round the sorts (each order is made once, then reused) and back to names.
    press(&mut state, "ss");
    assert_eq!(state.sort, Sort::Date);
    assert_eq!(names(&state), ["Cat.png", "zebra.jpg", "diagram.webp"]);
    press(&mut state, "s");
    assert_eq!(names(&state), ["Cat.png", "diagram.webp", "zebra.jpg"]);
    press(&mut state, "/STRIP");
    assert_eq!(names(&state), ["zebra.jpg"]);
    hit(&mut state, KeyCode::Esc);
    press(&mut state, "/holiday");
    assert!(names(&state).is_empty(), "the old tag no longer matches");
}

#[test]
fn typing_on_narrows_the_matches_and_backspace_widens_them_again() {
    let mut state = AppState::new(LinkFormat::Url);
    let changes = catalog_images()
        .into_iter()
        .enumerate()
        .map(|(i, image)| upsert(i as i64 + 1, image))
        .collect();
    update(
        &mut state,
        Action::Loaded {
            changes,
            next_since: 251,
            more: false,
        },
    );
    press(&mut state, "/img-0");
    assert_eq!(state.rows.len(), 100);
    press(&mut state, "1");
    assert_eq!(state.rows.len(), 10);
    assert_eq!(names(&state)[0], "img-019.jpg", "still newest first");
    press(&mut state, "9");
    assert_eq!(names(&state), ["img-019.jpg"]);
    press(&mut state, "x");
    assert!(names(&state).is_empty());
    hit(&mut state, KeyCode::Backspace);
    hit(&mut state, KeyCode::Backspace);
    assert_eq!(state.rows.len(), 10);
    // A change while searching is found by the next key.
    let mut late = image("late00000000001", "img-015-late.jpg", 1, 1, &[]);
    late.taken_at = Some(datetime!(2030-01-01 00:00 UTC));
    update(
        &mut state,
        Action::Loaded {
            changes: vec![upsert(252, late)],
            next_since: 252,
            more: false,
        },
    );
    press(&mut state, "5");
    assert_eq!(names(&state), ["img-015-late.jpg", "img-015.jpg"]);
    // The trash view is searched afresh.
    hit(&mut state, KeyCode::Esc);
    press(&mut state, "t/g");
    assert_eq!(names(&state), ["gone.png"]);
}
