use std::time::Instant;

use time::Duration as TimeDuration;

use super::*;

fn stat(size: u64, mtime_ns: i64) -> FileStat {
    FileStat {
        size,
        mtime_ns,
        inode: 7,
    }
}

fn open() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("data/queue.sqlite")).unwrap();
    (dir, queue)
}

fn file(path: &str, size: u64) -> (PathBuf, Option<PathBuf>, FileStat) {
    (
        PathBuf::from(path),
        Some(PathBuf::from("/pics")),
        stat(size, 1_000),
    )
}

fn id_of(queue: &Queue, path: &str) -> i64 {
    queue.get_by_path(Path::new(path)).unwrap().unwrap().id
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn file_stat_reads_size_mtime_and_inode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    std::fs::write(&path, b"12345").unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    let st = FileStat::of(&meta);
    assert_eq!(st.size, 5);
    assert_eq!(st.inode, meta.ino());
    let mtime = meta
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert_eq!(st.mtime_ns as u128, mtime.as_nanos());
}

#[test]
fn observe_tells_new_changed_and_unchanged() {
    let (_dir, q) = open();
    let first = q
        .observe_many(&[file("/pics/a.png", 10), file("/pics/b.png", 20)])
        .unwrap();
    assert_eq!(first, vec![Observed::New, Observed::New]);
    let again = q
        .observe_many(&[file("/pics/a.png", 10), file("/pics/b.png", 21)])
        .unwrap();
    assert_eq!(again, vec![Observed::Unchanged, Observed::Changed]);
    let b = q.get_by_path(Path::new("/pics/b.png")).unwrap().unwrap();
    assert_eq!(b.stat.size, 21);
    assert_eq!(b.state, FileState::Discovered);
    assert_eq!(b.folder.as_deref(), Some(Path::new("/pics")));
    let known = q.known().unwrap();
    assert_eq!(known.len(), 2);
    assert_eq!(known.get(Path::new("/pics/b.png")), Some(&stat(21, 1_000)));
}

#[test]
fn non_utf8_paths_round_trip() {
    let (_dir, q) = open();
    let path = path_from(b"/pics/caf\xe9.png".to_vec());
    q.observe_many(&[(path.clone(), None, stat(1, 1))]).unwrap();
    assert!(q.known().unwrap().contains_key(&path));
    assert_eq!(q.get_by_path(&path).unwrap().unwrap().path, path);
}

