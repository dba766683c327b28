use std::cell::RefCell;
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` at `path` (creating folders) and returns their hash.
fn write(path: &Path, bytes: &[u8]) -> String {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    sha(bytes)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn put_then_restore_round_trips_and_a_second_restore_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let a = tmp.path().join("photos/a.jpg");
    let b = tmp.path().join("photos/2024/b.png");
    let sha_a = write(&a, b"bytes of a");
    let sha_b = write(&b, b"bytes of b, a little longer");

    let object = store.put(&a, &sha_a).unwrap();
    assert_eq!(
        object,
        store.root().join("objects").join(&sha_a[..2]).join(&sha_a)
    );
    assert_eq!(fs::read(&object).unwrap(), b"bytes of a");
    store.put(&b, &sha_b).unwrap();
    assert!(store.contains(&sha_a) && store.contains(&sha_b));
    assert!(!store.contains(&sha(b"never stored")));
    assert!(files_in(&store.root().join("tmp")).is_empty());
    assert!(store.root().join("index.sqlite").is_file());

    let entries = store.entries().unwrap();
    let summary: Vec<(&str, &Path, u64)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.source.as_path(), e.size))
        .collect();
    assert_eq!(
        summary,
        [("a.jpg", a.as_path(), 10), ("b.png", b.as_path(), 27)]
    );

    // The index survives reopening.
    drop(store);
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    assert_eq!(store.entries().unwrap(), entries);

    fs::remove_dir_all(tmp.path().join("photos")).unwrap();
    let calls = RefCell::new(Vec::new());
    let report = store
        .restore(None, &|done, total| calls.borrow_mut().push((done, total)))
        .unwrap();
    assert_eq!(report.restored, [a.clone(), b.clone()]);
    assert!(report.failed.is_empty() && report.unchanged.is_empty());
    assert_eq!(fs::read(&a).unwrap(), b"bytes of a");
    assert_eq!(fs::read(&b).unwrap(), b"bytes of b, a little longer");
    assert_eq!(calls.into_inner(), [(0, 2), (1, 2), (2, 2)]);
    // No temp files left beside the restored ones.
    assert_eq!(files_in(&tmp.path().join("photos")), ["2024", "a.jpg"]);

    let again = store.restore(None, &|_, _| {}).unwrap();
    assert!(again.restored.is_empty() && again.failed.is_empty());
    assert_eq!(again.unchanged, [a, b]);
}

#[test]
fn a_mismatch_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let a = tmp.path().join("a.jpg");
    let expected = write(&a, b"what was hashed");
    fs::write(&a, b"what is there now").unwrap();

    let err = store.put(&a, &expected).unwrap_err();
    match &err {
        BackupError::Mismatch {
            path,
            expected: e,
            actual,
        } => {
            assert_eq!(path, &a);
            assert_eq!(e, &expected);
            assert_eq!(actual, &sha(b"what is there now"));
        }
        other => panic!("expected a mismatch, got {other}"),
    }
    assert!(err.to_string().contains("a.jpg"), "{err}");
    assert!(!store.contains(&expected));
    assert!(!store.object_path(&expected).exists());
    assert!(files_in(&store.root().join("tmp")).is_empty());
    assert!(store.entries().unwrap().is_empty());

    // Not a hash at all: refused before anything is touched.
    let err = store.put(&a, "../../etc").unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert!(store.entries().unwrap().is_empty());
    // A missing source names the file.
    let err = store
        .put(&tmp.path().join("gone.jpg"), &expected)
        .unwrap_err();
    assert!(err.to_string().contains("gone.jpg"), "{err}");
}

#[test]
fn an_existing_object_is_recorded_but_not_copied_again() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let a = tmp.path().join("one/a.jpg");
    let copy = tmp.path().join("two/copy of a.jpg");
    let digest = write(&a, b"same bytes");
    write(&copy, b"same bytes");
    let object = store.put(&a, &digest).unwrap();
    // Mark the object: if `put` copied again, the mark would be gone.
    fs::write(&object, b"marker!!!!").unwrap();
    assert_eq!(store.put(&copy, &digest).unwrap(), object);
    assert_eq!(fs::read(&object).unwrap(), b"marker!!!!");
    // Putting the same source twice records it once.
    store.put(&copy, &digest).unwrap();
    let names: Vec<String> = store
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["a.jpg", "copy of a.jpg"]);
}

#[test]
fn verify_finds_corrupt_and_missing_objects_and_moves_corrupt_ones_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let mut hashes = Vec::new();
    for name in ["good.jpg", "bad.jpg", "lost.jpg"] {
        let path = tmp.path().join(name);
        let digest = write(&path, format!("content of {name}").as_bytes());
        store.put(&path, &digest).unwrap();
        hashes.push(digest);
    }
    let clean = store.verify(&|_, _| {}).unwrap();
    assert_eq!((clean.checked, clean.ok), (3, 3));
    assert!(clean.corrupt.is_empty() && clean.missing.is_empty());

    // Flip one byte of one object, delete another.
    let bad = store.object_path(&hashes[1]);
    let mut bytes = fs::read(&bad).unwrap();
    bytes[0] ^= 0x01;
    fs::write(&bad, bytes).unwrap();
    fs::remove_file(store.object_path(&hashes[2])).unwrap();

    let calls = RefCell::new(Vec::new());
    let report = store
        .verify(&|done, total| calls.borrow_mut().push((done, total)))
        .unwrap();
    assert_eq!((report.checked, report.ok), (2, 1));
    let names = |entries: &[BackupEntry]| -> Vec<String> {
        entries.iter().map(|e| e.name.clone()).collect()
    };
    assert_eq!(names(&report.corrupt), ["bad.jpg"]);
    assert_eq!(names(&report.missing), ["lost.jpg"]);
    assert_eq!(calls.borrow().last(), Some(&(3, 3)));
    assert_eq!(calls.borrow().len(), 4);

    // The damaged copy is out of the way, so the next put copies the bytes again.
    assert!(!store.contains(&hashes[1]));
    assert!(store.root().join("corrupt").join(&hashes[1]).is_file());
    store.put(&tmp.path().join("bad.jpg"), &hashes[1]).unwrap();
    let healed = store.verify(&|_, _| {}).unwrap();
    assert_eq!(names(&healed.missing), ["lost.jpg"]);
    assert!(healed.corrupt.is_empty());
    assert_eq!(healed.ok, 2);

    // Restoring the lost one says why it failed.
    let out = tmp.path().join("out");
    let restored = store.restore(Some(&out), &|_, _| {}).unwrap();
    assert_eq!(restored.restored.len(), 2);
    assert_eq!(restored.failed.len(), 1);
    assert_eq!(restored.failed[0].0, out.join("lost.jpg"));
    assert!(
        restored.failed[0].1.contains("missing"),
        "{:?}",
        restored.failed
    );
}

#[test]
fn restore_into_a_folder_renames_only_when_the_bytes_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let one = tmp.path().join("cam1/photo.jpg");
    let two = tmp.path().join("cam2/photo.jpg");
    let three = tmp.path().join("cam3/photo.jpg");
    let noext = tmp.path().join("cam1/README");
    for (path, bytes) in [
        (&one, &b"first photo"[..]),
        (&two, b"second photo"),
        (&three, b"first photo"),
        (&noext, b"notes"),
    ] {
        let digest = write(path, bytes);
        store.put(path, &digest).unwrap();
    }
    let out = tmp.path().join("restored");
    // Someone else's photo.jpg is already there, and a README with other bytes.
    write(&out.join("photo.jpg"), b"not ours");
    write(&out.join("README"), b"other notes");

    let report = store.restore(Some(&out), &|_, _| {}).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.restored,
        [
            out.join("photo (2).jpg"),
            out.join("photo (3).jpg"),
            out.join("README (2)")
        ]
    );
    assert_eq!(fs::read(out.join("photo.jpg")).unwrap(), b"not ours");
    assert_eq!(fs::read(out.join("photo (2).jpg")).unwrap(), b"first photo");
    assert_eq!(
        fs::read(out.join("photo (3).jpg")).unwrap(),
        b"second photo"
    );
    assert_eq!(fs::read(out.join("README (2)")).unwrap(), b"notes");
    assert_eq!(
        files_in(&out),
        [
            "README",
            "README (2)",
            "photo (2).jpg",
            "photo (3).jpg",
            "photo.jpg"
        ]
    );

    // Again: everything is found where it was put, nothing new is written.
    let again = store.restore(Some(&out), &|_, _| {}).unwrap();
    assert!(again.restored.is_empty() && again.failed.is_empty());
    assert_eq!(again.unchanged.len(), 3);
    assert_eq!(files_in(&out).len(), 5);
}

#[test]
fn restore_to_sources_never_overwrites_other_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let edited = tmp.path().join("edited.jpg");
    let same = tmp.path().join("same.jpg");
    let newer = tmp.path().join("versions.jpg");
    let digest = write(&edited, b"original");
    store.put(&edited, &digest).unwrap();
    let digest = write(&same, b"unchanged");
    store.put(&same, &digest).unwrap();
    // Two versions of one path: the newest is what goes back.
    let old = write(&newer, b"version 1");
    store.put(&newer, &old).unwrap();
    let new = write(&newer, b"version 2");
    store.put(&newer, &new).unwrap();

    fs::write(&edited, b"edited since").unwrap();
    fs::remove_file(&newer).unwrap();

    let report = store.restore(None, &|_, _| {}).unwrap();
    assert_eq!(fs::read(&edited).unwrap(), b"edited since");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, edited);
    assert!(
        report.failed[0].1.contains("not overwritten"),
        "{}",
        report.failed[0].1
    );
    assert_eq!(report.unchanged, [same]);
    assert_eq!(report.restored, std::slice::from_ref(&newer));
    assert_eq!(fs::read(&newer).unwrap(), b"version 2");
    assert_eq!(
        files_in(tmp.path()),
        ["backup", "edited.jpg", "same.jpg", "versions.jpg"]
    );
}

#[test]
fn a_damaged_object_is_not_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let a = tmp.path().join("a.jpg");
    let digest = write(&a, b"precious");
    store.put(&a, &digest).unwrap();
    fs::write(store.object_path(&digest), b"garbage!").unwrap();
    fs::remove_file(&a).unwrap();
    let report = store.restore(None, &|_, _| {}).unwrap();
    assert!(!a.exists(), "damaged bytes were written");
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].1.contains("damaged"),
        "{:?}",
        report.failed
    );
    assert_eq!(files_in(tmp.path()), ["backup"]);
}

#[test]
fn put_bytes_writes_what_was_hashed_even_when_the_file_changed_since() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BackupStore::open(&tmp.path().join("backup")).unwrap();
    let a = tmp.path().join("photos/a.jpg");
    let hashed = b"the bytes that were hashed and uploaded";
    let sha_a = write(&a, hashed);
    // The file on disk changes after it was read: the copy is still of the uploaded bytes.
    fs::write(&a, b"edited later").unwrap();
    let object = store.put_bytes(&a, hashed, &sha_a).unwrap();
    assert_eq!(fs::read(&object).unwrap(), hashed);
    assert_eq!(object, store.object_path(&sha_a));
    assert!(
        files_in(&tmp.path().join("backup/tmp")).is_empty(),
        "no temp file left"
    );
    // Again: recorded, not written twice; and it verifies.
    let again = store.put_bytes(&a, hashed, &sha_a).unwrap();
    assert_eq!(again, object);
    assert!(store.put_bytes(&a, hashed, "not-a-hash").is_err());
}
