//! The prompts: upload (a path, Tab completes), rename (prefilled with the name), tags
//! (comma-separated, prefilled) and share (a link's terms, prefilled with 30 days). Opening, editing and submitting change the state; the work
//! itself is returned as an [`Effect`].

use super::action::Effect;
use super::complete::Completion;
use super::input::Edit;
use super::path_list;
use super::state::{AppState, Overlay, Prompt, PromptKind, UploadProgress};

pub fn start_upload(state: &mut AppState) {
    if state.upload.is_some() {
        state.set_error("an upload is already running (its progress is in the status line)");
        return;
    }
    state.overlay = Some(Overlay::Prompt(Prompt::new(PromptKind::Upload, "")));
}

pub fn start_rename(state: &mut AppState) {
    match state.selected_image() {
        Some(image) => {
            let kind = PromptKind::Rename {
                id: image.id.clone(),
            };
            state.overlay = Some(Overlay::Prompt(Prompt::new(kind, image.filename.clone())));
        }
        None => state.set_error("nothing to rename: no image selected"),
    }
}

pub fn start_tags(state: &mut AppState) {
    match state.selected_image() {
        Some(image) => {
            let kind = PromptKind::Tags {
                id: image.id.clone(),
            };
            state.overlay = Some(Overlay::Prompt(Prompt::new(kind, image.tags.join(", "))));
        }
        None => state.set_error("nothing to tag: no image selected"),
    }
}

pub fn start_share(state: &mut AppState) {
    match state.selected_image() {
        Some(image) => {
            let kind = PromptKind::Share {
                id: image.id.clone(),
            };
            state.overlay = Some(Overlay::Prompt(Prompt::new(kind, "30d")));
        }
        None => state.set_error("nothing to share: no image selected"),
    }
}

/// A share prompt's text as a request for image `id`, and whether a password comes next: an
/// expiry (`12h`, `7d`, `2w`, a date, `never`; default the account's), `max=N` views, `nodl`
/// (no download), `meta` (keep the metadata), `pw` (ask for a password next, typed hidden) and
/// `label=…` (the rest of the line).
pub fn parse_share(
    id: &str,
    text: &str,
    now: time::OffsetDateTime,
) -> Result<(imgcloud_core::api::CreateShare, bool), String> {
    let mut request = imgcloud_core::api::CreateShare {
        image_ids: vec![id.to_string()],
        ..Default::default()
    };
    let (terms, label) = match text.split_once("label=") {
        Some((terms, label)) => (terms, Some(label.trim().to_string())),
        None => (text, None),
    };
    request.label = label.filter(|l| !l.is_empty());
    let mut password = false;
    for word in terms.split_whitespace() {
        if let Some(n) = word.strip_prefix("max=") {
            let n: i64 = n
                .parse()
                .map_err(|_| format!("max={n}: give a number of views"))?;
            request.max_views = Some(n);
        } else if matches!(word, "nodl" | "no-download") {
            request.allow_download = Some(false);
        } else if matches!(word, "meta" | "with-metadata") {
            request.with_metadata = true;
        } else if matches!(word, "pw" | "password") {
            password = true;
        } else {
            match imgcloud_core::share_terms::parse_expiry(word, now)? {
                Some(at) => request.expires_at = Some(at),
                None => request.never_expires = true,
            }
        }
    }
    Ok((request, password))
}

fn prompt_mut(state: &mut AppState) -> Option<&mut Prompt> {
    match &mut state.overlay {
        Some(Overlay::Prompt(prompt)) => Some(prompt),
        _ => None,
    }
}

/// Pasted text: into the open prompt (into the query while searching). With nothing open it
/// opens the upload prompt with it, so files dropped on the terminal are ready to upload.
/// A prompt is one line: pasted lines are one path each in the upload prompt, and become
/// spaces elsewhere.
pub fn paste(state: &mut AppState, text: &str) {
    let one_line = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .filter(|c| !c.is_control())
            .collect()
    };
    if state.searching {
        state.query.push_str(&one_line(text));
        state.rebuild_from_top();
        return;
    }
    if state.overlay.is_none() {
        start_upload(state);
    }
    let Some(kind) = state.prompt().map(|p| p.kind.clone()) else {
        return; // another overlay, or an upload is already running (start_upload said so)
    };
    let text = if kind == PromptKind::Upload {
        one_line(&path_list::from_paste(text))
    } else {
        one_line(text)
    };
    for c in text.chars() {
        edit(state, Edit::Insert(c));
    }
}

pub fn edit(state: &mut AppState, edit: Edit) {
    if let Some(prompt) = prompt_mut(state) {
        prompt.input.apply(edit);
        // The candidates belonged to the text before the edit.
        prompt.candidates.clear();
        prompt.more = 0;
    }
}

