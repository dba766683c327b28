//! `IMGCLOUD_TUI_TIMINGS=FILE`: the TUI appends how long it took to show its first frame and to
//! handle and redraw each key, for `scripts/bench/tui.sh`. One line per measurement:
//!
//! ```text
//! first_frame_ms 41.2        process start → first frame drawn
//! catalog_loaded_ms 180.4    process start → the whole local catalog in memory and drawn
//! key list 0.61              a key in the list: received → its frame drawn
//! key search 2.35            a key typed into the search
//! ```

use std::fs::File;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Records the process start; call first thing in `main`.
pub fn mark_start() {
    START.get_or_init(Instant::now);
}

/// Milliseconds since [`mark_start`].
pub fn since_start_ms() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// The timings file, when `IMGCLOUD_TUI_TIMINGS` names one.
pub struct Timings {
    file: File,
}

impl Timings {
    /// Opens the file named by `IMGCLOUD_TUI_TIMINGS` for appending (None when unset).
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let Some(path) = std::env::var_os("IMGCLOUD_TUI_TIMINGS").filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the timings file {} (IMGCLOUD_TUI_TIMINGS): {e}",
                    std::path::Path::new(&path).display()
                )
            })?;
        Ok(Some(Self { file }))
    }

    /// Appends `name value` (milliseconds); a failed write is ignored (timings are optional).
    pub fn record(&mut self, name: &str, ms: f64) {
        let _ = writeln!(self.file, "{name} {ms:.3}");
    }
}

/// What the run loop reports: the first frame, the catalog loaded, and each key from the moment
/// it was read until the frame that shows it.
pub struct Measure {
    timings: Option<Timings>,
    drawn_once: bool,
    catalog_reported: bool,
    keys: Vec<(&'static str, Instant)>,
}

impl Measure {
    pub fn new(timings: Option<Timings>) -> Self {
        Self {
            timings,
            drawn_once: false,
            catalog_reported: false,
            keys: Vec::new(),
        }
    }

    /// A key read at `at`, to be reported with the next frame; `searching`: typed into the search.
    pub fn key(&mut self, searching: bool, at: Instant) {
        if self.timings.is_some() {
            self.keys
                .push((if searching { "key search" } else { "key list" }, at));
        }
    }

    /// A frame of `state` was drawn.
    pub fn drawn(&mut self, state: &super::state::AppState) {
        let Some(timings) = &mut self.timings else {
            return;
        };
        if !self.drawn_once {
            self.drawn_once = true;
            timings.record("first_frame_ms", since_start_ms());
        }
        if !self.catalog_reported
            && state
                .local
                .as_ref()
                .is_some_and(|local| local.partial.is_none())
        {
            self.catalog_reported = true;
            timings.record("catalog_loaded_ms", since_start_ms());
        }
        for (name, at) in self.keys.drain(..) {
            timings.record(name, at.elapsed().as_secs_f64() * 1000.0);
        }
    }
}
