use std::fs;

use super::*;

fn folder(root: &Path) -> WatchedFolder {
    WatchedFolder::new(root)
}

fn file_ignored(filter: &Filter, root: &Path, rel: &str) -> bool {
    filter.is_ignored(&root.join(rel), false)
}

#[test]
fn plain_images_are_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filter::new(&folder(dir.path())).unwrap();
    assert!(!file_ignored(&f, dir.path(), "a.png"));
    assert!(!file_ignored(&f, dir.path(), "2024/trip/IMG_0001.JPG"));
    assert!(!f.is_ignored(dir.path(), true), "the folder itself");
    assert!(!f.is_ignored(&dir.path().join("sub"), true));
}

#[test]
fn outside_paths_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filter::new(&folder(&dir.path().join("pics"))).unwrap();
    assert!(f.is_ignored(&dir.path().join("other/a.png"), false));
    assert!(f.is_ignored(&dir.path().join("pics/../a.png"), false));
}

#[test]
fn hidden_files_and_directories_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".config-like-root");
    let f = Filter::new(&folder(&root)).unwrap();
    assert!(
        !file_ignored(&f, &root, "a.png"),
        "a hidden folder itself may be watched"
    );
    assert!(file_ignored(&f, &root, ".a.png"));
    assert!(file_ignored(&f, &root, ".imgcloudignore"));
    assert!(f.is_ignored(&root.join(".thumbnails"), true));
    assert!(
        file_ignored(&f, &root, ".thumbnails/a.png"),
        "inside a hidden dir"
    );
    assert!(file_ignored(&f, &root, "x/.git/y/a.png"));
}

#[test]
fn temporary_partial_and_editor_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filter::new(&folder(dir.path())).unwrap();
    for name in [
        "a.tmp",
        "a.TEMP",
        "a.png.part",
        "a.partial",
        "a.filepart",
        "a.png.crdownload",
        "a.download",
        "a.opdownload",
        "a.png.!ut",
        "a.png~",
        ".#a.png",
        "#a.png#",
        "a.swp",
        "a.swx",
        "~$report.png",
    ] {
        assert!(
            file_ignored(&f, dir.path(), name),
            "{name} should be skipped"
        );
        assert!(is_temporary_name(name) || name.starts_with('.'), "{name}");
    }
    for name in [
        "a.png",
        "partial.png",
        "tmp.jpg",
        "#a.png",
        "a#.png",
        "a.downloaded",
    ] {
        assert!(!file_ignored(&f, dir.path(), name), "{name} should be kept");
    }
}

#[test]
fn exclude_uses_gitignore_syntax_relative_to_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut wf = folder(dir.path());
    wf.exclude = vec![
        "*.psd".into(),
        "/raw/".into(),
        "cache".into(),
        "!keep.psd".into(),
    ];
    let f = Filter::new(&wf).unwrap();
    assert!(file_ignored(&f, dir.path(), "a.psd"));
    assert!(file_ignored(&f, dir.path(), "deep/b.psd"));
    assert!(!file_ignored(&f, dir.path(), "keep.psd"));
    assert!(f.is_ignored(&dir.path().join("raw"), true));
    assert!(file_ignored(&f, dir.path(), "raw/a.png"));
    assert!(
        !file_ignored(&f, dir.path(), "sub/raw/a.png"),
        "anchored at the folder"
    );
    assert!(file_ignored(&f, dir.path(), "sub/cache/a.png"));
    assert!(!file_ignored(&f, dir.path(), "a.png"));
}

#[test]
fn include_keeps_only_matching_files_but_never_skips_directories() {
    let dir = tempfile::tempdir().unwrap();
    let mut wf = folder(dir.path());
    wf.include = vec!["*.png".into(), "shots/**/*.jpg".into()];
    let f = Filter::new(&wf).unwrap();
    assert!(!file_ignored(&f, dir.path(), "a.png"));
    assert!(
        !file_ignored(&f, dir.path(), "x/y/A.PNG"),
        "any depth, any case"
    );
    assert!(!file_ignored(&f, dir.path(), "shots/2024/a.jpg"));
    assert!(file_ignored(&f, dir.path(), "other/a.jpg"));
    assert!(file_ignored(&f, dir.path(), "a.gif"));
    assert!(!f.is_ignored(&dir.path().join("other"), true));
}

#[test]
fn bad_globs_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut wf = folder(dir.path());
    wf.include = vec!["a[".into()];
    let err = Filter::new(&wf).err().unwrap();
    assert!(err.contains("a["), "{err}");
    let mut wf = folder(dir.path());
    wf.exclude = vec!["b{x,y".into()];
    let err = Filter::new(&wf).err().unwrap();
    assert!(err.contains("b{x,y") && err.contains("exclude"), "{err}");
}

#[test]
fn imgcloudignore_files_apply_to_their_directory_and_below() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join(IGNORE_FILE), "*.gif\nprivate/\n").unwrap();
    fs::write(
        root.join("a").join(IGNORE_FILE),
        "secret-*\n!keep.gif\n/local.png\n",
    )
    .unwrap();
    let f = Filter::new(&folder(root)).unwrap();

    assert!(file_ignored(&f, root, "x.gif"));
    assert!(file_ignored(&f, root, "a/b/x.gif"));
    assert!(
        !file_ignored(&f, root, "a/keep.gif"),
        "a deeper file re-includes"
    );
    assert!(
        file_ignored(&f, root, "keep.gif"),
        "the deeper file does not apply above"
    );
    assert!(file_ignored(&f, root, "a/secret-1.png"));
    assert!(file_ignored(&f, root, "a/b/secret-2.png"));
    assert!(!file_ignored(&f, root, "secret-3.png"));
    assert!(file_ignored(&f, root, "a/local.png"));
    assert!(
        !file_ignored(&f, root, "a/b/local.png"),
        "anchored at its directory"
    );
    assert!(f.is_ignored(&root.join("private"), true));
    assert!(file_ignored(&f, root, "private/x.png"));
    assert!(file_ignored(&f, root, "a/private/x.png"));
    assert!(!file_ignored(&f, root, "a/b/ok.png"));
}

#[test]
fn a_changed_imgcloudignore_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let f = Filter::new(&folder(root)).unwrap();
    assert!(!file_ignored(&f, root, "a.png"));

    fs::write(root.join(IGNORE_FILE), "a.png\n").unwrap();
    std::thread::sleep(IGNORE_RECHECK + Duration::from_millis(50));
    assert!(file_ignored(&f, root, "a.png"), "a new file is picked up");

    fs::write(root.join(IGNORE_FILE), "b.png\n").unwrap();
    std::thread::sleep(IGNORE_RECHECK + Duration::from_millis(50));
    assert!(
        !file_ignored(&f, root, "a.png"),
        "a changed file is read again"
    );
    assert!(file_ignored(&f, root, "b.png"));

    fs::remove_file(root.join(IGNORE_FILE)).unwrap();
    std::thread::sleep(IGNORE_RECHECK + Duration::from_millis(50));
    assert!(
        !file_ignored(&f, root, "b.png"),
        "a removed file no longer applies"
    );
}

#[test]
fn a_bad_line_in_imgcloudignore_leaves_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join(IGNORE_FILE), "bad[\n*.gif\n").unwrap();
    let f = Filter::new(&folder(root)).unwrap();
    assert!(file_ignored(&f, root, "a.gif"));
    assert!(!file_ignored(&f, root, "a.png"));
}
