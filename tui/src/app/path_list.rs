//! The upload prompt's text as a list of paths. What a file manager drops on a terminal window
//! is pasted as a list: paths quoted (`'My photo.jpg'`), backslash-escaped (`My\ photo.jpg`) or
//! as `file://` URIs, separated by spaces or new lines. A path typed as is, spaces included,
//! is one path when it exists.

use std::path::{Path, PathBuf};

use super::complete;

/// One path or a list, read from the prompt's `text` (`~` is `home`): the whole text when it
/// names something that exists, else the list [`split`] reads (an error says why it cannot).
pub fn resolve(text: &str, home: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let text = text.trim();
    let whole = complete::expand(text, home);
    if std::fs::symlink_metadata(&whole).is_ok() {
        return Ok(vec![whole]);
    }
    Ok(split(text)?.into_iter().map(|w| w.path(home)).collect())
}

/// Pasted text (what a file manager copied, or files dropped on the terminal) as the prompt's
/// one line. One line stays as it is. Several lines are one path each, as a file manager copies
/// them: a line is quoted unless it already uses quotes or backslashes; a line ending in a
/// backslash goes on with the next.
pub fn from_paste(text: &str) -> String {
    let lines: Vec<&str> = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    if lines.len() <= 1 {
        return lines.first().map_or(String::new(), |line| line.to_string());
    }
    let mut out = String::new();
    let mut continued = false;
    for line in lines {
        if !out.is_empty() && !continued {
            out.push(' ');
        }
        continued = line.ends_with('\\');
        if continued || line.contains(['\'', '"', '\\']) {
            out.push_str(line.strip_suffix('\\').unwrap_or(line));
        } else {
            out.push('\'');
            out.push_str(line);
            out.push('\'');
        }
    }
    out
}

/// One path of a list, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Whether it starts with a `~` that was not quoted or escaped (the home folder).
    pub home_relative: bool,
}

impl Word {
    /// The path it names: `file://` URIs decoded, a leading unquoted `~` expanded.
    pub fn path(&self, home: Option<&Path>) -> PathBuf {
        if let Some(path) = file_uri_path(&self.text) {
            return path;
        }
        if self.home_relative {
            complete::expand(&self.text, home)
        } else {
            PathBuf::from(&self.text)
        }
    }
}

/// Splits `text` as a shell would (no variables, no globs): whitespace separates, `'…'` is
/// literal, `"…"` knows `\"`, `\\`, `\$` and `` \` ``, and a backslash elsewhere escapes the
/// next character. `file://` URIs must name a local file.
pub fn split(text: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        let home_relative = first == '~';
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(unclosed('\'')),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(unclosed('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(unclosed('"')),
                    }
                },
                '\\' => match chars.next() {
                    // A backslash before a line break joins the lines.
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => word.push('\\'),
                },
                c => word.push(c),
            }
        }
        if word.starts_with("file:") && file_uri_path(&word).is_none() {
            return Err(format!(
                "“{word}” is not the URI of a local file: type or drop a path"
            ));
        }
        words.push(Word {
            text: word,
            home_relative,
        });
    }
    Ok(words)
}

fn unclosed(quote: char) -> String {
    format!("a {quote} is not closed: close it, or type one path as it is")
}