/// Tab: the upload prompt completes its path; the others ignore it.
pub fn complete(state: &mut AppState) -> Vec<Effect> {
    match state.prompt() {
        Some(prompt) if prompt.kind == PromptKind::Upload => vec![Effect::Complete {
            text: prompt.input.text().to_string(),
        }],
        _ => vec![],
    }
}

pub fn completed(state: &mut AppState, completion: Completion) {
    let Some(prompt) = prompt_mut(state).filter(|p| p.kind == PromptKind::Upload) else {
        return;
    };
    prompt.input.set(completion.text);
    prompt.candidates = completion.candidates;
    prompt.more = completion.more;
    if let Some(problem) = completion.problem {
        state.set_error(problem);
    }
}

/// Enter: runs what the prompt asks for. A prompt whose text cannot be used stays open, with
/// the reason in the status line.
pub fn submit(state: &mut AppState) -> Vec<Effect> {
    let Some(prompt) = state.prompt().cloned() else {
        return vec![];
    };
    let text = prompt.input.text().trim().to_string();
    match prompt.kind {
        PromptKind::Upload => {
            if text.is_empty() {
                state.set_error(
                    "type the path of a file or folder to upload, or drop files here (Tab completes)",
                );
                return vec![];
            }
            // Whether the text is one path typed as is (spaces and quotes included) or a list
            // depends on what exists: the effect decides (see `path_list::resolve`).
            let words = path_list::split(&text).map_or(1, |words| words.len());
            state.overlay = None;
            state.upload = Some(UploadProgress::default());
            state.set_status(if words > 1 {
                format!("uploading {words} paths…")
            } else {
                format!("uploading {text}…")
            });
            vec![Effect::Upload { text }]
        }
        PromptKind::Rename { id } => {
            let Some(old) = state.image(&id).map(|i| i.filename.clone()) else {
                state.overlay = None;
                state.set_error("the image is gone (deleted elsewhere?)");
                return vec![];
            };
            if text.is_empty() {
                state.set_error("a name cannot be empty");
                return vec![];
            }
            if text.contains(['/', '\\']) {
                state.set_error("a name cannot contain / or \\");
                return vec![];
            }
            state.overlay = None;
            if text == old {
                state.set_status("name unchanged");
                return vec![];
            }
            state.set_status(format!("renaming {old}…"));
            vec![Effect::Patch {
                id,
                filename: Some(text.clone()),
                tags: None,
                visibility: None,
                doing: format!("renaming {old} to {text}"),
                done: format!("renamed {old} to {text}"),
            }]
        }
        PromptKind::Tags { id } => {
            let Some(image) = state.image(&id) else {
                state.overlay = None;
                state.set_error("the image is gone (deleted elsewhere?)");
                return vec![];
            };
            let (name, old_tags) = (image.filename.clone(), image.tags.clone());
            let tags = parse_tags(&text);
            state.overlay = None;
            if tags == old_tags {
                state.set_status("tags unchanged");
                return vec![];
            }
            let (doing, done) = if tags.is_empty() {
                (
                    format!("removing the tags of {name}"),
                    format!("removed the tags of {name}"),
                )
            } else {
                let list = tags.join(", ");
                (
                    format!("tagging {name} with {list}"),
                    format!("tagged {name}: {list}"),
                )
            };
            state.set_status(format!("tagging {name}…"));
            vec![Effect::Patch {
                id,
                filename: None,
                tags: Some(tags),
                visibility: None,
                doing,
                done,
            }]
        }
        PromptKind::Share { id } => {
            let Some(name) = state.image(&id).map(|i| i.filename.clone()) else {
                state.overlay = None;
                state.set_error("the image is gone (deleted elsewhere?)");
                return vec![];
            };
            match parse_share(&id, &text, time::OffsetDateTime::now_utc()) {
                Ok((request, true)) => {
                    let kind = PromptKind::SharePassword {
                        request: Box::new(request),
                        what: name,
                    };
                    state.overlay = Some(Overlay::Prompt(Prompt::new(kind, "")));
                    vec![]
                }
                Ok((request, false)) => {
                    state.overlay = None;
                    state.set_status(format!("sharing {name}…"));
                    vec![Effect::Share {
                        request,
                        what: name,
                    }]
                }
                Err(problem) => {
                    state.set_error(problem);
                    vec![]
                }
            }
        }
        PromptKind::SharePassword { request, what } => {
            // The password as typed (spaces are part of it), never trimmed or shown.
            let password = prompt.input.text().to_string();
            if password.chars().count() < 8 {
                state.set_error("a link password needs at least 8 characters");
                return vec![];
            }
            state.overlay = None;
            state.set_status(format!("sharing {what}…"));
            let mut request = *request;
            request.password = Some(password);
            vec![Effect::Share { request, what }]
        }
    }
}

/// `"sea, , Sun ,sea"` → `["sea", "Sun"]`: trimmed, empty ones and repeats left out.
pub fn parse_tags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    tags
}
