//! Walking a watched folder (at start, on overflow, when a directory appears, periodically).
//!
//! CONTRACT STUB — implemented by the watch/queue helper.

use std::path::{Path, PathBuf};

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
pub fn scan(dir: &Path, filter: &Filter, recursive: bool, follow_symlinks: bool) -> ScanResult {
    let _ = (dir, filter, recursive, follow_symlinks);
    unimplemented!()
}
