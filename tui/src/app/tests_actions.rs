//! State-machine tests of the actions beyond browsing: prompts (rename, tags, upload with
//! completion), open in browser, the custom template, daemon commands, the sync panel's event
//! stream and the mouse; all against the fake backend of [`super::tests`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use imgcloud_core::daemon_api::{Event, FileError, InFlight, QueueCounts, Status};
use imgcloud_core::links::LinkFormat;
use ratatui::layout::Rect;
use time::macros::datetime;

use super::action::{Action, DaemonCommand, Effect, update};
use super::backend::{Backend, follow_daemon, perform, upload};
use super::complete::Completion;
use super::keys::{action_for, mouse_action};
use super::state::{AppState, Overlay, PromptKind};
use super::tests::{Fake, drive, hit, names, press, sample};

fn status_text(state: &AppState) -> (String, bool) {
    let status = state.status.clone().unwrap();
    (status.text, status.error)
}

fn prompt_text(state: &AppState) -> &str {
    state.prompt().expect("a prompt is open").input.text()
}

fn ctrl(state: &mut AppState, c: char) -> Vec<Effect> {
    let action = action_for(
        state,
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
    );
    action.map_or(vec![], |action| update(state, action))
}

/// A daemon status with two files pending, one uploading and one error.
pub fn daemon_status() -> Status {
    Status {
        version: "0.1.0".into(),
        pid: 42,
        server: "https://img.example.com".into(),
        embedded: false,
        online: true,
        paused: false,
        folders: vec![],
        counts: QueueCounts {
            discovered: 1,
            uploading: 1,
            failed: 1,
            ..QueueCounts::default()
        },
        in_flight: vec![InFlight {
            path: "/home/ann/Pictures/holiday/IMG_2041.jpg".into(),
            bytes_done: 1_800_000,
            bytes_total: 4_000_000,
        }],
        recent_errors: vec![FileError {
            path: "/home/ann/Pictures/holiday/notes.pdf".into(),
            code: "not_an_image".into(),
            message: "not an image (PDF document)".into(),
            attempts: 1,
            permanent: true,
            next_attempt_at: None,
            at: datetime!(2024-05-28 10:00 UTC),
        }],
        watch_warning: None,
        last_scan_at: None,
        backup_dir: None,
    }
}

#[tokio::test]
async fn rename_prefills_the_name_and_patches_it() {
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "n");
    assert_eq!(prompt_text(&state), "Cat.png");
    // Keys edit the prompt instead of acting on the list.
    for _ in 0..3 {
        hit(&mut state, KeyCode::Backspace);
    }
    press(&mut state, "jpq");
    assert_eq!(prompt_text(&state), "Cat.jpq");
    assert!(!state.quit, "q was typed, not obeyed");
    hit(&mut state, KeyCode::Backspace);
    press(&mut state, "g");
    let effects = hit(&mut state, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::Patch {
            id: "aaaaaaaaaaaaaaa2".into(),
            filename: Some("Cat.jpg".into()),
            tags: None,
            visibility: None,
            doing: "renaming Cat.png to Cat.jpg".into(),
            done: "renamed Cat.png to Cat.jpg".into(),
        }]
    );
    assert_eq!(state.overlay, None);
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        backend.calls(),
        [r#"patch aaaaaaaaaaaaaaa2 Some("Cat.jpg") None"#]
    );
    assert!(names(&state).contains(&"Cat.jpg"));
    assert_eq!(
        status_text(&state),
        ("renamed Cat.png to Cat.jpg".into(), false)
    );
}

