//! What the TUI shows: a plain struct that actions change and widgets only read.

use std::collections::{BTreeMap, HashMap};

use imgcloud_core::api::{Change, ChangeEntity, ChangeKind, Image};
use imgcloud_core::catalog::{self, Counts};
use imgcloud_core::links::LinkFormat;
use time::OffsetDateTime;

use super::input::TextInput;
use super::preview::Preview;
use super::sync::SyncState;

/// A search that extends the last one filters the current rows when they are at most
/// 1/`NARROW_BELOW` of all images, else it goes over every image again.
const NARROW_BELOW: usize = 8;

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
    /// The album picker: `selected` 0 is "every image", `i + 1` is `albums[i]`.
    Albums {
        albums: Vec<imgcloud_core::api::Album>,
        selected: usize,
    },
    /// The account's share links with their counts; `selected` indexes `shares`.
    Shares {
        shares: Vec<imgcloud_core::api::Share>,
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
    /// A share link's terms: expiry and options (see `prompts::parse_share`).
    Share {
        id: String,
    },
    /// The password of the share link `request` (typed hidden: shown as dots).
    SharePassword {
        request: Box<imgcloud_core::api::CreateShare>,
        what: String,
    },
}

impl PromptKind {
    pub fn title(&self) -> &'static str {
        match self {
            Self::Upload => "Upload file or folder",
            Self::Rename { .. } => "Rename",
            Self::Tags { .. } => "Tags (comma-separated)",
            Self::Share { .. } => "Share link: 7d|2027-01-31|never  max=N  nodl  meta  pw  label=…",
            Self::SharePassword { .. } => "Password for the link (hidden)",
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

/// Lower-case keys of one image, computed once when it arrives (not per key press).
#[derive(Debug, Clone)]
struct Keys {
    name: String,
    search: String,
    trashed: bool,
}

impl Keys {
    fn of(image: &Image) -> Self {
        Self {
            name: catalog::name_key(image),
            search: catalog::search_key(image),
            trashed: image.deleted_at.is_some(),
        }
    }
}

/// Where the images shown came from, when it was the local catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// When the catalog last heard from the server (None: never).
    pub synced_at: Option<OffsetDateTime>,
    /// Only the first screen is loaded yet; these are the catalog's counts.
    pub partial: Option<Counts>,
}

impl Local {
    /// "last synced 2024-05-01 14:03 UTC", or "never synced".
    pub fn synced_label(&self) -> String {
        match self.synced_at {
            Some(at) => format!(
                "last synced {} UTC",
                at.format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .unwrap_or_default()
            ),
            None => "never synced".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    /// Every known image, library and trash (trashed ones have `deleted_at`).
    pub images: Vec<Image>,
    index: HashMap<String, usize>,
    /// `keys[i]` belongs to `images[i]`.
    keys: Vec<Keys>,
    /// Every index of `images` in each sort order made so far (cycling the sort back costs
    /// nothing); emptied when the images change.
    orders: Vec<(Sort, Vec<usize>)>,
    /// The view, sort and lower-case query `rows` were made for; None after the images changed.
    rows_for: Option<(View, Sort, String)>,
    /// Images in the library and in the trash.
    counts: Counts,
    /// The change-feed position of `images` (0: nothing loaded yet).
    pub since: i64,
    /// Set when the images came from the local catalog.
    pub local: Option<Local>,
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
    /// The album the list shows (name and member ids), when one is picked (`a`).
    pub album: Option<AlbumFilter>,
}

/// The list filtered to one album.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbumFilter {
    pub id: String,
    pub name: String,
    pub members: std::collections::HashSet<String>,
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
            keys: Vec::new(),
            orders: Vec::new(),
            rows_for: None,
            counts: Counts::default(),
            since: 0,
            local: None,
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
            album: None,
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
        let counts = match &self.local {
            Some(Local {
                partial: Some(counts),
                ..
            }) => counts,
            _ => &self.counts,
        };
        counts.get(match view {
            View::Library => catalog::View::Library,
            View::Trash => catalog::View::Trash,
        })
    }

