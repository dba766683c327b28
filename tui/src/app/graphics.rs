//! Which image protocol the terminal speaks (kitty, sixel, iTerm2, or half-blocks, which work
//! everywhere), decided once at start-up by `ratatui-image`'s [`Picker`].
//!
//! `IMGCLOUD_PREVIEW` overrides the choice: `auto` (the default) asks the terminal, `kitty`,
//! `sixel`, `iterm2` force a protocol (the terminal is still asked for its cell size),
//! `halfblocks` asks nothing, and `off` draws no pictures at all.
//!
//! The protocol is then fixed for the session: the loader encodes pictures for it in the
//! background.

use std::time::{Duration, Instant};

use ratatui_image::picker::{Picker, ProtocolType};

/// Cell size assumed when the terminal does not say (only the 1:2 ratio matters for
/// half-blocks).
pub const DEFAULT_FONT_SIZE: (u16, u16) = (10, 20);

/// What `IMGCLOUD_PREVIEW` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Choice {
    Auto,
    Off,
    Force(ProtocolType),
}

impl Choice {
    /// Parses the variable's value (case-insensitive; empty means `auto`).
    pub fn parse(value: &str) -> Result<Self, String> {
        Ok(match value.trim().to_lowercase().as_str() {
            "" | "auto" => Self::Auto,
            "off" | "none" | "0" => Self::Off,
            "kitty" => Self::Force(ProtocolType::Kitty),
            "sixel" => Self::Force(ProtocolType::Sixel),
            "iterm2" | "iterm" => Self::Force(ProtocolType::Iterm2),
            "halfblocks" | "half-blocks" | "blocks" => Self::Force(ProtocolType::Halfblocks),
            other => {
                return Err(format!(
                    "IMGCLOUD_PREVIEW={other} is not known; use auto, kitty, sixel, iterm2, halfblocks or off"
                ));
            }
        })
    }

    /// From the environment; an unknown value falls back to `auto` with a warning for the
    /// status line.
    pub fn from_env() -> (Self, Option<String>) {
        match std::env::var("IMGCLOUD_PREVIEW") {
            Ok(value) => match Self::parse(&value) {
                Ok(choice) => (choice, None),
                Err(warning) => (Self::Auto, Some(warning)),
            },
            Err(_) => (Self::Auto, None),
        }
    }
}

/// How long the terminal has to answer the query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// A half-block picker that asks the terminal nothing (tests, and `IMGCLOUD_PREVIEW=halfblocks`).
pub fn halfblocks() -> Picker {
    let mut picker = Picker::from_fontsize(DEFAULT_FONT_SIZE);
    picker.set_protocol_type(ProtocolType::Halfblocks);
    picker
}

/// The picker for `choice`; `None` when previews are off. Must run after the terminal is in
/// raw mode and before anything else reads its input: the query writes escape sequences and
/// reads the answers for at most [`QUERY_TIMEOUT`] (no answer means half-blocks).
pub fn detect(choice: Choice) -> Option<Picker> {
    let forced = match choice {
        Choice::Off => return None,
        Choice::Force(ProtocolType::Halfblocks) => return Some(halfblocks()),
        Choice::Force(protocol) => Some(protocol),
        Choice::Auto => None,
    };
    let answer = query_terminal(QUERY_TIMEOUT);
    if answer.is_none() {
        tracing::debug!("the terminal did not answer the graphics query in time");
    }
    let Answer {
        protocol: capable,
        font_size,
    } = answer.unwrap_or_default();
    // `from_fontsize` also applies ratatui-image's hints from the environment (iTerm2,
    // WezTerm, and the outer terminal under tmux), which take precedence as they do there.
    let mut picker = Picker::from_fontsize(
        font_size
            .or_else(font_size_from_winsize)
            .unwrap_or(DEFAULT_FONT_SIZE),
    );
    let hinted = Some(picker.protocol_type()).filter(|p| *p != ProtocolType::Halfblocks);
    if let Some(protocol) = forced.or(hinted).or(capable) {
        picker.set_protocol_type(protocol);
    }
    Some(picker)
}

