//! Which files of a watched folder are candidates: defaults (hidden, temp, partial and editor
//! files), `.imgcloudignore` files (gitignore syntax, in the folder and below) and the folder's
//! include/exclude globs.
//!
//! CONTRACT STUB — implemented by the watch/queue helper.

use std::path::Path;

use imgcloud_core::daemon_api::WatchedFolder;

pub struct Filter {
    _private: (),
}

impl Filter {
    /// Builds the filter of a folder; a bad glob is an error naming it.
    pub fn new(folder: &WatchedFolder) -> Result<Self, String> {
        let _ = folder;
        unimplemented!()
    }

    /// Whether `path` (inside the folder) is skipped. `.imgcloudignore` files are read when
    /// first needed and re-read when they change.
    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let _ = (path, is_dir);
        unimplemented!()
    }
}