#[test]
fn rename_refuses_empty_names_and_skips_unchanged_ones() {
    let mut state = sample();
    press(&mut state, "n");
    ctrl(&mut state, 'u');
    assert_eq!(prompt_text(&state), "");
    assert!(hit(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(status_text(&state), ("a name cannot be empty".into(), true));
    assert!(state.prompt().is_some(), "the prompt stays open to fix it");
    press(&mut state, "a/b.png");
    assert!(hit(&mut state, KeyCode::Enter).is_empty());
    assert!(status_text(&state).1);
    hit(&mut state, KeyCode::Esc);
    assert_eq!(state.overlay, None, "Esc cancels");
    press(&mut state, "n");
    assert!(hit(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(status_text(&state), ("name unchanged".into(), false));
}

#[tokio::test]
async fn tags_are_edited_comma_separated() {
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "j");
    press(&mut state, "T");
    assert_eq!(prompt_text(&state), "holiday, sea");
    ctrl(&mut state, 'u');
    press(&mut state, " sea, sun,, sea ");
    let effects = hit(&mut state, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Patch { tags: Some(tags), filename: None, .. }] if tags == &["sea", "sun"]),
        "{effects:?}"
    );
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        status_text(&state),
        ("tagged beach.jpg: sea, sun".into(), false)
    );
    let image = state.image("aaaaaaaaaaaaaaa1").unwrap();
    assert_eq!(image.tags, ["sea", "sun"]);
    // Clearing every tag says so.
    press(&mut state, "T");
    ctrl(&mut state, 'u');
    let effects = hit(&mut state, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Patch { tags: Some(tags), done, .. }]
        if tags.is_empty() && done == "removed the tags of x.jpg")
    );
}

#[tokio::test]
async fn v_makes_the_selected_image_private_then_public() {
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "j");
    let effects = press(&mut state, "v");
    drive(&mut state, &backend, effects).await;
    let image = state.image("aaaaaaaaaaaaaaa1").unwrap();
    assert_eq!(image.visibility, imgcloud_core::api::Visibility::Private);
    assert!(
        status_text(&state).0.contains("is private"),
        "{:?}",
        status_text(&state)
    );
    let effects = press(&mut state, "v");
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        state.image("aaaaaaaaaaaaaaa1").unwrap().visibility,
        imgcloud_core::api::Visibility::Public
    );
    assert!(
        backend
            .calls()
            .iter()
            .any(|c| c.starts_with("patch aaaaaaaaaaaaaaa1") && c.ends_with(" private")),
        "{:?}",
        backend.calls()
    );
}

#[tokio::test]
async fn l_shares_the_selected_image_with_its_terms_and_copies_the_link() {
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "j");
    press(&mut state, "L");
    assert_eq!(
        prompt_text(&state),
        "30d",
        "the default expiry, to accept or change"
    );
    ctrl(&mut state, 'u');
    press(&mut state, "7d max=10 nodl label=for Alice");
    let effects = hit(&mut state, KeyCode::Enter);
    drive(&mut state, &backend, effects).await;
    let calls = backend.calls();
    let share = calls.iter().find(|c| c.starts_with("share")).unwrap();
    assert!(
        share.contains("[\"aaaaaaaaaaaaaaa1\"]")
            && share.contains("max=Some(10)")
            && share.contains("download=Some(false)")
            && share.contains("label=Some(\"for Alice\")")
            && !share.contains("expires=None"),
        "{share}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c == "copy https://img.example/s/TOKEN-aaaaaaaaaaaaaaa1"),
        "the link is copied: {calls:?}"
    );
    // A typo keeps the prompt open and says why.
    press(&mut state, "L");
    ctrl(&mut state, 'u');
    press(&mut state, "soon");
    assert!(hit(&mut state, KeyCode::Enter).is_empty());
    assert!(state.prompt().is_some());
    assert!(status_text(&state).1, "an error");
    hit(&mut state, KeyCode::Esc);
    // `pw` asks for a password next, typed hidden; too short stays open.
    press(&mut state, "L");
    ctrl(&mut state, 'u');
    press(&mut state, "7d pw");
    assert!(hit(&mut state, KeyCode::Enter).is_empty());
    assert!(
        matches!(
            state.prompt().map(|p| &p.kind),
            Some(PromptKind::SharePassword { .. })
        ),
        "{:?}",
        state.overlay
    );
    press(&mut state, "short");
    assert!(hit(&mut state, KeyCode::Enter).is_empty());
    assert!(status_text(&state).1, "too short");
    press(&mut state, " but longer");
    let effects = hit(&mut state, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Share { request, .. }] if request.password.as_deref() == Some("short but longer") && request.expires_at.is_some()),
        "{effects:?}"
    );
    // `never` must be said, and is passed on as such.
    press(&mut state, "L");
    ctrl(&mut state, 'u');
    press(&mut state, "never");
    let effects = hit(&mut state, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Share { request, .. }] if request.never_expires && request.expires_at.is_none()),
        "{effects:?}"
    );
}