/// What the terminal said about itself.
#[derive(Debug, Default)]
struct Answer {
    protocol: Option<ProtocolType>,
    /// Cell size in pixels.
    font_size: Option<(u16, u16)>,
}

#[cfg(unix)]
fn in_tmux() -> bool {
    std::env::var("TERM").is_ok_and(|term| term.starts_with("tmux"))
        || std::env::var("TERM_PROGRAM").is_ok_and(|program| program == "tmux")
}

/// Asks the terminal which graphics it speaks and its cell size in pixels, with the queries
/// of ratatui-image (kitty graphics query, device attributes for sixel, `CSI 16 t`), ended by a
/// device status report every terminal answers. Waits with poll(2) so nothing keeps reading
/// the input after the timeout (ratatui-image's own query leaves a thread blocked on it,
/// which then swallows the first keys when a terminal does not answer).
#[cfg(unix)]
fn query_terminal(timeout: Duration) -> Option<Answer> {
    use std::io::Write as _;
    use std::os::fd::AsFd as _;

    use ratatui_image::picker::cap_parser::{Parser, QueryStdioOptions, Response};
    use rustix::event::{PollFd, PollFlags, poll};

    let tmux = in_tmux();
    let mut query = Parser::query(
        tmux,
        QueryStdioOptions {
            text_sizing_protocol: false,
        },
    );
    if tmux {
        // Under tmux the queries pass through to the outer terminal, whose answers tmux may
        // not hand back; tmux answers this status report itself, so the query ends at once.
        query.push_str("\x1b[5n");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(query.as_bytes()).ok()?;
    out.flush().ok()?;
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let deadline = Instant::now() + timeout;
    let mut parser = Parser::new();
    let (mut protocol, mut font_size) = (None, None);
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let millis = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        match poll(&mut fds, millis) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
        let n = rustix::io::read(fd, &mut buf).ok()?;
        if n == 0 {
            return None;
        }
        for &byte in &buf[..n] {
            for response in parser.push(char::from(byte)) {
                match response {
                    Response::Status => {
                        return Some(Answer {
                            protocol,
                            font_size,
                        });
                    }
                    Response::Kitty => protocol = Some(ProtocolType::Kitty),
                    Response::Sixel if protocol.is_none() => protocol = Some(ProtocolType::Sixel),
                    Response::CellSize(Some(size)) => font_size = Some(size),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(not(unix))]
fn query_terminal(_timeout: Duration) -> Option<Answer> {
    None
}

/// Cell size from the window size in pixels, for terminals that report it there only.
#[cfg(unix)]
fn font_size_from_winsize() -> Option<(u16, u16)> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    if size.ws_xpixel == 0 || size.ws_ypixel == 0 || size.ws_col == 0 || size.ws_row == 0 {
        return None;
    }
    Some((size.ws_xpixel / size.ws_col, size.ws_ypixel / size.ws_row))
}

#[cfg(not(unix))]
fn font_size_from_winsize() -> Option<(u16, u16)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_a_protocol_or_off() {
        assert_eq!(Choice::parse("").unwrap(), Choice::Auto);
        assert_eq!(
            Choice::parse("Kitty").unwrap(),
            Choice::Force(ProtocolType::Kitty)
        );
        assert_eq!(
            Choice::parse("halfblocks").unwrap(),
            Choice::Force(ProtocolType::Halfblocks)
        );
        assert_eq!(Choice::parse("off").unwrap(), Choice::Off);
        let err = Choice::parse("png").unwrap_err();
        assert!(err.contains("IMGCLOUD_PREVIEW=png"), "{err}");
    }

    #[test]
    fn forced_halfblocks_ask_the_terminal_nothing() {
        let picker = detect(Choice::Force(ProtocolType::Halfblocks)).unwrap();
        assert_eq!(picker.protocol_type(), ProtocolType::Halfblocks);
        assert!(detect(Choice::Off).is_none());
    }
}
