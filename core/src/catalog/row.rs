//! An [`Image`] as a catalog row and back.

use rusqlite::Row;
use time::OffsetDateTime;

use crate::api::{DerivativeState, Image, Visibility};

/// Separates tags in the `tags` column (never part of a tag).
const TAG_SEPARATOR: char = '\u{1f}';

/// The columns [`from_row`] reads, in order.
pub(super) const COLUMNS: &str = "id, filename, size, sha256, content_type, width, height, taken_at, created_at, updated_at, deleted_at, tags, url, thumb_url, preview_url, thumbhash, derivatives, derivatives_error, visibility";

/// The lower-case filename: the name sort key.
pub fn name_key(image: &Image) -> String {
    image.filename.to_lowercase()
}

/// The lower-case filename and tags, one per line: a search matches a substring of any of them
/// (a query never holds a line break, so it cannot match across two).
pub fn search_key(image: &Image) -> String {
    let mut key = image.filename.to_lowercase();
    for tag in &image.tags {
        key.push('\n');
        key.push_str(&tag.to_lowercase());
    }
    key
}

/// The date an image is listed by: when it was taken, else when it was uploaded.
pub fn list_date(image: &Image) -> OffsetDateTime {
    image.taken_at.unwrap_or(image.created_at)
}

pub(super) fn tags(image: &Image) -> String {
    let mut joined = String::new();
    for (i, tag) in image.tags.iter().enumerate() {
        if i > 0 {
            joined.push(TAG_SEPARATOR);
        }
        joined.push_str(tag);
    }
    joined
}

/// Nanoseconds since the epoch (saturating outside 1677–2262).
pub(super) fn nanos(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(if at.year() < 1970 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn from_nanos(nanos: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Image> {
    let tags: String = row.get(11)?;
    Ok(Image {
        id: row.get(0)?,
        filename: row.get(1)?,
        size: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
        sha256: row.get(3)?,
        content_type: row.get(4)?,
        width: row.get(5)?,
        height: row.get(6)?,
        taken_at: row.get::<_, Option<i64>>(7)?.map(from_nanos),
        created_at: from_nanos(row.get(8)?),
        updated_at: from_nanos(row.get(9)?),
        deleted_at: row.get::<_, Option<i64>>(10)?.map(from_nanos),
        tags: if tags.is_empty() {
            Vec::new()
        } else {
            tags.split(TAG_SEPARATOR).map(str::to_string).collect()
        },
        url: row.get(12)?,
        thumb_url: row.get(13)?,
        preview_url: row.get(14)?,
        thumbhash: row.get(15)?,
        derivatives: DerivativeState::parse(&row.get::<_, String>(16)?),
        derivatives_error: row.get(17)?,
        visibility: Visibility::parse(&row.get::<_, String>(18)?).unwrap_or_default(),
    })
}
