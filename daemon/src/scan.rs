//! Walking a watched folder (at start, on overflow, when a directory appears, periodically).

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::filter::Filter;
use crate::queue::FileStat;

/// A regular, not ignored file found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub stat: FileStat,
}

/// What a scan saw.
#[derive(Debug, Default)]
pub struct ScanResult {
    pub files: Vec<Found>,
    /// Paths that could not be read, with the reason.
    pub errors: Vec<(PathBuf, String)>,
}

/// Walks `dir` (a watched folder or a directory inside one), recursing when `recursive`,
/// following symlinks only when asked, skipping what `filter` ignores (ignored directories are
/// not entered).
///
/// Not following symlinks means symlinked files and directories are skipped (not taken as the
/// link's target). Sockets, FIFOs and devices are skipped. A `dir` that the filter skips (or
/// that is outside the folder) gives an empty result; a `dir` that cannot be read gives one
/// error. `errors` name each unreadable path and the reason (permission denied, symlink loop…).
pub fn scan(dir: &Path, filter: &Filter, recursive: bool, follow_symlinks: bool) -> ScanResult {
    let mut result = ScanResult::default();
    if filter.is_ignored(dir, true) {
        return result;
    }
    let mut walk = WalkDir::new(dir).follow_links(follow_symlinks);
    if !recursive {
        walk = walk.max_depth(1);
    }
    let entries = walk.into_iter().filter_entry(|e| {
        e.depth() == 0
            || (!e.path_is_symlink() || follow_symlinks)
                && !filter.is_ignored_entry(e.path(), e.file_type().is_dir())
    });
    // The walk reads directory entries only (their types come with them); the stats, one
    // per file and most of the time of a large scan, are spread over a few threads.
    let mut candidates = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = err
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| dir.to_path_buf());
                result.errors.push((path, describe(&err)));
                continue;
            }
        };
        if entry.file_type().is_file() {
            candidates.push(entry.into_path());
        }
    }
    for (found, errors) in stat_all(candidates, follow_symlinks) {
        result.files.extend(found);
        result.errors.extend(errors);
    }
    result
}

/// Files per stat thread below which one thread does it all.
const STAT_CHUNK_MIN: usize = 2_000;

type Stated = (Vec<Found>, Vec<(PathBuf, String)>);