#[tokio::test]
async fn a_filters_the_list_to_an_album_and_esc_shows_every_image_again() {
    let backend = Fake::default();
    let mut state = sample();
    let all = state.rows.len();
    assert!(all > 1);
    let effects = press(&mut state, "a");
    drive(&mut state, &backend, effects).await;
    assert!(matches!(
        &state.overlay,
        Some(Overlay::Albums { albums, selected: 0 }) if albums.len() == 1
    ));
    press(&mut state, "j");
    let effects = hit(&mut state, KeyCode::Enter);
    drive(&mut state, &backend, effects).await;
    assert_eq!(state.overlay, None);
    assert_eq!(state.album.as_ref().map(|a| a.name.as_str()), Some("Trip"));
    let shown: Vec<&str> = state
        .rows
        .iter()
        .map(|&i| state.images[i].id.as_str())
        .collect();
    assert_eq!(shown, ["aaaaaaaaaaaaaaa1"], "only the album's images");
    // The album changes on another device: the list follows the feed.
    let mut album = Backend::album(&backend, "album0000000001")
        .await
        .unwrap()
        .album;
    album.image_count = 0;
    state.apply_changes(
        vec![imgcloud_core::api::Change {
            entity: imgcloud_core::api::ChangeEntity::Album,
            kind: imgcloud_core::api::ChangeKind::Upsert,
            album: Some(album),
            album_image_ids: Some(vec![]),
            ..imgcloud_core::api::Change::image_purge(99, "album0000000001".into())
        }],
        99,
    );
    assert!(state.rows.is_empty(), "the album is empty now");
    hit(&mut state, KeyCode::Esc);
    assert_eq!(state.album, None);
    assert_eq!(state.rows.len(), all);
}

#[tokio::test]
async fn h_lists_share_links_with_counts_copies_and_revokes() {
    let backend = Fake::default();
    let mut state = sample();
    let effects = press(&mut state, "h");
    drive(&mut state, &backend, effects).await;
    let Some(Overlay::Shares { shares, selected }) = &state.overlay else {
        panic!("the share list is open: {:?}", state.overlay);
    };
    assert_eq!((shares.len(), *selected), (2, 0));
    assert_eq!((shares[0].views, shares[0].visitors), (3, 2));
    // Enter copies the selected link.
    let effects = hit(&mut state, KeyCode::Enter);
    drive(&mut state, &backend, effects).await;
    assert!(
        backend
            .calls()
            .contains(&"copy https://img.example/s/TOKEN-aaaaaaaaaaaaaaa1".to_string()),
        "{:?}",
        backend.calls()
    );
    // x revokes it; the list shows it revoked, and a revoked one is not revoked again.
    let effects = press(&mut state, "x");
    drive(&mut state, &backend, effects).await;
    assert!(
        backend
            .calls()
            .contains(&"revoke share0000000001".to_string())
    );
    let Some(Overlay::Shares { shares, .. }) = &state.overlay else {
        panic!("still open");
    };
    assert_eq!(shares[0].state, imgcloud_core::api::ShareState::Revoked);
    press(&mut state, "j");
    assert!(press(&mut state, "x").is_empty(), "already revoked");
    hit(&mut state, KeyCode::Esc);
    assert_eq!(state.overlay, None);
}

#[tokio::test]
async fn a_failed_patch_says_why() {
    let backend = Fake {
        fail_with: Some("the server answered 500: database is down".into()),
        ..Fake::default()
    };
    let mut state = sample();
    press(&mut state, "n");
    press(&mut state, "x");
    let effects = hit(&mut state, KeyCode::Enter);
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        status_text(&state),
        (
            "renaming Cat.png to Cat.pngx failed: the server answered 500: database is down".into(),
            true
        )
    );
    assert!(
        names(&state).contains(&"Cat.png"),
        "the list keeps the old name"
    );
}