    /// Shows the first screen of the local catalog (`first`: its newest library images) before
    /// the rest is read; `counts` are the catalog's.
    pub fn show_catalog(
        &mut self,
        first: Vec<Image>,
        counts: Counts,
        since: i64,
        synced_at: Option<OffsetDateTime>,
    ) {
        let keep = self.selected_id();
        self.replace_images(first);
        self.since = since;
        self.local = Some(Local {
            synced_at,
            partial: Some(counts),
        });
        self.loading = Loading::Refreshing;
        self.rebuild_rows(keep);
    }

    /// Replaces every image with the whole catalog (the cursor stays on its image).
    pub fn load_catalog(&mut self, images: Vec<Image>) {
        let keep = self.selected_id();
        self.replace_images(images);
        if let Some(local) = &mut self.local {
            local.partial = None;
        }
        self.rebuild_rows(keep);
    }

    fn replace_images(&mut self, images: Vec<Image>) {
        self.keys = images.iter().map(Keys::of).collect();
        self.index = images
            .iter()
            .enumerate()
            .map(|(i, image)| (image.id.clone(), i))
            .collect();
        self.counts = count_views(&images);
        self.images = images;
        self.orders.clear();
        self.rows_for = None;
    }

    /// Applies change-feed entries (upserts replace, purges remove) and rebuilds the rows.
    pub fn apply_changes(&mut self, changes: Vec<Change>, next_since: i64) {
        let keep = self.selected_id();
        for change in changes {
            match change.entity {
                ChangeEntity::Image => match (change.kind, change.image) {
                    (ChangeKind::Upsert, Some(image)) => self.upsert(image),
                    (ChangeKind::Purge, _) | (_, None) => self.remove(&change.image_id),
                },
                // The album shown changed (or went): the list follows.
                ChangeEntity::Album
                    if self.album.as_ref().is_some_and(|a| a.id == change.image_id) =>
                {
                    self.rows_for = None;
                    match (change.album, change.album_image_ids) {
                        (Some(album), Some(ids)) => {
                            self.album = Some(AlbumFilter {
                                id: album.id,
                                name: album.name,
                                members: ids.into_iter().collect(),
                            })
                        }
                        _ => self.album = None,
                    }
                }
                ChangeEntity::Album | ChangeEntity::Share => {}
            }
        }
        self.since = next_since;
        self.rebuild_rows(keep);
    }

    /// Replaces (or adds) one image, keeping the cursor on the same image when it can.
    pub fn put(&mut self, image: Image) {
        let keep = self.selected_id();
        self.upsert(image);
        self.rebuild_rows(keep);
    }

    /// The id under the cursor (taken before the images change: `rows` index them).
    fn selected_id(&self) -> Option<String> {
        self.selected_image().map(|image| image.id.clone())
    }

