//! Whole-screen snapshots (ratatui `TestBackend` + insta) at 80×24 and 160×48.

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::app::state::{AppState, Daemon};
use crate::app::tests::{press, sample};

/// Draws `state` on a `width`×`height` test terminal and snapshots it as `name_WxH`.
fn snapshot(name: &str, mut state: AppState) {
    for (width, height) in [(80, 24), (160, 48)] {
        state.set_page(super::list_rows(width, height, &state));
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| super::draw(frame, &state)).unwrap();
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

fn running() -> AppState {
    let mut state = sample();
    state.daemon = Daemon::Running {
        summary: "sync running · 2 pending".to_string(),
    };
    state
}

#[test]
fn library() {
    snapshot("library", running());
}

#[test]
fn library_without_details() {
    let mut state = running();
    press(&mut state, "i");
    snapshot("library_without_details", state);
}

#[test]
fn search() {
    let mut state = running();
    press(&mut state, "/hol");
    snapshot("search", state);
}

#[test]
fn details_of_a_tagged_image() {
    let mut state = running();
    press(&mut state, "j");
    snapshot("details", state);
}

#[test]
fn trash() {
    let mut state = running();
    press(&mut state, "t");
    snapshot("trash", state);
}

#[test]
fn help() {
    let mut state = running();
    press(&mut state, "?");
    snapshot("help", state);
}

#[test]
fn format_picker() {
    let mut state = running();
    press(&mut state, "yj");
    snapshot("format_picker", state);
}

#[test]
fn delete_confirmation() {
    let mut state = running();
    press(&mut state, "d");
    snapshot("delete_confirmation", state);
}

#[test]
fn daemon_down() {
    let mut state = sample();
    state.daemon = Daemon::Down {
        reason: "the imgcloud daemon is not running (no socket at imgcloud/daemon.sock); start it with `imgcloudd`".to_string(),
    };
    snapshot("daemon_down", state);
}

#[test]
fn empty_library_while_loading() {
    let state = AppState::new(imgcloud_core::links::LinkFormat::Url);
    snapshot("loading", state);
}

#[test]
fn error_in_the_status_line() {
    let mut state = running();
    press(&mut state, "r");
    snapshot("status_error", state);
}

#[test]
fn a_large_library_draws_the_rows_around_the_cursor() {
    use crate::app::action::{Action, update};
    use crate::app::tests::image;
    use imgcloud_core::api::{Change, ChangeKind};

    let mut state = AppState::new(imgcloud_core::links::LinkFormat::Url);
    let changes = (0..100_000)
        .map(|i| {
            let image = image(&format!("id{i:014}"), &format!("img{i:06}.jpg"), 10, 1, &[]);
            Change {
                seq: i + 1,
                kind: ChangeKind::Upsert,
                image_id: image.id.clone(),
                image: Some(image),
            }
        })
        .collect();
    update(
        &mut state,
        Action::Loaded {
            changes,
            next_since: 100_000,
            more: false,
        },
    );
    press(&mut state, "s");
    state.set_page(super::list_rows(80, 24, &state));
    press(&mut state, "G");
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| super::draw(frame, &state)).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(screen.contains("▶ img099999.jpg"), "{screen}");
    assert!(screen.contains("img099990.jpg"));
    assert!(!screen.contains("img000000.jpg"));
}

#[test]
fn offline_with_the_local_catalog() {
    use crate::app::action::{Action, show_catalog, update};
    use crate::app::local::FirstScreen;
    use imgcloud_core::catalog::Counts;

    let library = sample();
    let mut state = AppState::new(imgcloud_core::links::LinkFormat::Url);
    let first: Vec<_> = library
        .rows
        .iter()
        .map(|&i| library.images[i].clone())
        .collect();
    show_catalog(
        &mut state,
        FirstScreen {
            images: first,
            counts: Counts {
                library: 3,
                trash: 1,
            },
            since: 4,
            synced_at: Some(time::macros::datetime!(2024-06-02 08:15 UTC)),
        },
    );
    update(
        &mut state,
        Action::LoadFailed("cannot connect to https://img.example.com".to_string()),
    );
    snapshot("offline_catalog", state);
}