#[tokio::test]
async fn upload_runs_in_the_background_with_progress_and_its_links_can_be_copied() {
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "U");
    assert!(matches!(&state.overlay, Some(Overlay::Prompt(p)) if p.kind == PromptKind::Upload));
    assert!(hit(&mut state, KeyCode::Enter).is_empty(), "no path yet");
    assert!(status_text(&state).1);
    press(&mut state, "/photos");
    assert_eq!(
        hit(&mut state, KeyCode::Tab),
        [Effect::Complete {
            text: "/photos".into()
        }]
    );
    let effects = hit(&mut state, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::Upload {
            text: "/photos".into()
        }]
    );
    assert!(state.upload.is_some());
    assert_eq!(status_text(&state), ("uploading /photos…".into(), false));
    // A second upload waits for the first.
    press(&mut state, "U");
    assert_eq!(state.overlay, None);
    assert!(status_text(&state).1);

    // Run the upload the way the run loop does, collecting its progress.
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reported);
    let done = upload(&backend, "/photos", move |action| {
        sink.lock().unwrap().push(action)
    })
    .await;
    assert_eq!(backend.calls(), ["upload /photos"]);
    let progress: Vec<Action> = reported.lock().unwrap().drain(..).collect();
    let mut texts = Vec::new();
    for action in progress {
        update(&mut state, action);
        texts.push(status_text(&state).0);
    }
    assert_eq!(texts[1], "uploading: 0 done · 1 sending, 50% of 100 B");
    assert!(
        names(&state).contains(&"new.jpg"),
        "a new image shows as soon as it is up"
    );
    assert_eq!(texts.last().unwrap(), "uploading: 2 done · 1 failed");
    update(&mut state, done);
    assert_eq!(state.upload, None);
    assert_eq!(
        status_text(&state),
        (
            "uploaded 1 image, 1 already there, 1 failed (bad.txt: not an image) · Y copies the links"
                .into(),
            true
        )
    );
    assert_eq!(
        state.selected_image().unwrap().filename,
        "new.jpg",
        "the cursor goes to the upload"
    );
    let effects = press(&mut state, "Y");
    assert_eq!(
        effects,
        [Effect::Copy {
            text: "![new](https://cdn.example.com/i/up00000000000000/new.jpg)\n\
                   ![seen](https://cdn.example.com/i/up00000000000001/seen.jpg)"
                .into(),
            what: "2 links of the upload".into(),
        }]
    );
}

/// Files dropped on the terminal arrive as a quoted list: each one is uploaded; a list that
/// cannot be read (an unclosed quote) says why and uploads nothing.
#[tokio::test]
async fn dropped_files_upload_as_a_list() {
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "U");
    press(&mut state, "'/photos/My cat.jpg' /photos/dog\\ 2.jpg");
    let effects = hit(&mut state, KeyCode::Enter);
    let [Effect::Upload { text }] = &effects[..] else {
        panic!("{effects:?}")
    };
    assert_eq!(status_text(&state), ("uploading 2 paths…".into(), false));
    upload(&backend, text, |_| {}).await;
    assert_eq!(
        backend.calls(),
        ["upload /photos/My cat.jpg | /photos/dog 2.jpg"]
    );

    state.upload = None;
    press(&mut state, "U");
    press(&mut state, "'/photos/My cat.jpg");
    let effects = hit(&mut state, KeyCode::Enter);
    let [Effect::Upload { text }] = &effects[..] else {
        panic!("{effects:?}")
    };
    let done = upload(&backend, text, |_| {}).await;
    assert_eq!(backend.calls().len(), 1, "nothing was sent");
    update(&mut state, done);
    let (status, error) = status_text(&state);
    assert!(error && status.contains("' is not closed"), "{status}");
}

#[test]
fn a_paste_goes_to_the_prompt_or_search_or_opens_the_upload_prompt() {
    let prompt_text = |state: &AppState| state.prompt().map(|p| p.input.text().to_string());
    // nothing open: a file manager's copied files open the upload prompt, one path a line
    let mut state = sample();
    update(
        &mut state,
        Action::Paste("/a/My cat.jpg\n/a/b.jpg\n".into()),
    );
    assert!(matches!(&state.overlay, Some(Overlay::Prompt(p)) if p.kind == PromptKind::Upload));
    assert_eq!(prompt_text(&state).unwrap(), "'/a/My cat.jpg' '/a/b.jpg'");
    // while searching: into the query, on one line
    let mut state = sample();
    press(&mut state, "/");
    update(&mut state, Action::Paste("har\nbour".into()));
    assert_eq!(
        (state.overlay.is_none(), state.query.as_str()),
        (true, "har bour")
    );
    // the rename prompt: inserted at the cursor, line breaks as spaces
    let mut state = sample();
    press(&mut state, "n");
    let before = prompt_text(&state).unwrap();
    update(&mut state, Action::Paste("\tx\ny".into()));
    assert_eq!(prompt_text(&state).unwrap(), format!("{before} x y"));
    // an upload already running: nothing opens, and the status says why
    let mut state = sample();
    state.upload = Some(Default::default());
    update(&mut state, Action::Paste("/a/b.jpg".into()));
    assert_eq!(state.overlay, None);
    assert!(status_text(&state).1);
}

