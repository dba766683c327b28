//! A one-line text input (the prompts' editing state): the text and a cursor, moved and edited
//! by the usual keys. Positions count characters, not bytes, so any Unicode text edits safely.

/// An edit of a [`TextInput`], as sent by the key map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    /// Delete the character before the cursor (`Backspace`).
    Backspace,
    /// Delete the character under the cursor (`Del`).
    Delete,
    Left,
    Right,
    /// To the start (`Home`, `Ctrl-a`).
    Home,
    /// To the end (`End`, `Ctrl-e`).
    End,
    /// Delete the word before the cursor (`Ctrl-w`).
    DeleteWord,
    /// Delete everything before the cursor (`Ctrl-u`).
    DeleteToStart,
    /// Delete everything from the cursor on (`Ctrl-k`).
    DeleteToEnd,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    text: String,
    /// Characters before the cursor.
    cursor: usize,
}

impl TextInput {
    /// An input holding `text` with the cursor at its end.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let cursor = text.chars().count();
        Self { text, cursor }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Replaces the text, cursor at the end (e.g. after a completion).
    pub fn set(&mut self, text: impl Into<String>) {
        *self = Self::new(text);
    }

    /// The text before and from the cursor.
    pub fn split(&self) -> (&str, &str) {
        self.text.split_at(self.byte(self.cursor))
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    fn byte(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    fn remove(&mut self, from: usize, to: usize) {
        let (start, end) = (self.byte(from), self.byte(to));
        self.text.replace_range(start..end, "");
        self.cursor = from;
    }

    pub fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::Insert(c) => {
                let at = self.byte(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            Edit::Backspace if self.cursor > 0 => self.remove(self.cursor - 1, self.cursor),
            Edit::Delete if self.cursor < self.len() => self.remove(self.cursor, self.cursor + 1),
            Edit::Backspace | Edit::Delete => {}
            Edit::Left => self.cursor = self.cursor.saturating_sub(1),
            Edit::Right => self.cursor = (self.cursor + 1).min(self.len()),
            Edit::Home => self.cursor = 0,
            Edit::End => self.cursor = self.len(),
            Edit::DeleteWord => {
                let before: Vec<char> = self.text.chars().take(self.cursor).collect();
                let mut start = self.cursor;
                while start > 0 && before[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !before[start - 1].is_whitespace() && before[start - 1] != '/' {
                    start -= 1;
                }
                // A lone separator before the cursor goes on its own.
                if start == self.cursor && start > 0 {
                    start -= 1;
                }
                self.remove(start, self.cursor);
            }
            Edit::DeleteToStart => self.remove(0, self.cursor),
            Edit::DeleteToEnd => {
                let len = self.len();
                let cursor = self.cursor;
                self.remove(cursor, len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str, edits: &[Edit]) -> TextInput {
        let mut input = TextInput::new(text);
        for &edit in edits {
            input.apply(edit);
        }
        input
    }

    #[test]
    fn typing_inserts_at_the_cursor() {
        let input = typed(
            "cat.png",
            &[
                Edit::Home,
                Edit::Insert('a'),
                Edit::Right,
                Edit::Insert('b'),
            ],
        );
        assert_eq!(input.text(), "acbat.png");
        assert_eq!(input.split().0.chars().count(), 3);
        assert_eq!(input.split(), ("acb", "at.png"));
    }

    #[test]
    fn backspace_and_delete_work_on_multibyte_text() {
        let input = typed(
            "été.jpg",
            &[Edit::Home, Edit::Delete, Edit::Right, Edit::Backspace],
        );
        assert_eq!(input.text(), "é.jpg");
        assert_eq!(input.split().0.chars().count(), 0);
        // Nothing to delete at the ends: no panic, no change.
        let input = typed(
            "ab",
            &[Edit::Delete, Edit::Home, Edit::Backspace, Edit::Left],
        );
        assert_eq!((input.text(), input.split().0.chars().count()), ("ab", 0));
        let input = typed("ab", &[Edit::Right, Edit::Right]);
        assert_eq!(
            input.split().0.chars().count(),
            2,
            "the cursor stops at the end"
        );
    }

    #[test]
    fn word_and_line_deletions() {
        assert_eq!(
            typed("~/Pictures/holiday", &[Edit::DeleteWord]).text(),
            "~/Pictures/"
        );
        assert_eq!(
            typed("~/Pictures/", &[Edit::DeleteWord]).text(),
            "~/Pictures"
        );
        assert_eq!(typed("sea, sun  ", &[Edit::DeleteWord]).text(), "sea, ");
        let input = typed(
            "hello world",
            &[Edit::Left, Edit::Left, Edit::DeleteToStart],
        );
        assert_eq!((input.text(), input.split().0.chars().count()), ("ld", 0));
        let input = typed("hello world", &[Edit::Home, Edit::Right, Edit::DeleteToEnd]);
        assert_eq!((input.text(), input.split().0.chars().count()), ("h", 1));
    }
}
