//! Keys → actions. Which keys mean what depends only on the mode (search, overlay, list).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::state::{AppState, Overlay};

/// The keys the help overlay lists, in order: (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("j k ↓ ↑", "move down / up"),
    ("PgDn PgUp", "move a page"),
    ("g G Home End", "first / last image"),
    ("/", "search filenames and tags"),
    ("Esc", "close / clear the search"),
    ("s", "sort by date, name, size"),
    ("y", "copy link (pick the format)"),
    ("d Del", "move to the trash"),
    ("u", "undo the last delete"),
    ("t", "library / trash view"),
    ("r", "restore (trash view)"),
    ("i", "details pane on / off"),
    ("R F5", "refresh from the server"),
    ("?", "this help"),
    ("q Ctrl-C", "quit"),
];

/// The action for `key` in the current mode, if any.
pub fn action_for(state: &AppState, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if state.searching {
        return match key.code {
            KeyCode::Esc => Some(Action::SearchCancel),
            KeyCode::Enter | KeyCode::Down | KeyCode::Up => Some(Action::SearchAccept),
            KeyCode::Backspace => Some(Action::SearchBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::SearchChar(c)),
            _ => None,
        };
    }
    match &state.overlay {
        Some(Overlay::Formats { .. }) => {
            return match key.code {
                KeyCode::Esc | KeyCode::Char('q') => Some(Action::Escape),
                KeyCode::Char('j') | KeyCode::Down | KeyCode::Tab => Some(Action::OverlayDown),
                KeyCode::Char('k') | KeyCode::Up | KeyCode::BackTab => Some(Action::OverlayUp),
                KeyCode::Enter | KeyCode::Char('y') => Some(Action::OverlayAccept),
                KeyCode::Char(c @ '1'..='9') => {
                    let n = c as usize - '1' as usize;
                    (n < state.formats.len()).then_some(Action::CopyAs(n))
                }
                _ => None,
            };
        }
        Some(Overlay::ConfirmTrash { .. }) => {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Enter => Some(Action::ConfirmTrash),
                KeyCode::Char('n') | KeyCode::Esc | KeyCode::Char('q') => Some(Action::Escape),
                _ => None,
            };
        }
        Some(Overlay::Help) => {
            return match key.code {
                KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => {
                    Some(Action::Escape)
                }
                _ => None,
            };
        }
        None => {}
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('d') if ctrl => Action::PageDown,
        KeyCode::Char('u') if ctrl => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Char('/') => Action::StartSearch,
        KeyCode::Esc => Action::Escape,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('y') => Action::OpenFormats,
        KeyCode::Char('d') | KeyCode::Delete => Action::AskTrash,
        KeyCode::Char('u') => Action::Undo,
        KeyCode::Char('t') => Action::ToggleTrash,
        KeyCode::Char('r') => Action::Restore,
        KeyCode::Char('i') => Action::ToggleDetails,
        KeyCode::Char('R') | KeyCode::F(5) => Action::Refresh,
        KeyCode::Char('?') => Action::ToggleHelp,
        _ => return None,
    })
}