#[test]
fn an_upload_where_nothing_went_up_says_why() {
    use super::action::FileUpload;

    let mut state = sample();
    state.upload = Some(Default::default());
    update(
        &mut state,
        Action::UploadDone(vec![FileUpload {
            path: "/photos/missing".into(),
            result: Err("no such file or directory".into()),
        }]),
    );
    assert_eq!(
        status_text(&state),
        (
            "nothing uploaded: missing: no such file or directory".into(),
            true
        )
    );
    assert_eq!(state.upload, None, "another upload can start");
    update(&mut state, Action::UploadDone(vec![]));
    assert_eq!(
        status_text(&state),
        ("nothing uploaded: no image files there".into(), true)
    );
    assert!(press(&mut state, "Y").is_empty(), "no links to copy");
}

#[test]
fn copying_upload_links_before_any_upload_says_so() {
    let mut state = sample();
    assert!(press(&mut state, "Y").is_empty());
    assert_eq!(
        status_text(&state),
        ("no upload in this session yet (U uploads)".into(), true)
    );
}

#[tokio::test]
async fn tab_completes_the_upload_path_from_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["holiday-1.jpg", "holiday-2.jpg"] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    let backend = Fake::default();
    let mut state = sample();
    press(&mut state, "U");
    press(&mut state, &format!("{}/h", dir.path().display()));
    let effects = hit(&mut state, KeyCode::Tab);
    drive(&mut state, &backend, effects).await;
    let prompt = state.prompt().unwrap();
    assert_eq!(
        prompt.input.text(),
        format!("{}/holiday-", dir.path().display())
    );
    assert_eq!(prompt.candidates, ["holiday-1.jpg", "holiday-2.jpg"]);
    // Typing narrows and clears the stale candidates; Tab again completes the one left.
    press(&mut state, "2");
    assert!(state.prompt().unwrap().candidates.is_empty());
    let effects = hit(&mut state, KeyCode::Tab);
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        prompt_text(&state),
        format!("{}/holiday-2.jpg", dir.path().display())
    );
    // Nothing matching: the text stays, the status line says why.
    press(&mut state, "zz");
    update(
        &mut state,
        Action::Completed(Completion {
            text: "unchanged".into(),
            candidates: vec![],
            more: 0,
            problem: Some("nothing in /x starts with “zz”".into()),
        }),
    );
    assert!(status_text(&state).1);
    // A completion arriving after the prompt closed changes nothing.
    hit(&mut state, KeyCode::Esc);
    let effects = perform(&backend, Effect::Complete { text: "/".into() }).await;
    update(&mut state, effects);
    assert_eq!(state.overlay, None);
}

#[test]
fn the_configured_template_is_offered_in_the_picker() {
    let mut state = sample();
    state.formats = AppState::new(LinkFormat::Markdown)
        .with_template(Some("{name} <{url}>"))
        .formats;
    assert_eq!(
        state.formats.last(),
        Some(&LinkFormat::Custom("{name} <{url}>".into()))
    );
    let effects = press(&mut state, "y5");
    assert!(
        matches!(&effects[..], [Effect::Copy { text, what }]
            if text == "Cat <https://cdn.example.com/i/aaaaaaaaaaaaaaa2/Cat.png>"
            && what == "custom:{name} <{url}> link of Cat.png"),
        "{effects:?}"
    );
    // Already the default: listed once. No template: nothing added.
    let custom = LinkFormat::Custom("{url}".into());
    let state = AppState::new(custom.clone()).with_template(Some("{url}"));
    assert_eq!(state.formats.iter().filter(|f| **f == custom).count(), 1);
    assert_eq!(
        AppState::new(LinkFormat::Url)
            .with_template(None)
            .formats
            .len(),
        4
    );
}