    fn upsert(&mut self, image: Image) {
        self.orders.clear();
        self.rows_for = None;
        let keys = Keys::of(&image);
        self.tally(&image, 1);
        match self.index.get(&image.id) {
            Some(&i) => {
                let old = std::mem::replace(&mut self.images[i], image);
                self.tally(&old, -1);
                self.keys[i] = keys;
            }
            None => {
                self.index.insert(image.id.clone(), self.images.len());
                self.images.push(image);
                self.keys.push(keys);
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(i) = self.index.remove(id) {
            self.orders.clear();
            self.rows_for = None;
            let old = self.images.swap_remove(i);
            self.tally(&old, -1);
            self.keys.swap_remove(i);
            if let Some(moved) = self.images.get(i) {
                self.index.insert(moved.id.clone(), i);
            }
        }
    }

    /// Recomputes the rows from the view, query and sort; the cursor follows its image.
    pub fn rebuild(&mut self) {
        self.rebuild_rows(self.selected_id());
    }

    /// Shows only `filter`'s images (`None`: every image), from the top.
    pub fn set_album(&mut self, filter: Option<AlbumFilter>) {
        self.album = filter;
        self.rows_for = None;
        self.rebuild_from_top();
    }

    /// Recomputes the rows and puts the cursor on the first one (a new search or view).
    pub fn rebuild_from_top(&mut self) {
        self.selected = 0;
        self.offset = 0;
        self.rebuild_rows(None);
    }

    /// Sorting is done once per change of the images and order; a search only filters
    /// that order (with the keys lower-cased in advance), so typing stays cheap with 100,000
    /// images.
    fn rebuild_rows(&mut self, keep: Option<String>) {
        let needle = self.query.to_lowercase();
        let trash = self.view == View::Trash;
        let key = (self.view, self.sort, needle.clone());
        let rows = match self.rows_for.take() {
            // Typing on: the matches are among the current rows, in order. Worth it when they
            // are few (they are walked in sort order, scattered over memory).
            Some((view, sort, previous))
                if (view, sort) == (self.view, self.sort)
                    && needle.starts_with(&previous)
                    && self.rows.len() <= self.keys.len() / NARROW_BELOW =>
            {
                let keys = &self.keys;
                self.rows
                    .iter()
                    .copied()
                    .filter(|&i| keys[i].search.contains(&needle))
                    .collect()
            }
            _ => {
                let order = match self.orders.iter().position(|(sort, _)| *sort == self.sort) {
                    Some(at) => self.orders.swap_remove(at).1,
                    None => self.sorted(),
                };
                // Which images match, found in one pass over the keys in memory order
                // (walking them in sort order instead would jump around memory: several
                // times slower at 100,000).
                let album = self.album.as_ref().map(|a| &a.members);
                let matching: Vec<bool> = self
                    .keys
                    .iter()
                    .zip(&self.images)
                    .map(|(keys, image)| {
                        keys.trashed == trash
                            && (needle.is_empty() || keys.search.contains(&needle))
                            && album.is_none_or(|members| members.contains(&image.id))
                    })
                    .collect();
                let rows = order.iter().copied().filter(|&i| matching[i]).collect();
                self.orders.push((self.sort, order));
                rows
            }
        };
        self.rows_for = Some(key);
        self.rows = rows;
        self.selected = keep
            .and_then(|id| self.rows.iter().position(|&i| self.images[i].id == id))
            .unwrap_or(self.selected)
            .min(self.rows.len().saturating_sub(1));
        self.scroll_to_selection();
    }

    /// Adds (`by` 1) or takes away (-1) `image` from the counts of its view.
    fn tally(&mut self, image: &Image, by: isize) {
        let count = if image.deleted_at.is_some() {
            &mut self.counts.trash
        } else {
            &mut self.counts.library
        };
        *count = count.saturating_add_signed(by);
    }

    /// Every index of `images` in the current sort order.
    fn sorted(&self) -> Vec<usize> {
        let (images, keys) = (&self.images, &self.keys);
        let mut order: Vec<usize> = (0..images.len()).collect();
        match self.sort {
            Sort::Date => order.sort_unstable_by(|&a, &b| {
                date(&images[b])
                    .cmp(&date(&images[a]))
                    .then_with(|| images[a].id.cmp(&images[b].id))
            }),
            Sort::Name => order.sort_unstable_by(|&a, &b| {
                keys[a]
                    .name
                    .cmp(&keys[b].name)
                    .then_with(|| images[a].id.cmp(&images[b].id))
            }),
            Sort::Size => order.sort_unstable_by(|&a, &b| {
                images[b]
                    .size
                    .cmp(&images[a].size)
                    .then_with(|| images[a].id.cmp(&images[b].id))
            }),
        }
        order
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
    catalog::list_date(image)
}

fn count_views(images: &[Image]) -> Counts {
    let trash = images.iter().filter(|i| i.deleted_at.is_some()).count();
    Counts {
        library: images.len() - trash,
        trash,
    }
}
