//! Path completion for the upload prompt: `~` expansion, the longest common prefix of the
//! matching entries, and the candidates to show when there are several.

use std::path::{Path, PathBuf};

/// Candidates listed at most (a huge folder still completes; the list says how many more).
pub const MAX_CANDIDATES: usize = 200;

/// What Tab did to the prompt's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The new text of the prompt (unchanged when nothing matched).
    pub text: String,
    /// Names matching when there is more than one (folders end with `/`), sorted.
    pub candidates: Vec<String>,
    /// Matches beyond [`MAX_CANDIDATES`].
    pub more: usize,
    /// Why nothing completed, for the status line.
    pub problem: Option<String>,
}

/// The user's home folder, for `~`.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `text` as a path: a leading `~` or `~/` means `home`.
pub fn expand(text: &str, home: Option<&Path>) -> PathBuf {
    match (text, home) {
        ("~", Some(home)) => home.to_path_buf(),
        (text, Some(home)) if text.starts_with("~/") => home.join(&text[2..]),
        (text, _) => PathBuf::from(text),
    }
}

/// Completes the last path component of `text` against the file system.
pub fn complete(text: &str, home: Option<&Path>) -> Completion {
    // `~` alone completes as the home folder itself.
    let text = if text == "~" { "~/" } else { text };
    let (dir_text, prefix) = match text.rfind('/') {
        Some(slash) => text.split_at(slash + 1),
        None => ("", text),
    };
    let dir = if dir_text.is_empty() {
        PathBuf::from(".")
    } else {
        expand(dir_text, home)
    };
    let unchanged = |problem: String| Completion {
        text: text.to_string(),
        candidates: Vec::new(),
        more: 0,
        problem: Some(problem),
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => return unchanged(format!("cannot list {}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // Hidden entries only when asked for with a leading dot.
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            // Follows symlinks, so a link to a folder completes as a folder.
            let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            Some(if is_dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    match names.len() {
        0 => unchanged(format!(
            "nothing in {} starts with “{prefix}”",
            dir.display()
        )),
        1 => Completion {
            text: format!("{dir_text}{}", names[0]),
            candidates: Vec::new(),
            more: 0,
            problem: None,
        },
        n => {
            let common = common_prefix(&names);
            let more = n.saturating_sub(MAX_CANDIDATES);
            names.truncate(MAX_CANDIDATES);
            Completion {
                text: format!("{dir_text}{common}"),
                candidates: names,
                more,
                problem: None,
            }
        }
    }
}

/// The longest prefix every name shares (whole characters).
fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut end = first.len();
    for name in &names[1..] {
        end = first
            .char_indices()
            .zip(name.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(end);
    }
    first[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in ["holiday-1.jpg", "holiday-2.jpg", "notes.txt", ".hidden.png"] {
            std::fs::write(dir.path().join(file), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("holidays")).unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        dir
    }

    #[test]
    fn several_matches_extend_to_the_common_prefix_and_list_the_candidates() {
        let dir = tree();
        let base = format!("{}/", dir.path().display());
        let done = complete(&format!("{base}ho"), None);
        assert_eq!(done.text, format!("{base}holiday"));
        assert_eq!(
            done.candidates,
            ["holiday-1.jpg", "holiday-2.jpg", "holidays/"]
        );
        assert_eq!(done.problem, None);
    }

    #[test]
    fn a_single_match_completes_and_folders_get_a_slash() {
        let dir = tree();
        let base = format!("{}/", dir.path().display());
        let done = complete(&format!("{base}w"), None);
        assert_eq!(done.text, format!("{base}work/"));
        assert!(done.candidates.is_empty());
        let done = complete(&format!("{base}n"), None);
        assert_eq!(done.text, format!("{base}notes.txt"));
    }

    #[test]
    fn hidden_entries_only_with_a_leading_dot() {
        let dir = tree();
        let base = format!("{}/", dir.path().display());
        let all = complete(&base, None);
        assert!(
            !all.candidates.iter().any(|c| c.starts_with('.')),
            "{all:?}"
        );
        assert_eq!(all.candidates.len(), 5);
        assert_eq!(
            complete(&format!("{base}."), None).text,
            format!("{base}.hidden.png")
        );
    }

    #[test]
    fn tilde_means_home_and_stays_in_the_text() {
        let dir = tree();
        let done = complete("~/wo", Some(dir.path()));
        assert_eq!(done.text, "~/work/");
        assert_eq!(complete("~", Some(dir.path())).candidates.len(), 5);
        assert_eq!(expand("~/work", Some(dir.path())), dir.path().join("work"));
        assert_eq!(expand("~", Some(dir.path())), dir.path());
        assert_eq!(expand("a/~/b", Some(dir.path())), PathBuf::from("a/~/b"));
    }

    #[test]
    fn no_match_or_no_folder_says_why_and_keeps_the_text() {
        let dir = tree();
        let base = format!("{}/", dir.path().display());
        let done = complete(&format!("{base}zzz"), None);
        assert_eq!(done.text, format!("{base}zzz"));
        assert!(done.problem.unwrap().contains("“zzz”"));
        let done = complete(&format!("{base}missing/x"), None);
        assert!(done.problem.unwrap().starts_with("cannot list"));
    }

    #[test]
    fn common_prefix_respects_character_boundaries() {
        assert_eq!(
            common_prefix(&["été-1".to_string(), "été-2".to_string()]),
            "été-"
        );
        assert_eq!(common_prefix(&["éa".to_string(), "eb".to_string()]), "");
    }
}