#[tokio::test]
async fn open_sends_the_link_to_the_browser_and_reports_failures() {
    let backend = Fake::default();
    let mut state = sample();
    let effects = press(&mut state, "o");
    assert_eq!(
        effects,
        [Effect::Open {
            url: "https://cdn.example.com/i/aaaaaaaaaaaaaaa2/Cat.png".into(),
            what: "Cat.png".into(),
        }]
    );
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        status_text(&state),
        ("opened Cat.png in the browser".into(), false)
    );
    let failing = Fake {
        fail_with: Some("cannot run xdg-open: No such file or directory".into()),
        ..Fake::default()
    };
    let effects = press(&mut state, "o");
    drive(&mut state, &failing, effects).await;
    assert_eq!(
        status_text(&state),
        (
            "cannot open Cat.png in the browser: cannot run xdg-open: No such file or directory"
                .into(),
            true
        )
    );
}

#[tokio::test]
async fn p_toggles_pause_and_s_rescans_through_the_daemon() {
    let backend = Fake::default();
    let mut state = sample();
    state.daemon = super::state::Daemon::Running {
        summary: "sync running · 2 pending".into(),
    };
    let effects = press(&mut state, "p");
    assert_eq!(effects, [Effect::Daemon(DaemonCommand::Pause)]);
    drive(&mut state, &backend, effects).await;
    assert!(state.sync.paused);
    assert!(status_text(&state).0.starts_with("sync paused"));
    assert_eq!(
        state.daemon,
        super::state::Daemon::Running {
            summary: "sync paused · 2 pending".into()
        },
        "the sync line says so before the next poll"
    );
    // A pause from elsewhere (`imgcloud resume`) arrives as an event.
    update(&mut state, Action::SyncEvent(Event::Resumed));
    assert!(!state.sync.paused);
    assert!(
        matches!(&state.daemon, super::state::Daemon::Running { summary } if summary == "sync running · 2 pending")
    );
    update(&mut state, Action::SyncEvent(Event::Paused));
    let effects = press(&mut state, "p");
    assert_eq!(effects, [Effect::Daemon(DaemonCommand::Resume)]);
    drive(&mut state, &backend, effects).await;
    assert!(!state.sync.paused);
    let effects = press(&mut state, "S");
    drive(&mut state, &backend, effects).await;
    assert_eq!(
        backend.calls(),
        ["daemon Pause", "daemon Resume", "daemon Rescan"]
    );
    assert_eq!(
        status_text(&state),
        ("rescanning the watched folders".into(), false)
    );

    let down = Fake {
        fail_with: Some("the imgcloud daemon is not running; start it with `imgcloudd`".into()),
        ..Fake::default()
    };
    let effects = press(&mut state, "p");
    drive(&mut state, &down, effects).await;
    assert_eq!(
        status_text(&state),
        (
            "the imgcloud daemon is not running; start it with `imgcloudd`".into(),
            true
        )
    );
    assert!(!state.sync.paused, "nothing changed");
}

/// Runs [`follow_daemon`] until it has opened the stream twice (it retried), collecting what
/// it reports.
async fn follow_until_retried(backend: &Fake) -> Vec<Action> {
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reported);
    let follow = follow_daemon(
        backend,
        move |action| sink.lock().unwrap().push(action),
        Duration::from_millis(5),
    );
    let retried = async {
        while backend.calls().len() < 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::select! {
        () = follow => unreachable!("follow_daemon runs until dropped"),
        result = tokio::time::timeout(Duration::from_secs(10), retried) => {
            result.expect("the stream was not opened again within 10 s")
        }
    }
    reported.lock().unwrap().drain(..).collect()
}

