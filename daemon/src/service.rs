//! `imgcloudd install-service`: a systemd user unit that starts the daemon at login and
//! restarts it when it fails. The same unit (with the usual install path) is in
//! `deploy/systemd/imgcloudd.service`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The unit's file name.
pub const UNIT_NAME: &str = "imgcloudd.service";

/// The unit text for the daemon binary at `exe`.
pub fn unit_text(exe: &Path) -> String {
    format!(
        "[Unit]
Description=imgcloud sync daemon: watched folders to the cloud, with a local backup copy
Documentation=https://github.com/imgcloud/imgcloud/blob/main/docs/daemon.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={}
# On SIGTERM the daemon stops taking work and lets uploads in flight finish or reach their
# next checkpoint (at most ~10 s); a restart resumes from the persistent queue.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=5
Environment=RUST_LOG=info

[Install]
WantedBy=default.target
",
        quote_exec(exe)
    )
}

/// Quotes a path for `ExecStart=` when it needs it (spaces, quotes, backslashes, `%`).
fn quote_exec(exe: &Path) -> String {
    let text = exe.display().to_string().replace('%', "%%");
    if text.contains([' ', '"', '\\', '\'']) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

/// `~/.config/systemd/user` (honouring `XDG_CONFIG_HOME`).
pub fn user_unit_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("systemd/user"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: cannot find ~/.config/systemd/user (use --print and place the unit yourself)")?;
    Ok(PathBuf::from(home).join(".config/systemd/user"))
}

/// Writes the unit for the running executable (or prints it with `print`), and says how to
/// enable it.
pub fn install(print: bool) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot tell where the imgcloudd executable is")?;
    let text = unit_text(&exe);
    if print {
        print!("{text}");
        return Ok(());
    }
    let dir = user_unit_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(UNIT_NAME);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "wrote {}\nstart it now and at every login with:\n  systemctl --user daemon-reload\n  systemctl --user enable --now imgcloudd\nlogs: journalctl --user -u imgcloudd -f",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_this_binary_and_restarts_on_failure() {
        let text = unit_text(Path::new("/opt/imgcloud/bin/imgcloudd"));
        assert!(
            text.contains("\nExecStart=/opt/imgcloud/bin/imgcloudd\n"),
            "{text}"
        );
        assert!(text.contains("Restart=on-failure"));
        assert!(text.contains("WantedBy=default.target"));
        let spaced = unit_text(Path::new("/home/a b/imgcloudd"));
        assert!(
            spaced.contains("ExecStart=\"/home/a b/imgcloudd\""),
            "{spaced}"
        );
    }

    #[test]
    fn the_shipped_unit_matches_the_generated_one_apart_from_the_path() {
        let shipped: String = include_str!("../../deploy/systemd/imgcloudd.service")
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let generated = unit_text(Path::new("%h/.cargo/bin/imgcloudd"));
        assert_eq!(
            shipped.trim_end(),
            generated.replace("%%h", "%h").trim_end()
        );
    }
}
