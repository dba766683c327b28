//! Which files of a watched folder are candidates: defaults (hidden, temp, partial and editor
//! files), `.imgcloudignore` files (gitignore syntax, in the folder and below) and the folder's
//! include/exclude globs.
//!
//! The rules, in order (a path is skipped as soon as one says so):
//!
//! 1. anything outside the folder;
//! 2. hidden files and directories (a name starting with `.`, anywhere below the folder; this
//!    also covers `.imgcloudignore` itself and editor lock files such as `.#name` or `.x.swp`);
//! 3. temporary, partial-download and editor files (see [`is_temporary_name`]), files or
//!    directories;
//! 4. the folder's `exclude` globs (gitignore syntax, relative to the folder);
//! 5. `.imgcloudignore` files (gitignore syntax; one applies to its own directory and below, a
//!    deeper one wins over a shallower one, `!pattern` re-includes);
//! 6. when `include` is not empty, a file must match one of its globs (directories are never
//!    skipped by `include`).
//!
//! A path inside a skipped directory is skipped too.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use imgcloud_core::daemon_api::WatchedFolder;

use crate::queue::FileStat;

/// The per-directory ignore file.
pub const IGNORE_FILE: &str = ".imgcloudignore";

/// File-name endings of temporary and partial files (compared without case).
const TEMP_SUFFIXES: &[&str] = &[
    ".tmp",
    ".temp",
    ".part",
    ".partial",
    ".filepart",
    ".crdownload",
    ".download",
    ".opdownload",
    ".!ut",
    ".swp",
    ".swx",
    "~",
];

/// How long a cached `.imgcloudignore` is trusted before its stat is checked again (a scan
/// asks for the same directories thousands of times in a row).
const IGNORE_RECHECK: Duration = Duration::from_millis(250);

/// Whether a file name is a temporary, partial or editor file: `*.tmp *.temp *.part *.partial
/// *.filepart *.crdownload *.download *.opdownload *.!ut *.swp *.swx *~ .#* #*# ~$*` (endings
/// compared without case).
pub fn is_temporary_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    TEMP_SUFFIXES.iter().any(|s| lower.ends_with(s))
        || name.starts_with(".#")
        || name.starts_with("~$")
        || (name.len() >= 2 && name.starts_with('#') && name.ends_with('#'))
}

/// One directory's `.imgcloudignore`, as last read.
struct CachedIgnore {
    /// The file's stat when read (None: there is no such file).
    stat: Option<FileStat>,
    /// Parsed rules (None: no file, or nothing usable in it).
    rules: Option<Gitignore>,
    checked: Instant,
}

/// The filter of one watched folder. `Send + Sync`; `.imgcloudignore` files are cached.
pub struct Filter {
    root: PathBuf,
    exclude: Option<Gitignore>,
    include: Option<Include>,
    ignore_files: Mutex<HashMap<PathBuf, CachedIgnore>>,
}

/// `include` globs: those with a `/` match the path relative to the folder, the others the
/// file name alone (so `*.png` and `IMG_*` work at any depth). Case is ignored.
struct Include {
    by_path: GlobSet,
    by_name: GlobSet,
}

impl Include {
    fn new(globs: &[String]) -> Result<Self, String> {
        let mut by_path = GlobSetBuilder::new();
        let mut by_name = GlobSetBuilder::new();
        for glob in globs {
            let pattern = glob.trim_start_matches('/');
            let compiled = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("include glob `{glob}` is not valid: {e}"))?;
            if pattern.contains('/') {
                by_path.add(compiled);
            } else {
                by_name.add(compiled);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| format!("include globs {globs:?} are not valid: {e}"))
        };
        Ok(Self {
            by_path: build(by_path)?,
            by_name: build(by_name)?,
        })
    }

    fn matches(&self, relative: &Path) -> bool {
        self.by_path.is_match(relative)
            || relative
                .file_name()
                .is_some_and(|name| self.by_name.is_match(name))
    }
}

impl Filter {
    /// Builds the filter of a folder; a bad glob is an error naming it.
    pub fn new(folder: &WatchedFolder) -> Result<Self, String> {
        let exclude = if folder.exclude.is_empty() {
            None
        } else {
            let mut builder = GitignoreBuilder::new(&folder.path);
            for glob in &folder.exclude {
                builder.add_line(None, glob).map_err(|e| {
                    format!(
                        "exclude glob `{glob}` of folder {} is not valid: {e}",
                        folder.path.display()
                    )
                })?;
            }
            Some(builder.build().map_err(|e| {
                format!(
                    "exclude globs of folder {} are not valid: {e}",
                    folder.path.display()
                )
            })?)
        };
        let include = if folder.include.is_empty() {
            None
        } else {
            Some(
                Include::new(&folder.include)
                    .map_err(|e| format!("folder {}: {e}", folder.path.display()))?,
            )
        };
        Ok(Self {
            root: folder.path.clone(),
            exclude,
            include,
            ignore_files: Mutex::new(HashMap::new()),
        })
    }