#[tokio::test]
async fn the_event_stream_feeds_the_sync_panel_and_reconnects() {
    let backend = Fake {
        daemon_events: Some((
            daemon_status(),
            vec![
                Event::Progress {
                    path: "/home/ann/Pictures/holiday/IMG_2041.jpg".into(),
                    bytes_done: 4_000_000,
                    bytes_total: 4_000_000,
                },
                Event::Uploaded {
                    path: "/home/ann/Pictures/holiday/IMG_2041.jpg".into(),
                    image_id: "i1".into(),
                    url: "https://cdn.example.com/i/i1/IMG_2041.jpg".into(),
                    link: "https://cdn.example.com/i/i1/IMG_2041.jpg".into(),
                    existed: false,
                },
            ],
        )),
        ..Fake::default()
    };
    let actions = follow_until_retried(&backend).await;
    assert!(matches!(actions[0], Action::SyncConnected(_)));
    assert!(matches!(actions[3], Action::SyncLost(ref reason) if reason.contains("stopped")));
    assert!(
        matches!(actions[4], Action::SyncConnected(_)),
        "reconnected"
    );

    let mut state = sample();
    for action in actions.into_iter().take(3) {
        update(&mut state, action);
    }
    assert!(state.sync.connected);
    assert_eq!(
        state.daemon,
        super::state::Daemon::Running {
            summary: "sync running · 2 pending · 1 failed".into()
        },
        "a connection also says the daemon runs"
    );
    assert!(state.sync.transfers.is_empty());
    assert_eq!(
        state.sync.links[0].link,
        "https://cdn.example.com/i/i1/IMG_2041.jpg"
    );
    assert_eq!(state.sync.errors[0].message, "not an image (PDF document)");
    update(&mut state, Action::SyncLost("the daemon stopped".into()));
    assert!(!state.sync.connected);
    assert_eq!(state.sync.links.len(), 1, "the links seen stay");
}

#[tokio::test]
async fn a_daemon_that_is_not_running_is_retried_quietly() {
    let backend = Fake::default();
    let actions = follow_until_retried(&backend).await;
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(backend.calls()[..2], ["follow", "follow"]);
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

#[test]
fn the_wheel_scrolls_and_a_click_selects_then_copies() {
    let mut state = sample();
    // The list at rows 1..=10 of the screen; row 1 is the column header.
    let list = Rect::new(0, 1, 80, 10);
    let click = |state: &AppState, row| {
        mouse_action(
            state,
            mouse(MouseEventKind::Down(MouseButton::Left), 5, row),
            list,
        )
    };
    assert!(click(&state, 1).is_none(), "the header is not a row");
    assert!(click(&state, 9).is_none(), "below the last image");
    let action = click(&state, 3).unwrap();
    assert!(update(&mut state, action).is_empty());
    assert_eq!(state.selected_image().unwrap().filename, "beach.jpg");
    // A second click on the selected row copies its link in the configured format.
    let action = click(&state, 3).unwrap();
    let effects = update(&mut state, action);
    assert!(matches!(&effects[..], [Effect::Copy { text, .. }]
        if text == "![beach](https://cdn.example.com/i/aaaaaaaaaaaaaaa1/beach.jpg)"));

    let down = mouse_action(&state, mouse(MouseEventKind::ScrollDown, 5, 5), list).unwrap();
    update(&mut state, down);
    assert_eq!(state.selected, 2, "clamped at the last row");
    let up = mouse_action(&state, mouse(MouseEventKind::ScrollUp, 5, 5), list).unwrap();
    update(&mut state, up);
    assert_eq!(state.selected, 0);

    // Windows take no mouse input.
    press(&mut state, "?");
    assert!(click(&state, 3).is_none());
    assert!(mouse_action(&state, mouse(MouseEventKind::ScrollDown, 5, 5), list).is_none());
}

#[test]
fn a_click_lands_on_the_row_drawn_there_when_scrolled() {
    let mut state = sample();
    state.set_page(2);
    press(&mut state, "G");
    assert_eq!(state.offset, 1);
    let list = Rect::new(0, 1, 80, 3);
    let action = mouse_action(
        &state,
        mouse(MouseEventKind::Down(MouseButton::Left), 0, 2),
        list,
    );
    assert!(
        matches!(action, Some(Action::Click { row: 1 })),
        "{action:?}"
    );
}

#[test]
fn the_list_area_matches_where_rows_are_drawn() {
    let state = sample();
    let area = super::view::list_area(80, 24, &state);
    assert_eq!((area.x, area.y), (0, 1));
    assert_eq!(
        usize::from(area.height - 1),
        super::view::list_rows(80, 24, &state)
    );
}
