//! Upload progress on stderr: one bar per file in flight plus an overall line, drawn only when
//! stderr is a terminal (scripts and CI logs get no escape sequences).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives upload events from any thread; cheap no-op when stderr is not a terminal.
pub struct Progress {
    inner: Option<Mutex<Bars>>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    files: HashMap<usize, ProgressBar>,
    started: u64,
    finished: u64,
}

impl Progress {
    /// Bars on stderr when it is a terminal, nothing otherwise.
    pub fn for_stderr() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { inner: None };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.enable_steady_tick(Duration::from_millis(120));
        let bars = Bars {
            multi,
            overall,
            files: HashMap::new(),
            started: 0,
            finished: 0,
        };
        Self {
            inner: Some(Mutex::new(bars)),
        }
    }

    pub fn started(&self, index: usize, path: &Path, bytes: u64) {
        self.with(|bars| {
            bars.started += 1;
            bars.overall.inc_length(bytes);
            let bar = bars
                .multi
                .insert_before(&bars.overall, ProgressBar::new(bytes));
            bar.set_style(
                ProgressStyle::with_template("  {wide_msg} [{bar:30}] {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(crate::output::sanitize_for_terminal(
                &path.display().to_string(),
            ));
            bars.files.insert(index, bar);
            bars.update_message();
        });
    }

    pub fn progress(&self, index: usize, bytes_done: u64) {
        self.with(|bars| {
            if let Some(bar) = bars.files.get(&index) {
                let delta = bytes_done.saturating_sub(bar.position());
                bar.set_position(bytes_done);
                bars.overall.inc(delta);
            }
        });
    }

    /// A file is done (uploaded, already there, or failed).
    pub fn finished(&self, index: usize) {
        self.with(|bars| {
            bars.finished += 1;
            if let Some(bar) = bars.files.remove(&index) {
                let rest = bar.length().unwrap_or(0).saturating_sub(bar.position());
                bars.overall.inc(rest);
                bar.finish_and_clear();
                bars.multi.remove(&bar);
            }
            bars.update_message();
        });
    }

    /// A line on stderr above the bars (or plainly, when there are none).
    pub fn message(&self, line: &str) {
        match &self.inner {
            Some(bars) => {
                let bars = bars.lock().unwrap_or_else(|e| e.into_inner());
                if bars.multi.println(line).is_err() {
                    eprintln!("{line}");
                }
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn clear(&self) {
        self.with(|bars| {
            for (_, bar) in bars.files.drain() {
                bar.finish_and_clear();
            }
            bars.overall.finish_and_clear();
            let _ = bars.multi.clear();
        });
    }

    fn with(&self, f: impl FnOnce(&mut Bars)) {
        if let Some(bars) = &self.inner {
            f(&mut bars.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}

impl Bars {
    fn update_message(&self) {
        self.overall
            .set_message(format!("{}/{} files", self.finished, self.started));
    }
}
