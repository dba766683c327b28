use std::fs;
use std::io::Write;

use notify::event::{DataChange, Flag, RemoveKind};

use super::*;

const WAIT: Duration = Duration::from_secs(5);

struct Setup {
    _base: tempfile::TempDir,
    watched: PathBuf,
    outside: PathBuf,
    rx: mpsc::UnboundedReceiver<WatchEvent>,
    _watcher: Watcher,
}

/// A watched folder and a folder beside it (same filesystem, so moves are renames).
fn setup() -> Setup {
    let base = tempfile::tempdir().unwrap();
    let watched = base.path().join("watched");
    let outside = base.path().join("outside");
    fs::create_dir(&watched).unwrap();
    fs::create_dir(&outside).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = Watcher::new(tx).unwrap();
    watcher.watch(&watched, true).unwrap();
    Setup {
        _base: base,
        watched,
        outside,
        rx,
        _watcher: watcher,
    }
}

/// Events until `pred` matches one (included), or panics after [`WAIT`].
fn until(
    rx: &mut mpsc::UnboundedReceiver<WatchEvent>,
    pred: impl Fn(&WatchEvent) -> bool,
) -> Vec<WatchEvent> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(ev) => {
                let done = pred(&ev);
                seen.push(ev);
                if done {
                    return seen;
                }
            }
            Err(_) if Instant::now() > deadline => panic!("event not seen; got {seen:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Events arriving within `d`.
fn drain_for(rx: &mut mpsc::UnboundedReceiver<WatchEvent>, d: Duration) -> Vec<WatchEvent> {
    let deadline = Instant::now() + d;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.try_recv() {
            Ok(ev) => seen.push(ev),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    seen
}

#[test]
fn a_copied_file_is_changed_then_closed() {
    let mut s = setup();
    let src = s.outside.join("src.png");
    fs::write(&src, vec![7u8; 300_000]).unwrap();
    let dst = s.watched.join("a.png");
    fs::copy(&src, &dst).unwrap();
    let seen = until(&mut s.rx, |e| *e == WatchEvent::Closed(dst.clone()));
    assert_eq!(seen[0], WatchEvent::Changed(dst.clone()), "{seen:?}");
}

#[test]
fn a_file_moved_in_is_closed_and_moved_out_is_removed() {
    let mut s = setup();
    let src = s.outside.join("b.png");
    fs::write(&src, b"png").unwrap();
    let dst = s.watched.join("b.png");
    fs::rename(&src, &dst).unwrap();
    let seen = until(&mut s.rx, |e| *e == WatchEvent::Closed(dst.clone()));
    assert_eq!(seen, [WatchEvent::Closed(dst.clone())]);

    let renamed = s.watched.join("c.png");
    fs::rename(&dst, &renamed).unwrap();
    let seen = until(&mut s.rx, |e| *e == WatchEvent::Closed(renamed.clone()));
    assert_eq!(
        seen,
        [
            WatchEvent::Removed(dst.clone()),
            WatchEvent::Closed(renamed.clone())
        ]
    );

    fs::rename(&renamed, s.outside.join("c.png")).unwrap();
    let seen = until(&mut s.rx, |e| matches!(e, WatchEvent::Removed(_)));
    assert_eq!(seen, [WatchEvent::Removed(renamed)]);
}

#[test]
fn a_new_directory_appears_and_its_files_are_watched() {
    let mut s = setup();
    let dir = s.watched.join("2024");
    fs::create_dir(&dir).unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::DirAppeared(dir.clone()));
    // Once the directory's watch is in place its files are seen.
    std::thread::sleep(Duration::from_millis(100));
    let file = dir.join("x.png");
    fs::write(&file, b"x").unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::Closed(file.clone()));

    // A directory moved in (with files already inside) appears as a directory.
    let moved = s.outside.join("trip");
    fs::create_dir(&moved).unwrap();
    fs::write(moved.join("y.png"), b"y").unwrap();
    let target = s.watched.join("trip");
    fs::rename(&moved, &target).unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::DirAppeared(target.clone()));
    std::thread::sleep(Duration::from_millis(100));
    let later = target.join("z.png");
    fs::write(&later, b"z").unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::Closed(later.clone()));
}