    /// The watched folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `path` (inside the folder) is skipped. `.imgcloudignore` files are read when
    /// first needed and re-read when they change.
    ///
    /// A path outside the folder is skipped; the folder itself is not.
    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return true;
        };
        // Every directory between the folder and the path must be a candidate too.
        let mut parent = PathBuf::new();
        let mut components = relative.components().peekable();
        while let Some(component) = components.next() {
            if components.peek().is_none() {
                break;
            }
            parent.push(component);
            if self.is_ignored_relative(&parent, true) {
                return true;
            }
        }
        self.is_ignored_relative(relative, is_dir)
    }

    /// Like [`Filter::is_ignored`] for a path whose parent directories are known to be
    /// candidates (a walk that does not enter skipped directories).
    pub(crate) fn is_ignored_entry(&self, path: &Path, is_dir: bool) -> bool {
        match path.strip_prefix(&self.root) {
            Ok(relative) => self.is_ignored_relative(relative, is_dir),
            Err(_) => true,
        }
    }

    /// The rules for one path relative to the folder, its parents not considered.
    fn is_ignored_relative(&self, relative: &Path, is_dir: bool) -> bool {
        if relative.as_os_str().is_empty() {
            return false;
        }
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return true;
        }
        let Some(name) = relative.file_name() else {
            return true;
        };
        let name = name.to_string_lossy();
        if name.starts_with('.') || is_temporary_name(&name) {
            return true;
        }
        if let Some(exclude) = &self.exclude
            && exclude.matched(relative, is_dir).is_ignore()
        {
            return true;
        }
        if self.ignored_by_files(relative, is_dir) {
            return true;
        }
        if !is_dir
            && let Some(include) = &self.include
            && !include.matches(relative)
        {
            return true;
        }
        false
    }

    /// `.imgcloudignore` files from the path's own directory up to the folder: the deepest
    /// file with a matching rule decides.
    fn ignored_by_files(&self, relative: &Path, is_dir: bool) -> bool {
        let mut cache = self.ignore_files.lock().unwrap_or_else(|e| e.into_inner());
        let mut dir = relative.parent();
        while let Some(d) = dir {
            let abs = self.root.join(d);
            let cached = Self::ignore_file(&mut cache, &abs);
            if let Some(rules) = &cached.rules {
                let below = relative.strip_prefix(d).unwrap_or(relative);
                match rules.matched(below, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
            dir = d.parent();
        }
        false
    }

    /// The cached `.imgcloudignore` of `dir`, (re)read when new or changed.
    fn ignore_file<'a>(
        cache: &'a mut HashMap<PathBuf, CachedIgnore>,
        dir: &Path,
    ) -> &'a CachedIgnore {
        let now = Instant::now();
        let fresh = cache
            .get(dir)
            .is_some_and(|c| now.duration_since(c.checked) < IGNORE_RECHECK);
        if !fresh {
            let file = dir.join(IGNORE_FILE);
            let stat = std::fs::metadata(&file)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| FileStat::of(&m));
            match cache.get_mut(dir) {
                Some(c) if c.stat == stat => c.checked = now,
                _ => {
                    let rules = stat.and_then(|_| read_ignore_file(dir, &file));
                    cache.insert(
                        dir.to_path_buf(),
                        CachedIgnore {
                            stat,
                            rules,
                            checked: now,
                        },
                    );
                }
            }
        }
        cache.get(dir).expect("just inserted")
    }
}

/// Parses one `.imgcloudignore`; bad lines are logged and skipped, the others apply.
fn read_ignore_file(dir: &Path, file: &Path) -> Option<Gitignore> {
    let mut builder = GitignoreBuilder::new(dir);
    if let Some(err) = builder.add(file) {
        tracing::warn!(
            "{}: {err}; the other lines of the file still apply",
            file.display()
        );
    }
    match builder.build() {
        Ok(rules) if !rules.is_empty() => Some(rules),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!("{}: {err}; the file is not used", file.display());
            None
        }
    }
}

#[cfg(test)]
mod tests;
