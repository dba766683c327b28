//! What the TUI shows: a plain struct that actions change and widgets only read.

use std::collections::{BTreeMap, HashMap};

use imgcloud_core::api::{Change, ChangeKind, Image};
use imgcloud_core::links::LinkFormat;
use time::OffsetDateTime;

use super::input::TextInput;
use super::preview::Preview;
use super::sync::SyncState;

/// Which images the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Library,
    Trash,
}

/// List order. Dates and sizes list the newest / largest first, names A→Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Date,
    Name,
    Size,
}

impl Sort {
    pub fn next(self) -> Self {
        match self {
            Self::Date => Self::Name,
            Self::Name => Self::Size,
            Self::Size => Self::Date,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Date => "date",
            Self::Name => "name",
            Self::Size => "size",
        }
    }
}

/// A window drawn over the list that takes the keys while open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    /// Copy-link format picker; `selected` indexes [`AppState::formats`].
    Formats {
        selected: usize,
    },
    /// "Move to trash?" for this image.
    ConfirmTrash {
        id: String,
        name: String,
    },
    /// A one-line prompt (upload path, new name, tags).
    Prompt(Prompt),
}

/// What a prompt asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    /// A file or folder to upload (Tab completes).
    Upload,
    Rename {
        id: String,
    },
    Tags {
        id: String,
    },
}

impl PromptKind {
    pub fn title(&self) -> &'static str {
        match self {
            Self::Upload => "Upload file or folder",
            Self::Rename { .. } => "Rename",
            Self::Tags { .. } => "Tags (comma-separated)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: TextInput,
    /// Completion candidates from the last Tab (upload prompt).
    pub candidates: Vec<String>,
    /// Candidates left out of the list.
    pub more: usize,
}

impl Prompt {
    pub fn new(kind: PromptKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            input: TextInput::new(text),
            candidates: Vec::new(),
            more: 0,
        }
    }
}

/// An upload started from the TUI, while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadProgress {
    /// Files started and not finished: (bytes sent, bytes in all), by pipeline index.
    pub active: BTreeMap<usize, (u64, u64)>,
    pub done: usize,
    pub failed: usize,
}

/// What is known about the sync daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Daemon {
    Unknown,
    Running { summary: String },
    Down { reason: String },
}

/// Loading state of the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loading {
    /// First load under way: nothing to show yet.
    Initial,
    /// Refresh under way; the list stays usable.
    Refreshing,
    Idle,
    /// The last load failed (the list keeps what it had).
    Failed(String),
}

/// Status-line message; `error` messages are drawn as failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone)]
pub struct AppState {
    /// Every known image, library and trash (trashed ones have `deleted_at`).
    pub images: Vec<Image>,
    index: HashMap<String, usize>,
    /// The change-feed position of `images` (0: nothing loaded yet).
    pub since: i64,
    pub view: View,
    pub sort: Sort,
    /// The search query (filters as it is typed).
    pub query: String,
    /// True while `/` is reading the query.
    pub searching: bool,
    /// Indexes into `images` of the rows the list shows, in order.
    pub rows: Vec<usize>,
    /// Selected position in `rows`.
    pub selected: usize,
    /// First row drawn (the list draws only the rows that fit).
    pub offset: usize,
    /// List rows that fit on screen (set from the terminal size).
    pub page: usize,
    pub overlay: Option<Overlay>,
    pub show_details: bool,
    /// Picture and photo info of the selected image (see [`super::preview`]).
    pub preview: Preview,
    /// Link formats the picker offers; the first is the configured one.
    pub formats: Vec<LinkFormat>,
    /// Ids moved to the trash in this session, last first out (`u` restores).
    pub undo: Vec<String>,
    pub status: Option<Status>,
    pub daemon: Daemon,
    /// The live sync panel's content, from the daemon's event stream.
    pub sync: SyncState,
    /// The sync panel is shown.
    pub show_sync: bool,
    /// The TUI's own upload, while it runs.
    pub upload: Option<UploadProgress>,
    /// Ids of the images of the last upload (`Y` copies their links).
    pub last_upload: Vec<String>,
    pub loading: Loading,
    pub quit: bool,
}

