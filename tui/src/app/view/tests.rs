//! Whole-screen snapshots (ratatui `TestBackend` + insta) at 80×24 and 160×48.

use imgcloud_core::photo_info::PhotoInfo;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::style::Color;

use crate::app::graphics;
use crate::app::preview_loader::encode;
use crate::app::preview_loader::tests::sample_png;
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
    use imgcloud_core::api::Change;

    let mut state = AppState::new(imgcloud_core::links::LinkFormat::Url);
    let changes = (0..100_000)
        .map(|i| {
            let image = image(&format!("id{i:014}"), &format!("img{i:06}.jpg"), 10, 1, &[]);
            Change::image_upsert(i + 1, image)
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
fn upload_prompt_with_completion_candidates() {
    use crate::app::action::{Action, update};
    use crate::app::complete::Completion;

    let mut state = running();
    press(&mut state, "U");
    press(&mut state, "~/Pictures/ho");
    update(
        &mut state,
        Action::Completed(Completion {
            text: "~/Pictures/holiday".to_string(),
            candidates: [
                "holiday-2023/",
                "holiday-2024/",
                "holiday-beach-sunset-panorama.jpg",
                "holiday-cat.png",
                "holiday-dog.jpg",
                "holiday.heic",
            ]
            .map(String::from)
            .to_vec(),
            more: 0,
            problem: None,
        }),
    );
    snapshot("upload_prompt", state);
}

#[test]
fn rename_prompt_with_the_cursor_inside_the_name() {
    use crossterm::event::KeyCode;

    let mut state = running();
    press(&mut state, "n");
    for _ in 0..4 {
        crate::app::tests::hit(&mut state, KeyCode::Left);
    }
    // The terminal's cursor sits on the `.` of `Cat.png` (popup at column 4, border, space).
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    state.set_page(super::list_rows(80, 24, &state));
    terminal.draw(|frame| super::draw(frame, &state)).unwrap();
    let cursor = terminal.get_cursor_position().unwrap();
    let line: String = (0..80)
        .map(|x| {
            terminal.backend().buffer()[(x, cursor.y)]
                .symbol()
                .to_string()
        })
        .collect();
    assert_eq!(line.chars().nth(usize::from(cursor.x)), Some('.'), "{line}");
    snapshot("rename_prompt", state);
}

#[test]
fn sync_panel_with_progress_queue_errors_and_links() {
    use crate::app::action::{Action, update};
    use imgcloud_core::daemon_api::Event;

    let mut state = running();
    press(&mut state, "l");
    let status = crate::app::tests_actions::daemon_status();
    update(&mut state, Action::SyncConnected(Box::new(status)));
    for event in [
        Event::Uploaded {
            path: "/home/ann/Pictures/holiday/IMG_2039.jpg".into(),
            image_id: "i39".into(),
            url: "https://cdn.example.com/i/i39/IMG_2039.jpg".into(),
            link: "![IMG_2039](https://cdn.example.com/i/i39/IMG_2039.jpg)".into(),
            existed: false,
        },
        Event::Uploaded {
            path: "/home/ann/Pictures/holiday/IMG_2040.jpg".into(),
            image_id: "i40".into(),
            url: "https://cdn.example.com/i/i40/IMG_2040.jpg".into(),
            link: "![IMG_2040](https://cdn.example.com/i/i40/IMG_2040.jpg)".into(),
            existed: true,
        },
        Event::Discovered {
            path: "/home/ann/Pictures/holiday/IMG_2042.jpg".into(),
            size: 3_000_000,
        },
        Event::Discovered {
            path: "/home/ann/Pictures/holiday/IMG_2043.jpg".into(),
            size: 3_000_000,
        },
        Event::Progress {
            path: "/home/ann/Pictures/holiday/IMG_2042.jpg".into(),
            bytes_done: 600_000,
            bytes_total: 3_000_000,
        },
        Event::Failed {
            path: "/home/ann/Pictures/holiday/IMG_2044.jpg".into(),
            code: "offline".into(),
            message: "the cloud cannot be reached".into(),
            permanent: false,
            next_attempt_at: None,
        },
    ] {
        update(&mut state, Action::SyncEvent(event));
    }
    snapshot("sync_panel", state);
}

#[test]
fn sync_panel_while_the_daemon_is_down() {
    let mut state = sample();
    state.daemon = Daemon::Down {
        reason: "the imgcloud daemon is not running (no socket at imgcloud/daemon.sock); start it with `imgcloudd`".to_string(),
    };
    press(&mut state, "l");
    snapshot("sync_panel_daemon_down", state);
}

#[test]
fn upload_progress_in_the_status_line() {
    use crate::app::action::{Action, update};
    use imgcloud_core::upload::UploadEvent;

    let mut state = running();
    press(&mut state, "U");
    press(&mut state, "~/Pictures/holiday");
    let effects = crate::app::tests::hit(&mut state, crossterm::event::KeyCode::Enter);
    assert_eq!(effects.len(), 1);
    for (index, done) in [(0, 2_000_000), (1, 500_000)] {
        update(
            &mut state,
            Action::UploadProgress(UploadEvent::Started {
                index,
                path: format!("/p/{index}.jpg").into(),
                bytes: 4_000_000,
            }),
        );
        update(
            &mut state,
            Action::UploadProgress(UploadEvent::Progress {
                index,
                bytes_done: done,
                bytes_total: 4_000_000,
            }),
        );
    }
    snapshot("upload_progress", state);
}

#[test]
fn the_daemon_line_shows_the_upload_in_progress_while_the_panel_is_hidden() {
    use crate::app::action::{Action, update};

    let mut state = running();
    let status = crate::app::tests_actions::daemon_status();
    update(&mut state, Action::SyncConnected(Box::new(status)));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| super::draw(frame, &state)).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(
        screen.contains("sync running · 2 pending · 1 failed · ↑ IMG_2041.jpg 45%"),
        "{screen}"
    );
    press(&mut state, "l");
    terminal.draw(|frame| super::draw(frame, &state)).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(
        !screen.contains("· ↑"),
        "the panel shows it instead: {screen}"
    );
}

#[test]
fn help_on_a_short_terminal_uses_two_columns_and_lists_every_key() {
    let mut state = running();
    press(&mut state, "?");
    let mut terminal = Terminal::new(TestBackend::new(110, 20)).unwrap();
    state.set_page(super::list_rows(110, 20, &state));
    terminal.draw(|frame| super::draw(frame, &state)).unwrap();
    let screen = format!("{}", terminal.backend());
    for (keys, what) in crate::app::keys::HELP {
        assert!(
            screen.contains(&format!("{keys:<14}{what}")),
            "{keys} missing: {screen}"
        );
    }
}

/// The preview as the loader delivers it, made here from a small generated image (red left
/// half, blue right half) for the picture pane of a `width`×`height` terminal, in half-block
/// mode; the camera and date as read from the original.
fn with_preview(state: &mut AppState, width: u16, height: u16, info: Result<PhotoInfo, String>) {
    use crate::app::action::{Action, update};
    let pane = super::picture_area(width, height, state).expect("a picture pane");
    let image = image::load_from_memory(&sample_png(48, 36)).unwrap();
    let picture = encode(&graphics::halfblocks(), &image, (pane.width, pane.height)).unwrap();
    let id = state.selected_image().unwrap().id.clone();
    update(
        state,
        Action::PictureLoaded {
            id: id.clone(),
            result: Ok(picture),
        },
    );
    update(state, Action::PhotoInfoLoaded { id, result: info });
}

/// Snapshots of the preview screen; returns the buffers for further checks.
fn preview_snapshot(
    name: &str,
    state: &AppState,
    info: Result<PhotoInfo, String>,
) -> Vec<(Rect, ratatui::buffer::Buffer)> {
    let mut buffers = Vec::new();
    for (width, height) in [(80, 24), (160, 48)] {
        let mut state = state.clone();
        state.set_page(super::list_rows(width, height, &state));
        with_preview(&mut state, width, height, info.clone());
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| super::draw(frame, &state)).unwrap();
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
        let pane = super::picture_area(width, height, &state).unwrap();
        buffers.push((pane, terminal.backend().buffer().clone()));
    }
    buffers
}