/// The local path of a `file://` URI (percent-decoded), if `text` is one.
fn file_uri_path(text: &str) -> Option<PathBuf> {
    if !text.starts_with("file:") {
        return None;
    }
    let url = url::Url::parse(text).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    url.to_file_path().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        split(text).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn what_file_managers_drop_splits_into_paths() {
        // GNOME Terminal / Konsole: single quotes, a space between
        assert_eq!(
            texts("'/home/ann/My photo.jpg' '/home/ann/b.png' "),
            ["/home/ann/My photo.jpg", "/home/ann/b.png"]
        );
        // backslash escapes (xterm, kitty), one a line
        assert_eq!(
            texts("/tmp/My\\ photo.jpg\n/tmp/it\\'s.png"),
            ["/tmp/My photo.jpg", "/tmp/it's.png"]
        );
        // double quotes keep a backslash that escapes nothing
        assert_eq!(
            texts(r#""C:\photos\a.jpg" "say \"hi\".jpg""#),
            [r"C:\photos\a.jpg", r#"say "hi".jpg"#]
        );
        // quotes inside a word
        assert_eq!(texts("/tmp/a' 'b.jpg"), ["/tmp/a b.jpg"]);
        assert!(texts("   \n ").is_empty());
    }

    #[test]
    fn pasted_lines_are_one_path_each() {
        // one line: as it is (the whole text may be one path with spaces)
        assert_eq!(from_paste("/tmp/My photo.jpg\n"), "/tmp/My photo.jpg");
        // a file manager's copied files, one a line (with \r\n too)
        let text = from_paste("/tmp/My photo.jpg\r\n/tmp/b.jpg\r\n");
        assert_eq!(text, "'/tmp/My photo.jpg' '/tmp/b.jpg'");
        // a terminal may turn line feeds into carriage returns
        assert_eq!(from_paste("/tmp/My photo.jpg\r/tmp/b.jpg"), text);
        assert_eq!(texts(&text), ["/tmp/My photo.jpg", "/tmp/b.jpg"]);
        // lines already quoted or escaped stay as they are
        let text = from_paste("'/tmp/a b.jpg'\n/tmp/c\\ d.jpg\nfile:///tmp/e%20f.jpg");
        assert_eq!(
            texts(&text),
            ["/tmp/a b.jpg", "/tmp/c d.jpg", "file:///tmp/e%20f.jpg"]
        );
        // a shell-style continued line
        let text = from_paste("'/tmp/a.jpg' \\\n'/tmp/b.jpg'\n/tmp/c.jpg");
        assert_eq!(texts(&text), ["/tmp/a.jpg", "/tmp/b.jpg", "/tmp/c.jpg"]);
        assert_eq!(from_paste(" \n\n"), "");
    }

    #[test]
    fn file_uris_are_decoded() {
        let words =
            split("file:///tmp/My%20photo.jpg file://localhost/tmp/%C3%A9t%C3%A9.png").unwrap();
        let paths: Vec<PathBuf> = words.iter().map(|w| w.path(None)).collect();
        assert_eq!(
            paths,
            [
                PathBuf::from("/tmp/My photo.jpg"),
                PathBuf::from("/tmp/été.png")
            ]
        );
        let err = split("file://server/share/a.jpg").unwrap_err();
        assert!(err.contains("file://server/share/a.jpg"), "{err}");
    }

    #[test]
    fn an_unclosed_quote_is_an_error_that_says_so() {
        for (text, quote) in [("'/tmp/a.jpg", '\''), ("/tmp/a \"b", '"')] {
            let err = split(text).unwrap_err();
            assert!(err.contains(&format!("a {quote} is not closed")), "{err}");
        }
    }

    #[test]
    fn only_an_unquoted_tilde_is_the_home_folder() {
        let home = Path::new("/home/ann");
        let words = split("~/a.jpg '~/b.jpg' \\~/c.jpg").unwrap();
        let paths: Vec<PathBuf> = words.iter().map(|w| w.path(Some(home))).collect();
        assert_eq!(
            paths,
            [
                PathBuf::from("/home/ann/a.jpg"),
                PathBuf::from("~/b.jpg"),
                PathBuf::from("~/c.jpg")
            ]
        );
    }

    #[test]
    fn a_typed_path_with_spaces_is_one_path_when_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let spaced = dir.path().join("My photos");
        std::fs::create_dir(&spaced).unwrap();
        let other = dir.path().join("b.jpg");
        std::fs::write(&other, b"x").unwrap();
        let text = format!("{} ", spaced.display());
        assert_eq!(resolve(&text, None).unwrap(), std::slice::from_ref(&spaced));
        // the same folder quoted beside another file: a list of two
        let text = format!("'{}' {}", spaced.display(), other.display());
        assert_eq!(resolve(&text, None).unwrap(), [spaced, other.clone()]);
        // an apostrophe in a path typed as is
        let apostrophe = dir.path().join("Ann's photo.jpg");
        std::fs::write(&apostrophe, b"x").unwrap();
        let text = apostrophe.display().to_string();
        assert_eq!(resolve(&text, None).unwrap(), [apostrophe]);
        // neither one path nor a readable list
        let err = resolve("'/nope", None).unwrap_err();
        assert!(err.contains("is not closed"), "{err}");
        // paths that do not exist are the upload's to report, by name
        let text = format!("{} /nope/x.jpg", other.display());
        assert_eq!(
            resolve(&text, None).unwrap(),
            [other, PathBuf::from("/nope/x.jpg")]
        );
        let home = dir.path();
        assert_eq!(
            resolve("~/b.jpg", Some(home)).unwrap(),
            [home.join("b.jpg")]
        );
    }
}