/// Stats `paths` on up to 4 threads; the results keep the order of `paths`.
fn stat_all(paths: Vec<PathBuf>, follow_symlinks: bool) -> Vec<Stated> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 4)
        .min(paths.len().div_ceil(STAT_CHUNK_MIN).max(1));
    let stat_chunk = |chunk: &[PathBuf]| -> Stated {
        let mut found = Vec::with_capacity(chunk.len());
        let mut errors = Vec::new();
        for path in chunk {
            let meta = if follow_symlinks {
                std::fs::metadata(path)
            } else {
                std::fs::symlink_metadata(path)
            };
            match meta {
                Ok(meta) => found.push(Found {
                    stat: FileStat::of(&meta),
                    path: path.clone(),
                }),
                Err(err) => errors.push((path.clone(), describe_io(&err))),
            }
        }
        (found, errors)
    };
    if threads <= 1 {
        return vec![stat_chunk(&paths)];
    }
    let size = paths.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(size)
            .map(|chunk| scope.spawn(move || stat_chunk(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The reason a file could not be stat'ed, for people.
fn describe_io(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "permission denied; give the daemon's user read access (chmod) to scan it".into()
        }
        std::io::ErrorKind::NotFound => "it disappeared during the scan".into(),
        _ => err.to_string(),
    }
}

/// The reason of a walk error, for people.
fn describe(err: &walkdir::Error) -> String {
    if let Some(ancestor) = err.loop_ancestor() {
        return format!(
            "symbolic link loop back to {}; the link is skipped",
            ancestor.display()
        );
    }
    match err.io_error() {
        Some(io) => describe_io(io),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use imgcloud_core::daemon_api::WatchedFolder;

    use super::*;

    fn names(result: &ScanResult, root: &Path) -> Vec<String> {
        let mut names: Vec<_> = result
            .files
            .iter()
            .map(|f| f.path.strip_prefix(root).unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub/deep")).unwrap();
        fs::create_dir_all(root.join(".hidden")).unwrap();
        fs::create_dir_all(root.join("skipme")).unwrap();
        fs::write(root.join("a.png"), b"aaaa").unwrap();
        fs::write(root.join("a.png.part"), b"partial").unwrap();
        fs::write(root.join("sub/b.jpg"), b"bb").unwrap();
        fs::write(root.join("sub/deep/c.gif"), b"c").unwrap();
        fs::write(root.join(".hidden/d.png"), b"d").unwrap();
        fs::write(root.join("skipme/e.png"), b"e").unwrap();
        fs::write(root.join(".imgcloudignore"), "skipme/\n").unwrap();
        dir
    }

    #[test]
    fn finds_candidate_files_with_their_stat() {
        let dir = tree();
        let root = dir.path();
        let filter = Filter::new(&WatchedFolder::new(root)).unwrap();
        let result = scan(root, &filter, true, false);
        assert_eq!(
            names(&result, root),
            ["a.png", "sub/b.jpg", "sub/deep/c.gif"]
        );
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        let a = result
            .files
            .iter()
            .find(|f| f.path.ends_with("a.png"))
            .unwrap();
        assert_eq!(
            a.stat,
            FileStat::of(&fs::metadata(root.join("a.png")).unwrap())
        );
        assert_eq!(a.stat.size, 4);
    }

    #[test]
    fn not_recursive_stays_in_the_directory() {
        let dir = tree();
        let root = dir.path();
        let filter = Filter::new(&WatchedFolder::new(root)).unwrap();
        assert_eq!(names(&scan(root, &filter, false, false), root), ["a.png"]);
    }

    #[test]
    fn a_subdirectory_can_be_scanned_alone() {
        let dir = tree();
        let root = dir.path();
        let filter = Filter::new(&WatchedFolder::new(root)).unwrap();
        let result = scan(&root.join("sub"), &filter, true, false);
        assert_eq!(names(&result, root), ["sub/b.jpg", "sub/deep/c.gif"]);
        assert!(
            scan(&root.join("skipme"), &filter, true, false)
                .files
                .is_empty()
        );
        assert!(
            scan(&root.join(".hidden"), &filter, true, false)
                .files
                .is_empty()
        );
    }

    #[test]
    fn ignored_directories_are_not_entered() {
        let dir = tree();
        let root = dir.path();
        // An unreadable directory inside an ignored one gives no error: it is never read.
        fs::create_dir_all(root.join("skipme/locked")).unwrap();
        fs::set_permissions(
            root.join("skipme/locked"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        let filter = Filter::new(&WatchedFolder::new(root)).unwrap();
        let result = scan(root, &filter, true, false);
        fs::set_permissions(
            root.join("skipme/locked"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        assert!(!names(&result, root).iter().any(|n| n.starts_with("skipme")));
    }

    #[test]
    fn symlinks_are_skipped_unless_followed() {
        let dir = tree();
        let root = dir.path();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("o.png"), b"o").unwrap();
        symlink(outside.path().join("o.png"), root.join("link.png")).unwrap();
        symlink(outside.path(), root.join("linkdir")).unwrap();
        let filter = Filter::new(&WatchedFolder::new(root)).unwrap();

        let result = scan(root, &filter, true, false);
        assert_eq!(
            names(&result, root),
            ["a.png", "sub/b.jpg", "sub/deep/c.gif"]
        );

        let result = scan(root, &filter, true, true);
        assert_eq!(
            names(&result, root),
            [
                "a.png",
                "link.png",
                "linkdir/o.png",
                "sub/b.jpg",
                "sub/deep/c.gif"
            ]
        );
        let link = result
            .files
            .iter()
            .find(|f| f.path.ends_with("link.png"))
            .unwrap();
        assert_eq!(link.stat.size, 1, "the target's stat");
    }

    #[test]
    fn a_symlink_loop_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("d")).unwrap();
        symlink(root, root.join("d/up")).unwrap();
        fs::write(root.join("d/x.png"), b"x").unwrap();
        let filter = Filter::new(&WatchedFolder::new(root)).unwrap();
        let result = scan(root, &filter, true, true);
        assert_eq!(names(&result, root), ["d/x.png"]);
        assert_eq!(result.errors.len(), 1, "{:?}", result.errors);
        assert!(result.errors[0].1.contains("loop"), "{:?}", result.errors);
    }

    #[test]
    fn an_unreadable_directory_is_an_error_naming_it() {
        let dir = tree();
        let root = dir.path();
        let locked = root.join("sub/locked");
        fs::create_dir(&locked).unwrap();
        fs::write(locked.join("x.png"), b"x").unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let still_readable = fs::read_dir(&locked).is_ok();
        let filter = Filter::new(&WatchedFolder::new(root)).unwrap();
        let result = scan(root, &filter, true, false);
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        if still_readable {
            eprintln!("skipped: running with a user that reads a 000 directory (root)");
            return;
        }
        assert_eq!(
            names(&result, root),
            ["a.png", "sub/b.jpg", "sub/deep/c.gif"]
        );
        assert_eq!(result.errors.len(), 1, "{:?}", result.errors);
        assert_eq!(result.errors[0].0, locked);
        assert!(
            result.errors[0].1.contains("permission denied"),
            "{:?}",
            result.errors
        );
    }

    #[test]
    fn a_missing_directory_is_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let filter = Filter::new(&WatchedFolder::new(dir.path())).unwrap();
        let gone = dir.path().join("gone");
        let result = scan(&gone, &filter, true, false);
        assert!(result.files.is_empty());
        assert_eq!(result.errors.len(), 1);
        assert_eq!(result.errors[0].0, gone);
    }
}
