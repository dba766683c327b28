//! Counters of the derivative service, exported at `/metrics` beside the queue's own figures.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use imgcloud_core::api::{PRESETS, Preset};

use crate::store::JobStats;

/// What this replica's derivative service did.
#[derive(Debug, Default)]
pub struct DerivativeStats {
    /// Renders per preset (index in `PRESETS`), with their total seconds.
    generated: Mutex<[(u64, f64); PRESETS.len()]>,
    /// Derivatives found already in the store under a claim (older clients' thumbnails).
    adopted: AtomicU64,
    /// Renders that failed: the original is broken / something else failed.
    broken: AtomicU64,
    failed: AtomicU64,
    /// Polls while another worker held a claim.
    waits: AtomicU64,
    /// Background jobs finished / retried.
    jobs_done: AtomicU64,
    jobs_retried: AtomicU64,
}

impl DerivativeStats {
    pub fn record_generated(&self, preset: Preset, seconds: f64) {
        if let Some(i) = PRESETS.iter().position(|p| *p == preset) {
            let mut generated = self.generated.lock().unwrap_or_else(|p| p.into_inner());
            generated[i].0 += 1;
            generated[i].1 += seconds;
        }
    }

    pub fn record_adopted(&self) {
        self.adopted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_failure(&self, permanent: bool) {
        let counter = if permanent {
            &self.broken
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_wait(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_job(&self, done: bool) {
        let counter = if done {
            &self.jobs_done
        } else {
            &self.jobs_retried
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders of `preset` so far.
    pub fn generated(&self, preset: Preset) -> u64 {
        let generated = self.generated.lock().unwrap_or_else(|p| p.into_inner());
        PRESETS
            .iter()
            .position(|p| *p == preset)
            .map_or(0, |i| generated[i].0)
    }

    /// Prometheus text of these counters and of `queue` (read from the database at scrape time;
    /// `None` when it could not be read).
    pub fn render(&self, queue: Option<JobStats>) -> String {
        let mut out = String::new();
        let generated = *self.generated.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP imgcloud_derivatives_generated_total Derivatives rendered by this replica, by preset.\n");
        out.push_str("# TYPE imgcloud_derivatives_generated_total counter\n");
        for (preset, (n, _)) in PRESETS.iter().zip(generated) {
            let _ = writeln!(
                out,
                "imgcloud_derivatives_generated_total{{preset=\"{}\"}} {n}",
                preset.name
            );
        }
        out.push_str("# HELP imgcloud_derivative_render_seconds Time spent rendering and storing derivatives (the original already fetched).\n");
        out.push_str("# TYPE imgcloud_derivative_render_seconds summary\n");
        for (preset, (n, seconds)) in PRESETS.iter().zip(generated) {
            let _ = writeln!(
                out,
                "imgcloud_derivative_render_seconds_sum{{preset=\"{}\"}} {seconds:.6}\nimgcloud_derivative_render_seconds_count{{preset=\"{}\"}} {n}",
                preset.name, preset.name
            );
        }
        let counters = [
            (
                "imgcloud_derivatives_adopted_total",
                "Derivatives found already stored (made by older clients) and adopted.",
                &self.adopted,
            ),
            (
                "imgcloud_derivative_failures_total{kind=\"broken\"}",
                "Renders that failed, by kind: broken originals, or other failures (retried).",
                &self.broken,
            ),
            (
                "imgcloud_derivative_failures_total{kind=\"other\"}",
                "",
                &self.failed,
            ),
            (
                "imgcloud_derivative_waits_total",
                "Polls while another worker made the same derivative.",
                &self.waits,
            ),
            (
                "imgcloud_derivative_jobs_total{result=\"done\"}",
                "Background jobs finished or put back for a retry.",
                &self.jobs_done,
            ),
            (
                "imgcloud_derivative_jobs_total{result=\"retried\"}",
                "",
                &self.jobs_retried,
            ),
        ];
        for (name, help, value) in counters {
            let base = name.split('{').next().unwrap_or(name);
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {base} {help}\n# TYPE {base} counter");
            }
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        if let Some(queue) = queue {
            let _ = writeln!(
                out,
                "# HELP imgcloud_derivative_queue_depth Background derivative jobs waiting or running.\n\
                 # TYPE imgcloud_derivative_queue_depth gauge\n\
                 imgcloud_derivative_queue_depth {}\n\
                 # HELP imgcloud_derivative_queue_oldest_seconds Age of the oldest background derivative job.\n\
                 # TYPE imgcloud_derivative_queue_oldest_seconds gauge\n\
                 imgcloud_derivative_queue_oldest_seconds {:.3}\n\
                 # HELP imgcloud_derivative_queue_failing Background jobs whose last attempt failed (waiting to retry).\n\
                 # TYPE imgcloud_derivative_queue_failing gauge\n\
                 imgcloud_derivative_queue_failing {}",
                queue.depth, queue.oldest_age_secs, queue.failing
            );
        }
        out
    }
}