impl AppState {
    /// An empty state; `default_format` comes first in the format picker.
    pub fn new(default_format: LinkFormat) -> Self {
        let mut formats = vec![default_format];
        for format in [
            LinkFormat::Url,
            LinkFormat::Markdown,
            LinkFormat::Html,
            LinkFormat::Bbcode,
        ] {
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        Self {
            images: Vec::new(),
            index: HashMap::new(),
            since: 0,
            view: View::Library,
            sort: Sort::Date,
            query: String::new(),
            searching: false,
            rows: Vec::new(),
            selected: 0,
            offset: 0,
            page: 10,
            overlay: None,
            show_details: true,
            preview: Preview::default(),
            formats,
            undo: Vec::new(),
            status: None,
            daemon: Daemon::Unknown,
            sync: SyncState::default(),
            show_sync: false,
            upload: None,
            last_upload: Vec::new(),
            loading: Loading::Initial,
            quit: false,
        }
    }

    /// Offers the configured custom `template` in the format picker too (after the built-in
    /// formats, unless it is already the default).
    pub fn with_template(mut self, template: Option<&str>) -> Self {
        if let Some(template) = template.filter(|t| !t.trim().is_empty()) {
            let custom = LinkFormat::Custom(template.to_string());
            if !self.formats.contains(&custom) {
                self.formats.push(custom);
            }
        }
        self
    }

    /// The open prompt, if any.
    pub fn prompt(&self) -> Option<&Prompt> {
        match &self.overlay {
            Some(Overlay::Prompt(prompt)) => Some(prompt),
            _ => None,
        }
    }

    /// The image under the cursor.
    pub fn selected_image(&self) -> Option<&Image> {
        self.rows.get(self.selected).map(|&i| &self.images[i])
    }

    pub fn image(&self, id: &str) -> Option<&Image> {
        self.index.get(id).map(|&i| &self.images[i])
    }

    /// Images in the library / in the trash.
    pub fn count(&self, view: View) -> usize {
        self.images
            .iter()
            .filter(|image| in_view(image, view))
            .count()
    }

    /// Applies change-feed entries (upserts replace, purges remove) and rebuilds the rows.
    pub fn apply_changes(&mut self, changes: Vec<Change>, next_since: i64) {
        for change in changes {
            match (change.kind, change.image) {
                (ChangeKind::Upsert, Some(image)) => self.upsert(image),
                (ChangeKind::Purge, _) | (_, None) => self.remove(&change.image_id),
            }
        }
        self.since = next_since;
        self.rebuild();
    }

    /// Replaces (or adds) one image, keeping the cursor on the same image when it can.
    pub fn put(&mut self, image: Image) {
        self.upsert(image);
        self.rebuild();
    }

    fn upsert(&mut self, image: Image) {
        match self.index.get(&image.id) {
            Some(&i) => self.images[i] = image,
            None => {
                self.index.insert(image.id.clone(), self.images.len());
                self.images.push(image);
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(i) = self.index.remove(id) {
            self.images.swap_remove(i);
            if let Some(moved) = self.images.get(i) {
                self.index.insert(moved.id.clone(), i);
            }
        }
    }

    /// Recomputes the rows from the view, query and sort; the cursor follows its image.
    pub fn rebuild(&mut self) {
        let keep = self.selected_image().map(|image| image.id.clone());
        self.rebuild_rows(keep);
    }

    /// Recomputes the rows and puts the cursor on the first one (a new search or view).
    pub fn rebuild_from_top(&mut self) {
        self.selected = 0;
        self.offset = 0;
        self.rebuild_rows(None);
    }

    fn rebuild_rows(&mut self, keep: Option<String>) {
        let needle = self.query.to_lowercase();
        let mut rows: Vec<usize> = (0..self.images.len())
            .filter(|&i| in_view(&self.images[i], self.view) && matches(&self.images[i], &needle))
            .collect();
        let images = &self.images;
        match self.sort {
            Sort::Date => rows.sort_by(|&a, &b| {
                date(&images[b])
                    .cmp(&date(&images[a]))
                    .then_with(|| images[a].id.cmp(&images[b].id))
            }),
            Sort::Name => rows.sort_by(|&a, &b| {
                images[a]
                    .filename
                    .to_lowercase()
                    .cmp(&images[b].filename.to_lowercase())
                    .then_with(|| images[a].id.cmp(&images[b].id))
            }),
            Sort::Size => rows.sort_by(|&a, &b| {
                images[b]
                    .size
                    .cmp(&images[a].size)
                    .then_with(|| images[a].id.cmp(&images[b].id))
            }),
        }
        self.rows = rows;
        self.selected = keep
            .and_then(|id| self.rows.iter().position(|&i| self.images[i].id == id))
            .unwrap_or(self.selected)
            .min(self.rows.len().saturating_sub(1));
        self.scroll_to_selection();
    }

    /// Moves the cursor to `row` (clamped) and scrolls so it is visible.
    pub fn select(&mut self, row: usize) {
        self.selected = row.min(self.rows.len().saturating_sub(1));
        self.scroll_to_selection();
    }

    /// Sets how many list rows fit, keeping the cursor visible.
    pub fn set_page(&mut self, page: usize) {
        self.page = page.max(1);
        self.scroll_to_selection();
    }

    fn scroll_to_selection(&mut self) {
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + self.page {
            self.offset = self.selected + 1 - self.page;
        }
        let last_start = self.rows.len().saturating_sub(self.page);
        self.offset = self.offset.min(last_start);
    }

    pub fn set_status(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
        });
    }

    pub fn set_error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
        });
    }
}

/// The date an image is listed by: when it was taken, else when it was uploaded.
pub fn date(image: &Image) -> OffsetDateTime {
    image.taken_at.unwrap_or(image.created_at)
}

fn in_view(image: &Image, view: View) -> bool {
    image.deleted_at.is_some() == (view == View::Trash)
}

/// Case-insensitive substring of the filename or of any tag; `needle` is lower-case.
fn matches(image: &Image, needle: &str) -> bool {
    needle.is_empty()
        || image.filename.to_lowercase().contains(needle)
        || image
            .tags
            .iter()
            .any(|tag| tag.to_lowercase().contains(needle))
}
