//! Running the real `imgcloud` CLI.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What one CLI run produced.
#[derive(Debug, Clone)]
pub struct CliOutput {
    pub stdout: String,
    pub stderr: String,
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
}

impl CliOutput {
    /// Non-empty stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Panics with both streams unless the run exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert_eq!(self.code, 0, "imgcloud failed:\n{self}");
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `binary args…` in `cwd` with exactly `env` on top of a scrubbed environment (no
/// `IMGCLOUD_*` or `RUST_LOG` leaks in from the caller), feeding `stdin`.
pub fn run(
    binary: &Path,
    args: &[&str],
    env: &[(String, OsString)],
    cwd: Option<&Path>,
    stdin: Option<&[u8]>,
) -> anyhow::Result<CliOutput> {
    let mut command = Command::new(binary);
    command.args(args);
    for (name, _) in std::env::vars_os() {
        let scrub = |n: &str| {
            n.starts_with("IMGCLOUD_") || ["RUST_LOG", "DISPLAY", "WAYLAND_DISPLAY"].contains(&n)
        };
        if name.to_str().is_some_and(scrub) {
            command.env_remove(&name);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", binary.display()))?;
    if let Some(bytes) = stdin {
        let mut pipe = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin pipe"))?;
        pipe.write_all(bytes)?;
    }
    let output = child.wait_with_output()?;
    Ok(CliOutput {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    })
}