#[test]
fn steps_move_the_state_and_clear_errors() {
    let (_dir, q) = open();
    q.observe_many(&[file("/pics/a.png", 10)]).unwrap();
    let id = id_of(&q, "/pics/a.png");
    let later = now() + TimeDuration::minutes(5);

    q.set_retry(id, "unreadable", "cannot read", later).unwrap();
    let e = q.get(id).unwrap().unwrap();
    assert_eq!((e.state, e.attempts), (FileState::Discovered, 1));
    assert_eq!(e.last_error.as_deref(), Some("cannot read"));

    q.set_hashed(id, "ab12").unwrap();
    let e = q.get(id).unwrap().unwrap();
    assert_eq!(e.state, FileState::Hashed);
    assert_eq!(e.sha256.as_deref(), Some("ab12"));
    assert_eq!((e.attempts, e.last_error), (0, None));

    q.set_checkpoint(id, r#"{"parts":1}"#).unwrap();
    q.set_retry(id, "offline", "no network", now()).unwrap();
    q.set_checkpoint(id, r#"{"parts":2}"#).unwrap();
    let e = q.get(id).unwrap().unwrap();
    assert_eq!(e.state, FileState::Uploading);
    assert_eq!(e.checkpoint.as_deref(), Some(r#"{"parts":2}"#));
    assert_eq!(e.attempts, 1, "attempts at the same state are kept");
    assert_eq!(e.last_error, None);

    q.set_uploaded(id, "img1", "http://cdn/img1.png").unwrap();
    let e = q.get(id).unwrap().unwrap();
    assert_eq!(e.state, FileState::Uploaded);
    assert_eq!(e.checkpoint, None);
    assert_eq!(e.image_id.as_deref(), Some("img1"));
    assert_eq!(e.url.as_deref(), Some("http://cdn/img1.png"));

    q.set_backed_up(id).unwrap();
    assert_eq!(q.get(id).unwrap().unwrap().state, FileState::BackedUp);
    assert!(q.due(now(), &HashSet::new(), 10).unwrap().is_empty());
    assert_eq!(q.next_attempt_at().unwrap(), None);

    let err = q.set_hashed(999, "x").unwrap_err().to_string();
    assert!(err.contains("999"), "{err}");
}

#[test]
fn a_changed_backed_up_file_is_a_new_version_keeping_the_checkpoint() {
    let (_dir, q) = open();
    q.observe_many(&[file("/pics/a.png", 10)]).unwrap();
    let id = id_of(&q, "/pics/a.png");
    q.set_hashed(id, "old").unwrap();
    q.set_checkpoint(id, "{}").unwrap();
    q.set_uploaded(id, "img1", "u1").unwrap();
    q.set_backed_up(id).unwrap();
    assert_eq!(
        q.observe_many(&[file("/pics/a.png", 10)]).unwrap(),
        vec![Observed::Unchanged]
    );

    // A checkpoint recorded for an unfinished upload survives a change.
    q.set_checkpoint(id, r#"{"sha":"old"}"#).unwrap();
    q.set_backed_up(id).unwrap();
    q.conn()
        .execute("UPDATE files SET checkpoint = 'kept' WHERE id = ?1", [id])
        .unwrap();
    assert_eq!(
        q.observe_many(&[(PathBuf::from("/pics/a.png"), None, stat(11, 2_000))])
            .unwrap(),
        vec![Observed::Changed]
    );
    let e = q.get(id).unwrap().unwrap();
    assert_eq!(e.id, id);
    assert_eq!(e.state, FileState::Discovered);
    assert_eq!((e.sha256, e.image_id, e.url), (None, None, None));
    assert_eq!(e.checkpoint.as_deref(), Some("kept"));
    assert_eq!(e.folder.as_deref(), Some(Path::new("/pics")), "folder kept");
    assert_eq!(q.due(now(), &HashSet::new(), 10).unwrap().len(), 1);
}

#[test]
fn failed_stays_failed_until_the_file_changes() {
    let (_dir, q) = open();
    q.observe_many(&[file("/pics/a.txt", 10)]).unwrap();
    let id = id_of(&q, "/pics/a.txt");
    q.set_failed(id, "not_an_image", "a.txt is not an image")
        .unwrap();
    assert!(q.due(now(), &HashSet::new(), 10).unwrap().is_empty());
    q.observe_many(&[file("/pics/a.txt", 10)]).unwrap();
    assert_eq!(q.get(id).unwrap().unwrap().state, FileState::Failed);
    q.retry_now().unwrap();
    assert_eq!(q.get(id).unwrap().unwrap().state, FileState::Failed);
    q.observe_many(&[file("/pics/a.txt", 12)]).unwrap();
    let e = q.get(id).unwrap().unwrap();
    assert_eq!(
        (e.state, e.attempts, e.last_error),
        (FileState::Discovered, 0, None)
    );
}

#[test]
fn due_is_in_order_and_skips_busy_and_waiting_entries() {
    let (_dir, q) = open();
    q.observe_many(&[
        file("/pics/1.png", 1),
        file("/pics/2.png", 2),
        file("/pics/3.png", 3),
        file("/pics/4.png", 4),
    ])
    .unwrap();
    let [a, b, c, d] = ["1", "2", "3", "4"].map(|n| id_of(&q, &format!("/pics/{n}.png")));
    let t = now();
    let ids = |v: Vec<Entry>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();

    assert_eq!(
        ids(q.due(t, &HashSet::new(), 10).unwrap()),
        vec![a, b, c, d]
    );
    assert_eq!(
        ids(q.due(t, &HashSet::from([a, c]), 10).unwrap()),
        vec![b, d]
    );
    assert_eq!(ids(q.due(t, &HashSet::from([a]), 2).unwrap()), vec![b, c]);
    assert!(q.due(t, &HashSet::new(), 0).unwrap().is_empty());

    // b waits a minute: not due now, due after; c waits an hour.
    q.set_retry(b, "offline", "no network", t + TimeDuration::minutes(1))
        .unwrap();
    q.set_retry(c, "offline", "no network", t + TimeDuration::hours(1))
        .unwrap();
    q.set_hashed(d, "dd").unwrap();
    assert_eq!(ids(q.due(t, &HashSet::new(), 10).unwrap()), vec![a, d]);
    assert_eq!(
        ids(q
            .due(t + TimeDuration::minutes(2), &HashSet::new(), 10)
            .unwrap()),
        vec![a, d, b]
    );
    // The earliest next attempt is the oldest due entry.
    let next = q.next_attempt_at().unwrap().unwrap();
    assert!(next <= t, "{next} > {t}");
    q.set_backed_up(a).unwrap();
    q.set_backed_up(d).unwrap();
    let next = q.next_attempt_at().unwrap().unwrap();
    assert!(next > t && next <= t + TimeDuration::minutes(1) + TimeDuration::milliseconds(1));

    let counts = q.counts(t).unwrap();
    assert_eq!(counts.retrying, 2);
    assert_eq!(counts.discovered, 2);
    assert_eq!(counts.backed_up, 2);
    assert_eq!(counts.pending(), 2);

    q.retry_now().unwrap();
    let t2 = now();
    assert_eq!(ids(q.due(t2, &HashSet::new(), 10).unwrap()).len(), 2);
    assert_eq!(q.counts(t2).unwrap().retrying, 0);
    // The error stays visible until a step succeeds.
    assert_eq!(q.errors(10).unwrap().len(), 2);
}

#[test]
fn counts_list_and_errors() {
    let (_dir, q) = open();
    q.observe_many(&[
        file("/pics/a.png", 1),
        file("/pics/b.png", 2),
        file("/pics/c.txt", 3),
        file("/pics/d.png", 4),
    ])
    .unwrap();
    let [a, b, c, d] =
        ["a.png", "b.png", "c.txt", "d.png"].map(|n| id_of(&q, &format!("/pics/{n}")));
    let t = now();
    q.set_hashed(a, "aa").unwrap();
    q.set_checkpoint(b, "{}").unwrap();
    q.set_failed(
        c,
        "not_an_image",
        "c.txt is not an image; it is skipped until it changes",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    q.set_retry(
        d,
        "offline",
        "the cloud is unreachable",
        t + TimeDuration::minutes(3),
    )
    .unwrap();

    let counts = q.counts(t).unwrap();
    assert_eq!(
        counts,
        QueueCounts {
            discovered: 1,
            hashed: 1,
            uploading: 1,
            uploaded: 0,
            backed_up: 0,
            failed: 1,
            retrying: 1,
        }
    );

    let all = q.list(None, 10).unwrap();
    let paths: Vec<_> = all.iter().map(|e| e.path.to_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["/pics/a.png", "/pics/b.png", "/pics/c.txt", "/pics/d.png"]
    );
    let dd = &all[3];
    assert_eq!(dd.attempts, 1);
    assert_eq!(dd.last_error.as_deref(), Some("the cloud is unreachable"));
    let when = dd.next_attempt_at.unwrap();
    assert!((when - (t + TimeDuration::minutes(3))).abs() < TimeDuration::milliseconds(2));
    assert_eq!(all[2].next_attempt_at, None, "failed: no next attempt");
    assert_eq!(
        all[0].next_attempt_at, None,
        "no error: nothing to wait for"
    );
    assert_eq!(q.list(None, 2).unwrap().len(), 2);
    let hashed = q.list(Some(FileState::Hashed), 10).unwrap();
    assert_eq!(hashed.len(), 1);
    assert_eq!(hashed[0].path, Path::new("/pics/a.png"));

    let errors = q.errors(10).unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].path, Path::new("/pics/d.png"), "newest first");
    assert_eq!(errors[0].code, "offline");
    assert!(!errors[0].permanent);
    assert!(errors[0].next_attempt_at.is_some());
    assert_eq!(errors[1].code, "not_an_image");
    assert!(errors[1].permanent);
    assert_eq!(errors[1].next_attempt_at, None);
    assert!((errors[1].at - t).abs() < TimeDuration::seconds(5));
    assert_eq!(q.errors(1).unwrap().len(), 1);
}

#[test]
fn forget_drops_unfinished_work_on_a_file_or_a_directory() {
    let (_dir, q) = open();
    q.observe_many(&[
        file("/pics/a.png", 1),
        file("/pics/sub/b.png", 2),
        file("/pics/sub/deep/c.png", 3),
        file("/pics/sub/done.png", 4),
        file("/pics/sub2/d.png", 5),
        file("/pics/subx.png", 6),
    ])
    .unwrap();
    let done = id_of(&q, "/pics/sub/done.png");
    q.set_backed_up(done).unwrap();
    q.forget(Path::new("/pics/a.png")).unwrap();
    q.forget(Path::new("/pics/sub")).unwrap();
    let mut left: Vec<_> = q.known().unwrap().into_keys().collect();
    left.sort();
    assert_eq!(
        left,
        [
            PathBuf::from("/pics/sub/done.png"),
            PathBuf::from("/pics/sub2/d.png"),
            PathBuf::from("/pics/subx.png"),
        ]
    );
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue.sqlite");
    let (id, t) = {
        let q = Queue::open(&db).unwrap();
        q.observe_many(&[file("/pics/a.png", 10), file("/pics/b.png", 20)])
            .unwrap();
        let id = id_of(&q, "/pics/a.png");
        q.set_hashed(id, "aa").unwrap();
        q.set_checkpoint(id, r#"{"upload_id":"u"}"#).unwrap();
        let t = now() + TimeDuration::minutes(1);
        q.set_retry(id, "server_error", "503", t).unwrap();
        (id, t)
    };
    let q = Queue::open(&db).unwrap();
    let e = q.get(id).unwrap().unwrap();
    assert_eq!(e.state, FileState::Uploading);
    assert_eq!(e.sha256.as_deref(), Some("aa"));
    assert_eq!(e.checkpoint.as_deref(), Some(r#"{"upload_id":"u"}"#));
    assert_eq!((e.attempts, e.last_error.as_deref()), (1, Some("503")));
    assert_eq!(q.known().unwrap().len(), 2);
    assert_eq!(q.counts(now()).unwrap().retrying, 1);
    assert!(q.next_attempt_at().unwrap().unwrap() < t);
    let version: i64 = q
        .conn()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = q
        .conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue.sqlite");
    Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Queue::open(&db).unwrap_err().to_string();
    assert!(
        err.contains("queue.sqlite") && err.contains("newer"),
        "{err}"
    );
}

#[test]
fn queue_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Queue>();
}

#[test]
fn a_hundred_thousand_files_observe_and_compare_fast() {
    const N: usize = 100_000;
    let (_dir, q) = open();
    let folder = Some(PathBuf::from("/home/someone/Pictures"));
    let files: Vec<_> = (0..N)
        .map(|i| {
            (
                PathBuf::from(format!("/home/someone/Pictures/{}/IMG_{i:06}.jpg", i % 100)),
                folder.clone(),
                FileStat {
                    size: 1_000_000 + i as u64,
                    mtime_ns: 1_700_000_000_000_000_000 + i as i64,
                    inode: i as u64,
                },
            )
        })
        .collect();

    let start = Instant::now();
    let first = q.observe_many(&files).unwrap();
    let insert = start.elapsed();
    assert!(first.iter().all(|o| *o == Observed::New));

    // A restart: read what is known and compare with a fresh scan.
    let start = Instant::now();
    let known = q.known().unwrap();
    let changed = files
        .iter()
        .filter(|(p, _, st)| known.get(p) != Some(st))
        .count();
    let restart = start.elapsed();
    assert_eq!((known.len(), changed), (N, 0));
    drop(known);

    let start = Instant::now();
    let again = q.observe_many(&files).unwrap();
    let reobserve = start.elapsed();
    assert!(again.iter().all(|o| *o == Observed::Unchanged));

    let start = Instant::now();
    let due = q.due(now(), &HashSet::new(), 16).unwrap();
    let counts = q.counts(now()).unwrap();
    let small = start.elapsed();
    assert_eq!(due.len(), 16);
    assert_eq!(counts.discovered, N as u64);

    println!(
        "100k files: observe (insert) {insert:?}, known() + compare {restart:?}, \
         observe (unchanged) {reobserve:?}, due + counts {small:?}"
    );
    assert!(insert.as_secs_f64() < 5.0, "insert took {insert:?}");
    assert!(
        restart.as_secs_f64() < 5.0,
        "known + compare took {restart:?}"
    );
    assert!(
        reobserve.as_secs_f64() < 5.0,
        "re-observe took {reobserve:?}"
    );
}