#[test]
fn existing_and_moved_in_subtrees_are_watched_to_the_bottom() {
    let base = tempfile::tempdir().unwrap();
    let watched = base.path().join("watched");
    fs::create_dir_all(watched.join("2023/summer/beach")).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = Watcher::new(tx).unwrap();
    watcher.watch(&watched, true).unwrap();
    let deep = watched.join("2023/summer/beach/a.png");
    fs::write(&deep, b"a").unwrap();
    until(&mut rx, |e| *e == WatchEvent::Closed(deep.clone()));

    // A tree moved in: its deepest directory is watched once the move is seen.
    let outside = base.path().join("outside");
    fs::create_dir_all(outside.join("trip/day1/morning")).unwrap();
    let target = watched.join("trip");
    fs::rename(outside.join("trip"), &target).unwrap();
    until(&mut rx, |e| *e == WatchEvent::DirAppeared(target.clone()));
    std::thread::sleep(Duration::from_millis(100));
    let later = target.join("day1/morning/b.png");
    fs::write(&later, b"b").unwrap();
    until(&mut rx, |e| *e == WatchEvent::Closed(later.clone()));
}

#[test]
fn unwatching_a_tree_stops_its_subdirectories_too() {
    let base = tempfile::tempdir().unwrap();
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    fs::create_dir_all(a.join("sub")).unwrap();
    fs::create_dir_all(b.join("sub")).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = Watcher::new(tx).unwrap();
    watcher.watch(&a, true).unwrap();
    watcher.watch(&b, true).unwrap();
    watcher.unwatch(&a);
    fs::write(a.join("sub/x.png"), b"x").unwrap();
    let kept = b.join("sub/y.png");
    fs::write(&kept, b"y").unwrap();
    let seen = until(&mut rx, |e| *e == WatchEvent::Closed(kept.clone()));
    assert!(
        seen.iter().all(|e| !format!("{e:?}").contains("x.png")),
        "{seen:?}"
    );
    // New directories under the unwatched tree are not watched either.
    fs::create_dir(a.join("new")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    fs::write(a.join("new/z.png"), b"z").unwrap();
    assert_eq!(drain_for(&mut rx, Duration::from_millis(300)), []);
}

#[test]
fn a_slow_writer_is_changed_until_it_closes() {
    let mut s = setup();
    let path = s.watched.join("slow.png");
    let mut file = fs::File::create(&path).unwrap();
    let mut changed = 0;
    for _ in 0..10 {
        file.write_all(&[1u8; 4096]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        while let Ok(ev) = s.rx.try_recv() {
            assert_ne!(ev, WatchEvent::Closed(path.clone()), "closed too early");
            if ev == WatchEvent::Changed(path.clone()) {
                changed += 1;
            }
        }
    }
    assert!(changed >= 5, "only {changed} Changed events");
    drop(file);
    let seen = until(&mut s.rx, |e| *e == WatchEvent::Closed(path.clone()));
    assert!(
        seen.iter().all(|e| *e != WatchEvent::Removed(path.clone())),
        "{seen:?}"
    );
}

#[test]
fn a_deleted_file_or_directory_is_removed() {
    let mut s = setup();
    let file = s.watched.join("d.png");
    fs::write(&file, b"d").unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::Closed(file.clone()));
    fs::remove_file(&file).unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::Removed(file.clone()));

    let dir = s.watched.join("old");
    fs::create_dir(&dir).unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::DirAppeared(dir.clone()));
    fs::remove_dir(&dir).unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::Removed(dir.clone()));
}

