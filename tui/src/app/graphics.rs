//! Which image protocol the terminal speaks (kitty, sixel, iTerm2, or half-blocks, which work
//! everywhere), decided once at start-up by `ratatui-image`'s [`Picker`].
//!
//! `IMGCLOUD_PREVIEW` overrides the choice: `auto` (the default) asks the terminal, `kitty`,
//! `sixel`, `iterm2` force a protocol (the terminal is still asked for its cell size),
//! `halfblocks` asks nothing, and `off` draws no pictures at all.

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

/// A half-block picker that asks the terminal nothing (tests, and `IMGCLOUD_PREVIEW=halfblocks`).
pub fn halfblocks() -> Picker {
    let mut picker = Picker::from_fontsize(DEFAULT_FONT_SIZE);
    picker.set_protocol_type(ProtocolType::Halfblocks);
    picker
}

/// The picker for `choice`; `None` when previews are off. Must run after the terminal is in
/// raw mode and before anything else reads its input: the query writes escape sequences and
/// reads the answers (for at most a second; no or a failed answer means half-blocks).
pub fn detect(choice: Choice) -> Option<Picker> {
    match choice {
        Choice::Off => None,
        Choice::Force(ProtocolType::Halfblocks) => Some(halfblocks()),
        Choice::Auto => Some(Picker::from_query_stdio().unwrap_or_else(|e| {
            tracing::debug!(error = %e, "terminal graphics query failed; using half-blocks");
            halfblocks()
        })),
        Choice::Force(protocol) => {
            let mut picker = Picker::from_query_stdio().unwrap_or_else(|_| halfblocks());
            picker.set_protocol_type(protocol);
            Some(picker)
        }
    }
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
