//! The outside world the TUI talks to — the cloud, the sync daemon, the clipboard — behind one
//! trait so the state machine is tested with a fake. [`perform`] runs an [`Effect`] and turns
//! its outcome into the [`Action`] that reports it.
//!
//! The library is read from the server's change feed (`GET /v1/changes`), which carries both
//! library and trash. The live backend keeps it in the local catalog ([`super::local`]) as it
//! goes, and reads the catalog back at start ([`Backend::catalog`]).

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use imgcloud_core::api::{ChangePage, Image};
use imgcloud_core::client::Client;
use imgcloud_core::daemon_api::Status;
use imgcloud_core::daemon_client::DaemonClient;

use super::action::{Action, Effect};
use super::local::Local;
use super::state::Daemon;

/// Change-feed entries asked for per request.
const PAGE: u32 = 1000;

pub trait Backend: Send + Sync + 'static {
    /// The change feed after `since` (0: everything).
    fn changes(&self, since: i64) -> impl Future<Output = Result<ChangePage, String>> + Send;
    /// Every image of the local catalog (none without one).
    fn catalog(&self) -> impl Future<Output = Result<Vec<Image>, String>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
    fn trash(&self, id: &str) -> impl Future<Output = Result<Image, String>> + Send;
    fn restore(&self, id: &str) -> impl Future<Output = Result<Image, String>> + Send;
    fn daemon(&self) -> impl Future<Output = Daemon> + Send;
    /// Copies `text`; says where it went ("to the clipboard") or why it could not.
    fn copy(&self, text: &str) -> Result<String, String>;
}

/// Runs `effect` and reports its outcome as an action.
pub async fn perform<B: Backend>(backend: &B, effect: Effect) -> Action {
    match effect {
        Effect::Load { since } => match backend.changes(since).await {
            Ok(page) => Action::Loaded {
                // A page that moved nowhere ends the load, unless it carried changes (the
                // catalog's swap to another account does, at that account's position).
                more: page.has_more && (page.next_since > since || !page.changes.is_empty()),
                changes: page.changes,
                next_since: page.next_since,
            },
            Err(reason) => Action::LoadFailed(reason),
        },
        Effect::LoadCatalog => Action::CatalogLoaded(backend.catalog().await),
        Effect::Trash { id } => match backend.trash(&id).await {
            Ok(image) => Action::Trashed(image),
            Err(reason) => Action::ChangeFailed {
                what: format!("moving {id} to the trash"),
                reason,
            },
        },
        Effect::Restore { id } => match backend.restore(&id).await {
            Ok(image) => Action::Restored(image),
            Err(reason) => Action::ChangeFailed {
                what: format!("restoring {id}"),
                reason,
            },
        },
        Effect::Copy { text, what } => Action::Copied {
            what,
            result: backend.copy(&text),
        },
    }
}

/// The real thing: the API client, the local catalog, the daemon's socket, the OS clipboard or
/// OSC 52.
pub struct Live {
    pub client: Client,
    pub local: Local,
    pub daemon: DaemonClient,
}

impl Backend for Live {
    async fn changes(&self, since: i64) -> Result<ChangePage, String> {
        self.local.changes(&self.client, since, PAGE).await
    }

    async fn catalog(&self) -> Result<Vec<Image>, String> {
        self.local.all().await
    }

    async fn trash(&self, id: &str) -> Result<Image, String> {
        let image = self.client.trash(id).await.map_err(|e| e.to_string())?;
        self.local.put(&image);
        Ok(image)
    }

    async fn restore(&self, id: &str) -> Result<Image, String> {
        let image = self.client.restore(id).await.map_err(|e| e.to_string())?;
        self.local.put(&image);
        Ok(image)
    }

    async fn daemon(&self) -> Daemon {
        let daemon = self.daemon.clone().with_timeout(Duration::from_secs(3));
        match daemon.status().await {
            Ok(status) => Daemon::Running {
                summary: summary(&status),
            },
            Err(e) => Daemon::Down {
                reason: e.to_string(),
            },
        }
    }

    fn copy(&self, text: &str) -> Result<String, String> {
        let over_ssh =
            std::env::var_os("SSH_TTY").is_some() || std::env::var_os("SSH_CONNECTION").is_some();
        let system = if over_ssh {
            Err("the session runs over SSH".to_string())
        } else {
            crate::clipboard::system_copy(text)
        };
        match system {
            Ok(()) => Ok("to the clipboard".to_string()),
            // The terminal itself is the clipboard of last resort (works over SSH when the
            // terminal supports OSC 52, as kitty, iTerm2, WezTerm, foot and tmux do).
            Err(reason) => {
                let mut out = std::io::stdout().lock();
                out.write_all(crate::clipboard::osc52_sequence(text).as_bytes())
                    .and_then(|()| out.flush())
                    .map(|()| "to the terminal's clipboard (OSC 52)".to_string())
                    .map_err(|e| format!("{reason}; OSC 52 failed too: {e}"))
            }
        }
    }
}

/// One line about the daemon: "sync running · 3 pending · 1 failed".
pub fn summary(status: &Status) -> String {
    let mut parts = vec![if status.paused {
        "sync paused".to_string()
    } else {
        "sync running".to_string()
    }];
    let pending = status.counts.pending();
    parts.push(if pending == 0 {
        "up to date".to_string()
    } else {
        format!("{pending} pending")
    });
    if status.counts.failed > 0 {
        parts.push(format!("{} failed", status.counts.failed));
    }
    if !status.online {
        parts.push("cloud unreachable".to_string());
    }
    parts.join(" · ")
}
