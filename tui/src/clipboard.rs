//! `--copy`: put text on the system clipboard, or say clearly why it could not be done.
//!
//! A missing clipboard (headless server, no X11/Wayland) is a warning, never a failure: the
//! links are on stdout anyway. Over SSH, where the system clipboard is the remote machine's, the
//! terminal's own clipboard (OSC 52) is used when stderr is a terminal.

use std::io::{IsTerminal, Write};

use base64::Engine as _;

/// Where the text ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    System,
    /// Sent to the terminal with OSC 52 (works when the terminal supports it).
    Terminal,
    /// Not copied; the reason is for the user.
    Unavailable(String),
}

/// Copies `text`, preferring the system clipboard.
pub fn copy(text: &str) -> Copied {
    let over_ssh =
        std::env::var_os("SSH_TTY").is_some() || std::env::var_os("SSH_CONNECTION").is_some();
    let system_error = if over_ssh {
        "the session runs over SSH".to_string()
    } else {
        match system_copy(text) {
            Ok(()) => return Copied::System,
            Err(e) => e,
        }
    };
    if std::io::stderr().is_terminal() && osc52(text).is_ok() {
        return Copied::Terminal;
    }
    Copied::Unavailable(system_error)
}

/// Prints what happened to a `--copy` on stderr.
pub fn report(copied: &Copied, count: usize) {
    let what = if count == 1 {
        "link".to_string()
    } else {
        format!("{count} links")
    };
    match copied {
        Copied::System => eprintln!("copied {what} to the clipboard"),
        Copied::Terminal => eprintln!("sent {what} to the terminal's clipboard (OSC 52)"),
        Copied::Unavailable(reason) => crate::output::warn(format_args!(
            "--copy: no clipboard available ({reason}); the links are on stdout"
        )),
    }
}

/// Copies `text` to the system clipboard (X11/Wayland/macOS/Windows), or says why not.
pub fn system_copy(text: &str) -> Result<(), String> {
    let mut clipboard = arboard::Clipboard::new().map_err(|e| e.to_string())?;
    clipboard.set_text(text).map_err(|e| e.to_string())
    // Dropping the clipboard hands the contents to a clipboard manager on X11/Wayland when one
    // runs, so they outlive this process.
}

/// The OSC 52 escape sequence that sets the terminal's clipboard to `text`.
pub fn osc52_sequence(text: &str) -> String {
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

fn osc52(text: &str) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    err.write_all(osc52_sequence(text).as_bytes())?;
    err.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_encodes_text_as_base64() {
        assert_eq!(osc52_sequence("a\nb"), "\x1b]52;c;YQpi\x07");
    }
}