#[test]
fn preview_in_half_blocks() {
    let mut state = running();
    press(&mut state, "j");
    let info = PhotoInfo {
        taken_at: None,
        camera: Some("FUJIFILM X-T4".to_string()),
    };
    for (pane, buffer) in preview_snapshot("preview", &state, Ok(info)) {
        // The picture fills the pane's height or width, centred, drawn in the image's colours:
        // red on the left, blue on the right.
        let rgb = |c: Color| match c {
            Color::Rgb(r, g, b) => Some((r, g, b)),
            _ => None,
        };
        let cells: Vec<(u16, u16)> = (pane.y..pane.bottom())
            .flat_map(|y| (pane.x..pane.right()).map(move |x| (x, y)))
            .filter(|&(x, y)| rgb(buffer[(x, y)].fg).is_some())
            .collect();
        let left = cells.iter().map(|c| c.0).min().unwrap();
        let right = cells.iter().map(|c| c.0).max().unwrap();
        let top = cells.iter().map(|c| c.1).min().unwrap();
        let bottom = cells.iter().map(|c| c.1).max().unwrap();
        let filled_height = top == pane.y && bottom == pane.bottom() - 1;
        let filled_width = left == pane.x && right == pane.right() - 1;
        assert!(
            filled_height || filled_width,
            "{pane:?}: {left}..{right} × {top}..{bottom}"
        );
        assert!(
            (left - pane.x).abs_diff(pane.right() - 1 - right) <= 1
                && (top - pane.y).abs_diff(pane.bottom() - 1 - bottom) <= 1,
            "centred: {pane:?}: {left}..{right} × {top}..{bottom}"
        );
        let (r, _, b) = rgb(buffer[(left, top)].fg).unwrap();
        assert!(r > 150 && b < 60, "red at the top left: {r} {b}");
        let (r, _, b) = rgb(buffer[(right, top)].fg).unwrap();
        assert!(b > 150 && r < 60, "blue at the top right: {r} {b}");
    }
}

