//! Keys → actions. Which keys mean what depends only on the mode (search, overlay, list).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::action::Action;
use super::input::Edit;
use super::state::{AppState, Overlay};

/// Rows one turn of the mouse wheel moves.
const WHEEL_ROWS: isize = 3;

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
    ("t a", "library / trash view; album"),
    ("r", "restore (trash view)"),
    ("i", "details pane on / off"),
    ("R F5", "refresh from the server"),
    ("U", "upload files, or drop them here"),
    ("Y", "copy the links of the upload"),
    ("n T", "rename / edit tags"),
    ("L h v", "share: new link / links / public"),
    ("o", "open the link in the browser"),
    ("l", "live sync panel on / off"),
    ("p S", "pause-resume / rescan the daemon"),
    ("mouse", "wheel scrolls, click selects"),
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
        Some(Overlay::Albums { .. }) => {
            return match key.code {
                KeyCode::Esc | KeyCode::Char('q') => Some(Action::Escape),
                KeyCode::Char('j') | KeyCode::Down | KeyCode::Tab => Some(Action::OverlayDown),
                KeyCode::Char('k') | KeyCode::Up | KeyCode::BackTab => Some(Action::OverlayUp),
                KeyCode::Enter => Some(Action::OverlayAccept),
                _ => None,
            };
        }
        Some(Overlay::Shares { .. }) => {
            return match key.code {
                KeyCode::Esc | KeyCode::Char('q') => Some(Action::Escape),
                KeyCode::Char('j') | KeyCode::Down | KeyCode::Tab => Some(Action::OverlayDown),
                KeyCode::Char('k') | KeyCode::Up | KeyCode::BackTab => Some(Action::OverlayUp),
                KeyCode::Enter | KeyCode::Char('y') => Some(Action::OverlayAccept),
                KeyCode::Char('x') | KeyCode::Delete => Some(Action::RevokeSelectedShare),
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
        Some(Overlay::Prompt(_)) => return prompt_key(key, ctrl),
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
        KeyCode::Char('U') => Action::StartUpload,
        KeyCode::Char('Y') => Action::CopyUploadLinks,
        KeyCode::Char('n') => Action::StartRename,
        KeyCode::Char('T') => Action::StartTags,
        KeyCode::Char('L') => Action::StartShare,
        KeyCode::Char('v') => Action::ToggleVisibility,
        KeyCode::Char('h') => Action::OpenShares,
        KeyCode::Char('a') => Action::OpenAlbums,
        KeyCode::Char('o') => Action::OpenLink,
        KeyCode::Char('l') => Action::ToggleSync,
        KeyCode::Char('p') => Action::TogglePause,
        KeyCode::Char('S') => Action::Rescan,
        _ => return None,
    })
}

/// Keys while a prompt is open: editing keys, Tab completes, Enter runs, Esc cancels.
fn prompt_key(key: KeyEvent, ctrl: bool) -> Option<Action> {
    let edit = match key.code {
        KeyCode::Esc => return Some(Action::Escape),
        KeyCode::Enter => return Some(Action::PromptSubmit),
        KeyCode::Tab => return Some(Action::PromptComplete),
        KeyCode::Char('a') if ctrl => Edit::Home,
        KeyCode::Char('e') if ctrl => Edit::End,
        KeyCode::Char('w') if ctrl => Edit::DeleteWord,
        KeyCode::Char('u') if ctrl => Edit::DeleteToStart,
        KeyCode::Char('k') if ctrl => Edit::DeleteToEnd,
        KeyCode::Char('h') if ctrl => Edit::Backspace,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Edit::Insert(c),
        KeyCode::Backspace => Edit::Backspace,
        KeyCode::Delete => Edit::Delete,
        KeyCode::Left => Edit::Left,
        KeyCode::Right => Edit::Right,
        KeyCode::Home => Edit::Home,
        KeyCode::End => Edit::End,
        _ => return None,
    };
    Some(Action::PromptEdit(edit))
}

/// The action for a mouse event; `list` is where the list is drawn (its first line is the
/// column header). The mouse acts on the list only, and not while a window or the search is
/// open.
pub fn mouse_action(state: &AppState, mouse: MouseEvent, list: Rect) -> Option<Action> {
    if state.overlay.is_some() || state.searching {
        return None;
    }
    let inside = mouse.column >= list.x
        && mouse.column < list.x + list.width
        && mouse.row > list.y
        && mouse.row < list.y + list.height;
    match mouse.kind {
        MouseEventKind::ScrollDown => Some(Action::Scroll(WHEEL_ROWS)),
        MouseEventKind::ScrollUp => Some(Action::Scroll(-WHEEL_ROWS)),
        MouseEventKind::Down(crossterm::event::MouseButton::Left) if inside => {
            let row = state.offset + usize::from(mouse.row - list.y - 1);
            (row < state.rows.len()).then_some(Action::Click { row })
        }
        _ => None,
    }
}
