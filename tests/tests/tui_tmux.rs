//! The full-screen TUI (`imgcloud` with no subcommand) driven like a person would, in a real
//! terminal: tmux sends the keys and captures the screen. The images come from the real
//! `imgcloud upload` into an embedded cloud; every change made in the TUI is checked through
//! `imgcloud ls --json`.

use std::time::Duration;

use imgcloud_tests::tmux::Tmux;
use imgcloud_tests::{EmbeddedCloud, bins, jpeg, png};

/// Waits on a busy machine: the first screen needs the cloud's change feed.
const FIRST_SCREEN: Duration = Duration::from_secs(60);
const STEP: Duration = Duration::from_secs(30);

const SUNSET: &str = "sunset-harbour.jpg";
const CITY: &str = "city-lights.png";
const FOREST: &str = "forest-walk.jpg";

#[test]
fn tui_in_tmux_searches_copies_a_link_trashes_restores_and_gives_the_terminal_back() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    cloud.write_file(CITY, &png(320, 200, 71));
    cloud.write_file(SUNSET, &jpeg(640, 400, 72));
    cloud.write_file(FOREST, &jpeg(400, 640, 73));
    let upload = cloud.run_cli(&["upload", CITY, SUNSET, FOREST]);
    upload.assert_success();
    assert_eq!(upload.lines().len(), 3, "{upload}");
    let library = list(&cloud, false);
    let sunset = library
        .iter()
        .find(|i| i["filename"] == SUNSET)
        .unwrap_or_else(|| panic!("{SUNSET} missing from ls --json: {library:?}"));
    let id = sunset["id"].as_str().expect("id").to_string();
    let url = sunset["url"].as_str().expect("url").to_string();

    // SSH_* set: the TUI must copy with OSC 52 (to the terminal, here tmux) and not try the
    // system clipboard; there is no DISPLAY either.
    let mut env = cloud.env();
    env.push(("SSH_TTY".into(), "/dev/pts/imgcloud-e2e".into()));
    env.push((
        "SSH_CONNECTION".into(),
        "127.0.0.1 50000 127.0.0.1 22".into(),
    ));
    let tmux = Tmux::start(120, 40, &env).expect("start tmux");
    let imgcloud = bins::binary("imgcloud").expect("imgcloud binary");
    let imgcloud = imgcloud.to_str().expect("UTF-8 binary path");
    // In a shell, so the pane outlives the TUI and shows what it left behind.
    tmux.type_text(&format!(
        "{} ; echo \"imgcloud exited with $?\"",
        shell_quote(imgcloud)
    ))
    .unwrap();
    tmux.press(&["Enter"]).unwrap();

    // The library lists the three images, on the alternate screen.
    tmux.wait_for("the library listing the three images", FIRST_SCREEN, |s| {
        [SUNSET, CITY, FOREST].iter().all(|name| s.contains(name))
    })
    .unwrap();
    assert_eq!(tmux.pane_format("#{alternate_on}").unwrap(), "1");

    // Incremental search: typed in one burst, as a fast typist or a paste would.
    tmux.type_text("/harbour").unwrap();
    tmux.wait_for("the search to leave only the sunset", STEP, |s| {
        s.contains(&format!("▶ {SUNSET}")) && !s.contains(CITY) && !s.contains(FOREST)
    })
    .unwrap();
    tmux.press(&["Enter"]).unwrap();

    // Copy the link: picker, Enter takes the configured format (url). Over "SSH" it goes out
    // as OSC 52, which tmux (set-clipboard on) turns into a paste buffer.
    assert_eq!(tmux.buffer(), None, "no paste buffer before the copy");
    tmux.press(&["y", "Enter"]).unwrap();
    let copied = tmux
        .poll("the link in tmux's paste buffer (OSC 52)", STEP, || {
            Ok(tmux.buffer())
        })
        .unwrap();
    assert_eq!(copied, url, "the copied link is the image's link");
    tmux.wait_for("the status line naming OSC 52", STEP, |s| {
        s.contains("OSC 52")
    })
    .unwrap();

    // Delete with confirmation: the image is in the trash on the server.
    tmux.press(&["d", "y"]).unwrap();
    tmux.poll("the sunset in the server's trash", STEP, || {
        Ok(ids(&list(&cloud, true)).contains(&id).then_some(()))
    })
    .unwrap();
    let left = ids(&list(&cloud, false));
    assert_eq!(left.len(), 2, "the other two stay in the library: {left:?}");
    assert!(!left.contains(&id), "{left:?}");

    // The trash view shows it; `r` restores it on the server.
    tmux.press(&["t"]).unwrap();
    tmux.wait_for("the trash view with the sunset selected", STEP, |s| {
        title(s).contains("Trash") && s.contains(&format!("▶ {SUNSET}"))
    })
    .unwrap();
    tmux.press(&["r"]).unwrap();
    tmux.poll("the sunset back in the server's library", STEP, || {
        let back = ids(&list(&cloud, false)).contains(&id);
        Ok((back && !ids(&list(&cloud, true)).contains(&id)).then_some(()))
    })
    .unwrap();

    // Visibility and a share link, from the keyboard. (Still in the trash view, the sunset
    // selected is gone from it: the library first.)
    tmux.press(&["t"]).unwrap();
    tmux.wait_for("the library view with the sunset", STEP, |s| {
        title(s).contains("Library") && s.contains(&format!("▶ {SUNSET}"))
    })
    .unwrap();
    let visibility = |cloud: &EmbeddedCloud| {
        list(cloud, false)
            .into_iter()
            .find(|i| i["id"] == id.as_str())
            .map(|i| i["visibility"].as_str().unwrap_or("").to_string())
    };
    tmux.press(&["v"]).unwrap();
    tmux.poll("the sunset private on the server", STEP, || {
        Ok((visibility(&cloud).as_deref() == Some("private")).then_some(()))
    })
    .unwrap();
    // `v` toggles what the screen shows: wait until it shows the answer, or the next press
    // would ask for private again.
    tmux.wait_for("the TUI showing the sunset private", STEP, |s| {
        s.contains(&format!("{SUNSET} is private"))
    })
    .unwrap();
    tmux.press(&["v"]).unwrap();
    tmux.poll("the sunset public again", STEP, || {
        Ok((visibility(&cloud).as_deref() == Some("public")).then_some(()))
    })
    .unwrap();
    tmux.press(&["L"]).unwrap();
    tmux.wait_for("the share prompt", STEP, |s| s.contains("Share link"))
        .unwrap();
    tmux.press(&["C-u"]).unwrap();
    tmux.type_text("7d max=3 label=from tmux").unwrap();
    tmux.press(&["Enter"]).unwrap();
    let share_url = tmux
        .poll("the share link in tmux's paste buffer", STEP, || {
            Ok(tmux.buffer().filter(|b| b.contains("/s/")))
        })
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = |url: &str| runtime.block_on(imgcloud_tests::fetch(url)).unwrap().status;
    assert_eq!(status(&share_url), 200, "the share page opens");
    tmux.press(&["h"]).unwrap();
    tmux.wait_for("the share list with the new link", STEP, |s| {
        s.contains("Share links") && s.contains("from tmux") && s.contains("active")
    })
    .unwrap();
    tmux.press(&["x"]).unwrap();
    tmux.wait_for("the link revoked in the list", STEP, |s| {
        s.contains("revoked")
    })
    .unwrap();
    assert_eq!(status(&share_url), 410, "a revoked link answers 410");
    tmux.press(&["Escape"]).unwrap();

    // An album made elsewhere (the CLI): `a` shows only its images, Esc everything again.
    cloud
        .run_cli(&["album", "create", "Harbour walks"])
        .assert_success();
    cloud
        .run_cli(&["album", "add", "Harbour walks", &id])
        .assert_success();
    tmux.press(&["a"]).unwrap();
    tmux.wait_for("the album picker", STEP, |s| {
        s.contains("Every image") && s.contains("Harbour walks")
    })
    .unwrap();
    tmux.press(&["j", "Enter"]).unwrap();
    tmux.wait_for("only the album's image", STEP, |s| {
        title(s).contains("album: Harbour walks") && s.contains(SUNSET) && !s.contains(CITY)
    })
    .unwrap();
    // Esc clears the search first (still "harbour"), then the album.
    tmux.press(&["Escape"]).unwrap();
    tmux.wait_for("the search cleared, the album kept", STEP, |s| {
        title(s).contains("album: Harbour walks") && !title(s).contains("search:")
    })
    .unwrap();
    tmux.press(&["Escape"]).unwrap();
    tmux.wait_for("every image again", STEP, |s| {
        !title(s).contains("album:") && s.contains(CITY)
    })
    .unwrap();

    // The search cleared: all three again.
    tmux.press(&["Escape"]).unwrap();
    tmux.wait_for("the search cleared", STEP, |s| {
        [SUNSET, CITY, FOREST].iter().all(|name| s.contains(name))
    })
    .unwrap();

    // Files dropped on the terminal (a bracketed paste of their quoted paths, one with a space
    // in its name) open the upload prompt with them; Enter uploads both. Then a file manager's
    // copied files, one path a line.
    let dropped = [
        cloud.write_file("drop/night market.png", &png(300, 200, 74)),
        cloud.write_file("drop/tide.jpg", &jpeg(300, 200, 75)),
    ];
    let quoted: Vec<String> = dropped
        .iter()
        .map(|p| format!("'{}'", p.display()))
        .collect();
    tmux.paste(&format!("{} ", quoted.join(" "))).unwrap();
    tmux.wait_for("the upload prompt holding the dropped paths", STEP, |s| {
        s.contains("night market.png") && s.contains("tide.jpg")
    })
    .unwrap();
    tmux.press(&["Enter"]).unwrap();
    tmux.poll("both dropped files in the server's library", STEP, || {
        Ok((list(&cloud, false).len() == 5).then_some(()))
    })
    .unwrap();
    let copied = [
        cloud.write_file("copied/low tide.png", &png(280, 200, 76)),
        cloud.write_file("copied/dunes.jpg", &jpeg(280, 200, 77)),
    ];
    tmux.wait_for("the first upload done", STEP, |s| s.contains("uploaded 2"))
        .unwrap();
    let lines: Vec<String> = copied.iter().map(|p| p.display().to_string()).collect();
    tmux.paste(&format!("{}\n", lines.join("\n"))).unwrap();
    tmux.wait_for("the upload prompt holding the copied paths", STEP, |s| {
        s.contains("low tide.png") && s.contains("dunes.jpg")
    })
    .unwrap();
    tmux.press(&["Enter"]).unwrap();
    tmux.poll("both copied files in the server's library", STEP, || {
        Ok((list(&cloud, false).len() == 7).then_some(()))
    })
    .unwrap();
    let names: Vec<String> = list(&cloud, false)
        .iter()
        .filter_map(|i| i["filename"].as_str().map(str::to_string))
        .collect();
    for name in ["night market.png", "tide.jpg", "low tide.png", "dunes.jpg"] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    tmux.wait_for("the second upload done", STEP, |s| s.contains("uploaded 2"))
        .unwrap();

    // Quit: exit code 0, the shell's screen back, cursor shown, line discipline cooked again.
    tmux.press(&["q"]).unwrap();
    let screen = tmux
        .wait_for("the shell after the TUI quit", STEP, |s| {
            s.lines().any(|l| l.starts_with("imgcloud exited with "))
        })
        .unwrap();
    assert!(
        screen.lines().any(|l| l == "imgcloud exited with 0"),
        "exit code 0:\n{screen}"
    );
    assert_eq!(tmux.pane_format("#{alternate_on}").unwrap(), "0");
    assert_eq!(
        tmux.pane_format("#{cursor_flag}").unwrap(),
        "1",
        "cursor visible"
    );
    assert!(
        [SUNSET, CITY, FOREST]
            .iter()
            .all(|name| !screen.contains(name)),
        "nothing of the TUI stays on the normal screen:\n{screen}"
    );
    // A typed command echoes and runs on Enter only with the terminal out of raw mode.
    tmux.type_text("echo cooked-$((6 * 7))").unwrap();
    tmux.press(&["Enter"]).unwrap();
    tmux.wait_for("the shell to run a typed command", STEP, |s| {
        s.lines().any(|l| l == "cooked-42")
    })
    .unwrap();
}

/// `imgcloud ls --json` (or `--trash`) as parsed images.
fn list(cloud: &EmbeddedCloud, trash: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["ls", "--json"];
    if trash {
        args.push("--trash");
    }
    let out = cloud.run_cli(&args);
    out.assert_success();
    out.json().as_array().cloned().unwrap_or_default()
}

fn ids(images: &[serde_json::Value]) -> Vec<String> {
    images
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

/// The TUI's title bar: the screen's first line.
fn title(screen: &str) -> &str {
    screen.lines().next().unwrap_or_default()
}

/// `text` as one single-quoted `sh` word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