#[test]
fn preview_without_exif_and_with_a_failed_fetch() {
    let mut state = running();
    press(&mut state, "j");
    let mut no_date = state.clone();
    let id = no_date.selected_image().unwrap().id.clone();
    let mut image = no_date.image(&id).unwrap().clone();
    image.taken_at = None;
    no_date.put(image);
    preview_snapshot("preview_no_exif", &no_date, Ok(PhotoInfo::default()));
    preview_snapshot(
        "preview_info_failed",
        &state,
        Err("cannot reach the CDN: connection failed".to_string()),
    );
}

#[test]
fn preview_loading_and_failed_picture() {
    use crate::app::action::{Action, update};
    let mut state = running();
    press(&mut state, "j");
    let id = state.selected_image().unwrap().id.clone();
    // Nothing loaded yet.
    snapshot("preview_loading", state.clone());
    update(
        &mut state,
        Action::PictureLoaded {
            id,
            result: Err("no thumbnail: the CDN answered 404".to_string()),
        },
    );
    snapshot("preview_picture_failed", state);
}

#[test]
fn a_picture_of_another_image_is_not_shown() {
    let mut state = running();
    let screen = preview_snapshot_free(&mut state);
    assert!(!screen.contains('▀') && !screen.contains('▄'), "{screen}");
}

/// Loads a preview for the selected image, then moves the cursor: the picture is not drawn.
fn preview_snapshot_free(state: &mut AppState) -> String {
    state.set_page(super::list_rows(80, 24, state));
    with_preview(state, 80, 24, Ok(PhotoInfo::default()));
    press(state, "j");
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| super::draw(frame, state)).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(screen.contains("loading…"), "{screen}");
    screen
}

#[test]
fn without_previews_the_details_take_the_whole_pane() {
    let mut state = running();
    state.preview.protocol = None;
    assert_eq!(super::picture_area(160, 48, &state), None);
    assert_eq!(super::picture_area(80, 24, &state), None);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| super::draw(frame, &state)).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(!screen.contains("Preview"), "{screen}");
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

#[test]
fn details_say_when_the_cloud_cannot_make_a_thumbnail() {
    use imgcloud_core::api::DerivativeState;
    let mut state = running();
    press(&mut state, "j");
    let id = state.selected_image().unwrap().id.clone();
    let screen = |state: &AppState| {
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
        terminal.draw(|frame| super::draw(frame, state)).unwrap();
        format!("{:?}", terminal.backend().buffer())
    };
    assert!(
        !screen(&state).contains("Thumbnail"),
        "nothing to say while pending"
    );
    let mut image = state.image(&id).unwrap().clone();
    image.derivatives = DerivativeState::Broken;
    image.derivatives_error = Some("truncated JPEG file".into());
    state.put(image.clone());
    let shown = screen(&state);
    assert!(
        shown.contains("cannot be made: truncated JPEG file"),
        "{shown}"
    );
    image.derivatives = DerivativeState::Failed;
    image.derivatives_error = Some("object store down".into());
    state.put(image);
    assert!(screen(&state).contains("failed, retrying: object store down"));
}
