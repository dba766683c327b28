//! Logs: human-readable lines on stderr (colour only on a terminal) and a daily rotating file
//! `imgcloudd.YYYY-MM-DD.log` in `{data}/daemon/logs` (the last 7 kept).
//!
//! The level comes from `IMGCLOUD_LOG` or `RUST_LOG` (default `info`). Whatever is asked,
//! the embedded S3 store's request dumps (they carry presigned signatures) stay off, and
//! tokens never reach a log line (the client redacts them, presigned URLs are logged without
//! their query).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Log files kept.
pub const KEEP_FILES: usize = 7;
/// Default filter.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=warn,hyper=warn,reqwest=warn";
/// Appended to any filter: targets that would log secrets at debug level.
const ALWAYS: &str = "s3s=info,s3s_fs=info,hyper_util=info";

/// Keeps the file writer alive; drop it last (it flushes).
pub struct LogGuard {
    _file: Option<WorkerGuard>,
    /// Where the log files go (None: file logging is off).
    pub dir: Option<PathBuf>,
}

/// The effective filter for a user-given one.
pub fn filter_spec(user: Option<&str>) -> String {
    let base = user
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_FILTER);
    format!("{base},{ALWAYS}")
}

/// Installs the global subscriber. Without a writable `log_dir`, logs go to stderr only (and
/// one warning says why).
pub fn init(log_dir: &Path) -> LogGuard {
    let user = std::env::var("IMGCLOUD_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok());
    let spec = filter_spec(user.as_deref());
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let appender = imgcloud_core::paths::ensure_private_dir(log_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            Builder::new()
                .rotation(Rotation::DAILY)
                .filename_prefix("imgcloudd")
                .filename_suffix("log")
                .max_log_files(KEEP_FILES)
                .build(log_dir)
                .map_err(|e| e.to_string())
        });
    match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file = fmt::layer().with_writer(writer).with_ansi(false);
            let _ = tracing_subscriber::registry()
                .with(EnvFilter::new(&spec))
                .with(stderr)
                .with(file)
                .try_init();
            LogGuard {
                _file: Some(guard),
                dir: Some(log_dir.to_path_buf()),
            }
        }
        Err(e) => {
            let _ = tracing_subscriber::registry()
                .with(EnvFilter::new(&spec))
                .with(stderr)
                .try_init();
            tracing::warn!(
                "cannot write log files in {}: {e}; logging to stderr only",
                log_dir.display()
            );
            LogGuard {
                _file: None,
                dir: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bearing_targets_stay_quiet_whatever_is_asked() {
        let spec = filter_spec(Some("debug"));
        assert!(spec.starts_with("debug,"));
        assert!(spec.ends_with(ALWAYS));
        assert!(filter_spec(None).starts_with("info,"));
        assert!(filter_spec(Some("  ")).starts_with("info,"));
        EnvFilter::try_new(filter_spec(Some("trace"))).unwrap();
    }
}