#[test]
fn reading_and_chmod_give_no_event_and_symlinks_are_not_followed() {
    let mut s = setup();
    let file = s.watched.join("r.png");
    fs::write(&file, b"r").unwrap();
    until(&mut s.rx, |e| *e == WatchEvent::Closed(file.clone()));
    let _ = fs::read(&file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let target = s.outside.join("t.png");
    fs::write(&target, b"t").unwrap();
    std::os::unix::fs::symlink(&target, s.watched.join("link.png")).unwrap();
    assert_eq!(drain_for(&mut s.rx, Duration::from_millis(300)), []);
}

#[test]
fn unwatch_stops_events() {
    let base = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = Watcher::new(tx).unwrap();
    watcher.watch(base.path(), false).unwrap();
    let first = base.path().join("1.png");
    fs::write(&first, b"1").unwrap();
    until(&mut rx, |e| *e == WatchEvent::Closed(first.clone()));
    watcher.unwatch(base.path());
    fs::write(base.path().join("2.png"), b"2").unwrap();
    assert_eq!(drain_for(&mut rx, Duration::from_millis(300)), []);
}

#[test]
fn watching_a_missing_folder_names_it() {
    let base = tempfile::tempdir().unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut watcher = Watcher::new(tx).unwrap();
    let missing = base.path().join("missing");
    let err = watcher.watch(&missing, true).unwrap_err();
    assert!(matches!(err, WatchError::Other { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("missing") && text.contains("does not exist"),
        "{text}"
    );
}

#[test]
fn overflow_means_rescan() {
    let overflow = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
    assert_eq!(map_event(&overflow, false), [WatchEvent::Rescan]);
    let p = PathBuf::from("/nowhere/a.png");
    let ev = |kind| notify::Event::new(kind).add_path(p.clone());
    assert_eq!(
        map_event(
            &ev(EventKind::Modify(ModifyKind::Data(DataChange::Any))),
            false
        ),
        [WatchEvent::Changed(p.clone())]
    );
    assert_eq!(
        map_event(&ev(EventKind::Remove(RemoveKind::File)), false),
        [WatchEvent::Removed(p.clone())]
    );
    // A rename of unknown direction of a path that is not there: it went away.
    assert_eq!(
        map_event(
            &ev(EventKind::Modify(ModifyKind::Name(RenameMode::Any))),
            false
        ),
        [WatchEvent::Removed(p.clone())]
    );
    assert_eq!(
        map_event(
            &ev(EventKind::Modify(ModifyKind::Name(RenameMode::Both))),
            false
        ),
        []
    );
}

#[test]
fn inotify_limits_say_how_to_raise_them() {
    let path = Path::new("/pics/deep");
    for err in [
        notify::Error::new(notify::ErrorKind::MaxFilesWatch),
        notify::Error::io(std::io::Error::from_raw_os_error(ENOSPC)),
    ] {
        let WatchError::Limit(message) = to_watch_error(err, path) else {
            panic!("not a limit");
        };
        assert!(
            message.contains("sudo sysctl fs.inotify.max_user_watches=524288"),
            "{message}"
        );
        assert!(message.contains("/etc/sysctl.d/"), "{message}");
        assert!(message.contains("/pics/deep"), "{message}");
    }
    let err = notify::Error::io(std::io::Error::from_raw_os_error(EMFILE));
    let WatchError::Limit(message) = to_watch_error(err, path) else {
        panic!("not a limit");
    };
    assert!(message.contains("max_user_instances"), "{message}");
    let other = to_watch_error(
        notify::Error::io(std::io::Error::from_raw_os_error(5)),
        path,
    );
    assert!(matches!(other, WatchError::Other { .. }));
}

mod settler {
    use super::*;

    const SETTLE: Duration = Duration::from_millis(100);

    #[test]
    fn a_quiet_file_is_ready_after_the_settle_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        fs::write(&path, b"a").unwrap();
        let mut s = Settler::new(SETTLE);
        let t0 = Instant::now();
        s.touch(path.clone(), t0);
        assert_eq!(s.next_deadline(), Some(t0 + SETTLE));
        assert!(s.ready(t0 + SETTLE / 2).is_empty(), "too early");
        assert!(s.contains(&path));
        std::thread::sleep(SETTLE);
        assert_eq!(s.ready(Instant::now()), vec![path.clone()]);
        assert!(s.is_empty());
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn a_file_still_changing_waits_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.png");
        fs::write(&path, b"b").unwrap();
        let mut s = Settler::new(SETTLE);
        s.touch(path.clone(), Instant::now());
        std::thread::sleep(SETTLE / 2);
        // Changed without an event reaching the settler (a coalesced event).
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        std::thread::sleep(SETTLE);
        let now = Instant::now();
        assert!(s.ready(now).is_empty(), "it changed since the touch");
        assert_eq!(s.next_deadline(), Some(now + SETTLE));
        std::thread::sleep(SETTLE);
        assert_eq!(s.ready(Instant::now()), [path]);
    }

    #[test]
    fn touching_again_moves_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        fs::write(&path, b"c").unwrap();
        let mut s = Settler::new(SETTLE);
        let t0 = Instant::now();
        s.touch(path.clone(), t0);
        s.touch(path.clone(), t0 + SETTLE);
        assert_eq!(s.len(), 1);
        assert!(s.ready(t0 + SETTLE).is_empty());
        assert_eq!(s.ready(t0 + 2 * SETTLE), [path]);
    }

    #[test]
    fn vanished_and_forgotten_files_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.png");
        let kept = dir.path().join("sub/kept.png");
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(&gone, b"g").unwrap();
        fs::write(&kept, b"k").unwrap();
        let mut s = Settler::new(SETTLE);
        let t0 = Instant::now();
        s.touch(gone.clone(), t0);
        s.touch(kept.clone(), t0);
        s.touch(dir.path().join("never-existed.png"), t0);
        fs::remove_file(&gone).unwrap();
        assert_eq!(s.ready(t0 + SETTLE), vec![kept.clone()]);
        assert!(s.is_empty());

        s.touch(kept.clone(), t0);
        s.forget(&kept);
        assert!(s.is_empty());
        s.touch(kept.clone(), t0);
        s.forget_under(&dir.path().join("sub"));
        assert!(s.is_empty());
    }
}
