//! A private tmux server for driving a full-screen program like a person at a terminal:
//! `send-keys` in, `capture-pane` out. Each [`Tmux`] has its own server socket (in a temp dir
//! of its own) and no configuration file, a fixed window size, and is killed on drop (also when
//! the test fails, after printing the last screen).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tempfile::TempDir;

/// How often the screen is looked at while waiting for something to show.
const POLL: Duration = Duration::from_millis(100);

/// Variables of the test's own environment that never reach the pane: the program under test
/// gets exactly what the test gives it (no system clipboard, no outer tmux, no `IMGCLOUD_*`).
const SCRUBBED: &[&str] = &[
    "TMUX",
    "TMUX_PANE",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "SSH_TTY",
    "SSH_CONNECTION",
    "SSH_CLIENT",
    "RUST_LOG",
    "ENV",
];

/// One tmux server with one session and one pane running a shell.
pub struct Tmux {
    binary: PathBuf,
    socket: PathBuf,
    /// The last screen seen by [`Tmux::capture`], printed when the test fails.
    last_screen: Mutex<String>,
    /// Holds the socket; removed after the server is killed.
    _dir: TempDir,
}

impl Tmux {
    /// Starts a server with a `width`×`height` window whose pane runs an interactive `sh` with
    /// `env` on top of a scrubbed environment, and waits for its prompt. `set-clipboard on`
    /// lets programs in the pane set tmux's paste buffer with OSC 52; that alone is enough
    /// (the `clipboard` terminal feature / `Ms` only matter for passing it on to an attached
    /// terminal, and none is attached).
    pub fn start(width: u16, height: u16, env: &[(String, OsString)]) -> anyhow::Result<Self> {
        let binary = find_tmux()?;
        let dir = tempfile::Builder::new()
            .prefix("imgcloud-tmux-")
            .tempdir()
            .context("cannot create a temp dir for the tmux socket")?;
        let tmux = Self {
            binary,
            socket: dir.path().join("socket"),
            last_screen: Mutex::new(String::new()),
            _dir: dir,
        };
        let (w, h) = (width.to_string(), height.to_string());
        // One command line, so the option holds before the pane's shell starts.
        let mut args: Vec<OsString> = [
            "start-server",
            ";",
            "set-option",
            "-g",
            "set-clipboard",
            "on",
            ";",
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &w,
            "-y",
            &h,
        ]
        .map(OsString::from)
        .to_vec();
        for (name, value) in env {
            let mut pair = OsString::from(format!("{name}="));
            pair.push(value);
            args.extend([OsString::from("-e"), pair]);
        }
        // One argument: tmux runs it with `sh -c`, so `exec` leaves a plain interactive shell.
        args.push("exec sh".into());
        tmux.run(&args).context("cannot start a tmux server")?;
        // No client ever attaches, so the window keeps the size it was made with.
        let size = tmux.pane_format("#{window_width}x#{window_height}")?;
        anyhow::ensure!(
            size == format!("{w}x{h}"),
            "tmux made a {size} window, not {w}x{h}"
        );
        tmux.wait_for("the shell prompt", Duration::from_secs(30), |screen| {
            !screen.trim().is_empty()
        })?;
        Ok(tmux)
    }

    /// Runs `tmux -S SOCKET ARGS…` and returns its stdout; an error carries its stderr.
    pub fn run<I, S>(&self, args: I) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let output = self
            .command(&args)
            .output()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        check(&args, &output)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Types `text` literally into the pane.
    pub fn type_text(&self, text: &str) -> anyhow::Result<()> {
        self.run(["send-keys", "-t", "e2e", "-l", text]).map(drop)
    }

    /// Pastes `text` into the pane as a terminal does: bracketed (`ESC [200~ … ESC [201~`) when
    /// the program asked for it, line breaks kept as they are.
    pub fn paste(&self, text: &str) -> anyhow::Result<()> {
        self.run(["set-buffer", "-b", "e2e-paste", "--", text])?;
        self.run([
            "paste-buffer",
            "-p",
            "-r",
            "-d",
            "-b",
            "e2e-paste",
            "-t",
            "e2e",
        ])
        .map(drop)
    }

    /// Presses keys named the tmux way (`Enter`, `Escape`, `C-c`, `q`…), in order.
    pub fn press(&self, keys: &[&str]) -> anyhow::Result<()> {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.run(args).map(drop)
    }

    /// The visible screen as text, one line per row, trailing blanks trimmed.
    pub fn capture(&self) -> anyhow::Result<String> {
        let screen = self.run(["capture-pane", "-p", "-t", "e2e"])?;
        let screen: String = screen
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect();
        *self.last_screen.lock().unwrap_or_else(|e| e.into_inner()) = screen.clone();
        Ok(screen)
    }

    /// A pane format such as `#{alternate_on}` expanded by tmux.
    pub fn pane_format(&self, format: &str) -> anyhow::Result<String> {
        Ok(self
            .run(["display-message", "-p", "-t", "e2e", format])?
            .trim_end()
            .to_string())
    }

    /// The newest paste buffer, or `None` when there is none yet.
    pub fn buffer(&self) -> Option<String> {
        let output = self.command(&["show-buffer".into()]).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Polls the screen every 100 ms until `ready` holds, and returns that screen; after
    /// `timeout` fails naming `what` and showing the last screen.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        self.poll(what, timeout, || {
            let screen = self.capture()?;
            Ok(ready(&screen).then_some(screen))
        })
    }

    /// Calls `probe` every 100 ms until it returns `Some`, for at most `timeout`.
    pub fn poll<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe()? {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                let screen = self
                    .capture()
                    .unwrap_or_else(|e| format!("(no capture: {e})"));
                anyhow::bail!("waited {timeout:?} for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(POLL);
        }
    }

    fn command(&self, args: &[OsString]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            let scrub = |n: &str| n.starts_with("IMGCLOUD_") || SCRUBBED.contains(&n);
            if name.to_str().is_some_and(scrub) {
                command.env_remove(&name);
            }
        }
        command
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A fresh look if the server still answers, else the last one taken.
            let screen = self.capture().unwrap_or_else(|_| {
                self.last_screen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            });
            eprintln!("--- tmux pane (last screen)\n{screen}---");
        }
        let _ = self
            .command(&["kill-server".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn check(args: &[OsString], output: &Output) -> anyhow::Result<()> {
    anyhow::ensure!(
        output.status.success(),
        "tmux {} failed ({}): {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// `tmux` on `PATH`, or an error saying how to get it.
fn find_tmux() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("tmux"))
        .find(|candidate| candidate.is_file())
        .context(
            "tmux not found on PATH: the terminal UI's end-to-end test drives it in tmux; \
             install it (`apt-get install tmux`; scripts/test.sh does this)",
        )
}
