//! Wire types of the `/v1` HTTP API, shared by the server and every client.
//!
//! The protocol is described in `docs/api.md`. These types are the single source of truth:
//! the server serialises them, the client deserialises them, and (with the `openapi` feature)
//! they describe themselves in the server's `/openapi.json`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A named derivative the cloud makes of every image: upright, no metadata, JPEG, never
/// enlarged. Only these exist (no arbitrary sizes: each one is work a stranger could ask for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Preset {
    /// Name in the API and metrics (`thumb`, `preview`).
    pub name: &'static str,
    /// Longest side, pixels.
    pub long_side: u32,
}

/// The 320 px thumbnail (grids, lists).
pub const THUMB: Preset = Preset {
    name: "thumb",
    long_side: 320,
};

/// The 1280 px preview (detail views, share pages).
pub const PREVIEW: Preset = Preset {
    name: "preview",
    long_side: 1280,
};

/// Every preset, smallest first.
pub const PRESETS: [Preset; 2] = [THUMB, PREVIEW];

impl Preset {
    /// The preset called `name`, if there is one.
    pub fn by_name(name: &str) -> Option<Self> {
        PRESETS.into_iter().find(|p| p.name == name)
    }

    /// The preset whose long side is `size` (derivative keys are named by size).
    pub fn by_size(size: u32) -> Option<Self> {
        PRESETS.into_iter().find(|p| p.long_side == size)
    }
}

/// Where an image's derivatives (thumbnail, preview, ThumbHash) stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DerivativeState {
    /// Queued: the links work already (the cloud makes a derivative on its first request).
    #[default]
    Pending,
    /// Made and stored.
    Ready,
    /// The last attempt failed (the object store was unreachable, …); retried with back-off.
    Failed,
    /// The original cannot be decoded: no derivative will ever be made.
    Broken,
}

impl DerivativeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Broken => "broken",
        }
    }

    /// The state named `name` (as stored); unknown names read as `pending`.
    pub fn parse(name: &str) -> Self {
        match name {
            "ready" => Self::Ready,
            "failed" => Self::Failed,
            "broken" => Self::Broken,
            _ => Self::Pending,
        }
    }
}

/// Who can see an image through its link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// A permanent CDN link anyone holding it can open: for documents (the default).
    #[default]
    Public,
    /// No public link: the owner sees it through short-lived signed URLs, others only through
    /// a share link.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    /// The visibility named `name` (`public`, `private`), as stored and typed.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            _ => None,
        }
    }
}

impl std::fmt::Display for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header carrying the client's idempotency key on `POST` requests.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// An image in a user's library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Image {
    /// 16 base62 characters (≥ 95 bits of randomness).
    pub id: String,
    /// Display name (rename changes this, never the object key or link).
    pub filename: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the original bytes.
    pub sha256: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    /// EXIF `DateTimeOriginal`, when the image carries one.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub taken_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
    /// Set while the image is in the trash.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub deleted_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `public` (the links below are permanent CDN links) or `private` (they are signed and
    /// expire: ask for the image again to get fresh ones).
    #[serde(default)]
    pub visibility: Visibility,
    /// Link of the original: for a public image its CDN link
    /// `{cdn.base_url}/{key}{cdn.url_suffix}`; for a private one a signed URL that expires.
    pub url: String,
    /// Link of the 320 px thumbnail (made by the cloud on its first request if not yet).
    pub thumb_url: String,
    /// Link of the 1280 px preview.
    pub preview_url: String,
    /// ThumbHash placeholder (standard base64 of ≤ 25 bytes), to draw until the thumbnail
    /// arrives; absent until the cloud has made the thumbnail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbhash: Option<String>,
    /// Where the cloud's derivatives of this image stand.
    #[serde(default)]
    pub derivatives: DerivativeState,
    /// Why the last attempt to make them failed (`failed` and `broken` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivatives_error: Option<String>,
}

/// `GET /v1/images` answer: one page, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImagePage {
    pub items: Vec<Image>,
    /// Opaque cursor for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `PATCH /v1/images/{id}` body. Absent fields are left unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImagePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Making an image private stops its public link (through the CDN too) within a minute;
    /// making it public again brings the same link back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

/// `GET /v1/limits`: what this server accepts, so clients can plan uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Limits {
    pub max_upload_bytes: u64,
    /// Files of at least this size go up as multipart.
    pub multipart_cutoff: u64,
    /// Smallest part size; see [`multipart_part_size`].
    pub min_part_size: u64,
    pub max_filename_bytes: u32,
    /// Largest accepted width × height (decompression-bomb guard).
    pub max_pixels: u64,
    pub max_batch: u32,
}

/// Most parts one multipart upload may have (S3's limit).
pub const MAX_PARTS: u64 = 10_000;

/// Part size for a multipart upload of `size` bytes: `min_part` grown (in whole MiB) until the
/// upload fits in [`MAX_PARTS`] parts. Client and server both call this, so they agree.
pub fn multipart_part_size(size: u64, min_part: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let mut part = min_part.max(1);
    if size.div_ceil(part) > MAX_PARTS {
        part = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    }
    part
}

/// Number of parts of a multipart upload of `size` bytes in parts of `part_size`.
pub fn multipart_part_count(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size).max(1)
}

/// `POST /v1/uploads/check` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CheckRequest {
    /// Lower-case hex SHA-256s (at most `Limits::max_batch`).
    pub sha256: Vec<String>,
}

/// `POST /v1/uploads/check` answer: the hashes the user already has (trash included).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CheckResponse {
    pub existing: Vec<Image>,
}

/// `POST /v1/uploads` body (with an `Idempotency-Key` header).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateUpload {
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub taken_at: Option<OffsetDateTime>,
    /// For files of at least `Limits::multipart_cutoff` bytes: the hex SHA-256 of each part, cut
    /// at [`multipart_part_size`]. Absent for single-PUT uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<String>>,
    /// Visibility of the new image; absent: the account's default. (An upload of bytes the
    /// user already has keeps the existing image's visibility.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

/// One presigned request the client must send as given: method, URL, and exactly these headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    /// Signed headers the request must carry (e.g. `x-amz-content-sha256`).
    pub headers: Vec<(String, String)>,
}

/// Presigned PUT for one multipart part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PartTarget {
    /// 1-based.
    pub number: u32,
    pub offset: u64,
    pub length: u64,
    pub request: PresignedRequest,
}

/// Where the original goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OriginalTarget {
    Single {
        request: PresignedRequest,
    },
    Multipart {
        part_size: u64,
        parts: Vec<PartTarget>,
    },
}

/// `POST /v1/uploads` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
// Answers are short-lived and matched at once; boxing the image would only cost callers.
#[allow(clippy::large_enum_variant)]
pub enum CreateUploadResponse {
    /// The user already has these bytes: nothing to upload.
    Exists { image: Image },
    /// Upload to these targets, then call `complete`.
    Upload {
        upload_id: String,
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        expires_at: OffsetDateTime,
        original: OriginalTarget,
    },
}

/// ETag the store returned for one uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
}

/// `POST /v1/uploads/{id}/complete` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CompleteUpload {
    /// Required for multipart uploads, in part order.
    #[serde(default)]
    pub parts: Vec<CompletedPart>,
}

/// What happened to an image, in the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Created or changed (renamed, tagged, trashed, restored): `image` holds its new state.
    Upsert,
    /// Gone for good: `image` is absent.
    Purge,
}

/// What a change of the feed is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeEntity {
    #[default]
    Image,
    Album,
    Share,
}

/// One entry of the change feed: an image, an album or a share link, created or changed
/// (`upsert`, with its new state) or gone (`purge`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Change {
    /// Strictly increasing per server; pass the last one seen as `since`.
    pub seq: i64,
    pub kind: ChangeKind,
    #[serde(default)]
    pub entity: ChangeEntity,
    /// The id of the image, album or share link.
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<Album>,
    /// The album's images, in order (with `album`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album_image_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<Share>,
}

impl Change {
    /// An image created or changed, now `image`.
    pub fn image_upsert(seq: i64, image: Image) -> Self {
        Self {
            seq,
            kind: ChangeKind::Upsert,
            entity: ChangeEntity::Image,
            image_id: image.id.clone(),
            image: Some(image),
            album: None,
            album_image_ids: None,
            share: None,
        }
    }

    /// Image `id` gone for good.
    pub fn image_purge(seq: i64, id: String) -> Self {
        Self {
            seq,
            kind: ChangeKind::Purge,
            entity: ChangeEntity::Image,
            image_id: id,
            image: None,
            album: None,
            album_image_ids: None,
            share: None,
        }
    }
}

/// `GET /v1/changes?since=SEQ&limit=N` answer, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// Pass as `since` next time (equal to the input when there was nothing new).
    pub next_since: i64,
    pub has_more: bool,
}

/// `GET /v1/me` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Me {
    pub user_id: String,
    pub username: String,
    #[serde(default)]
    pub settings: AccountSettings,
}

/// Per-account defaults (`PATCH /v1/me/settings` changes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccountSettings {
    /// Visibility of uploads that do not name one.
    #[serde(default)]
    pub default_visibility: Visibility,
    /// Days until a new share link expires when its creator names no expiry.
    #[serde(default = "default_share_expiry_days")]
    pub share_expiry_days: u32,
}

/// 30 days, as immich's users asked for.
pub const DEFAULT_SHARE_EXPIRY_DAYS: u32 = 30;

fn default_share_expiry_days() -> u32 {
    DEFAULT_SHARE_EXPIRY_DAYS
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            default_visibility: Visibility::Public,
            share_expiry_days: DEFAULT_SHARE_EXPIRY_DAYS,
        }
    }
}

/// `PATCH /v1/me/settings` body. Absent fields are left unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_visibility: Option<Visibility>,
    /// 1 to 3650.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_expiry_days: Option<u32>,
}

/// `POST /v1/auth/login` body. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Name of the token to create (the device it is for); default `login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("device_name", &self.device_name)
            .finish()
    }
}

/// `POST /v1/auth/login` answer: a new API token (shown this once). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The token's public id (as in `GET /v1/tokens`, for `DELETE /v1/tokens/{id}`).
    pub token_id: String,
    pub user_id: String,
    pub username: String,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"<redacted>")
            .field("token_id", &self.token_id)
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .finish()
    }
}

/// One live API token of the caller (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenInfo {
    /// Public id: the first 16 hex digits of the token's SHA-256.
    pub id: String,
    /// What it was created for (the device name given at login, `cli`, …).
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// Last use, to the minute; `null` if never used.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<OffsetDateTime>,
    /// The token this request was made with.
    pub current: bool,
}

/// `GET /v1/tokens` answer, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// Every error answer: `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code: `unauthorized`, `not_found`, `bad_request`,
    /// `payload_too_large`, `conflict`, `rate_limited`, `upstream`, `internal`, …
    pub code: String,
    /// Human-readable, safe to show; never contains internals.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_grows_to_stay_within_max_parts() {
        let mib = 1024 * 1024;
        assert_eq!(multipart_part_size(100 * mib, 8 * mib), 8 * mib);
        let huge = 200 * 1024 * mib; // 200 GiB
        let part = multipart_part_size(huge, 8 * mib);
        assert!(multipart_part_count(huge, part) <= MAX_PARTS);
        assert_eq!(part % mib, 0);
        assert!(part > 8 * mib);
    }

    #[test]
    fn create_upload_response_is_tagged() {
        let json = r#"{"status":"upload","upload_id":"u1","expires_at":"2026-01-01T00:00:00Z",
            "original":{"kind":"single","request":{"method":"PUT","url":"http://x/y","headers":[]}}}"#;
        let parsed: CreateUploadResponse = serde_json::from_str(json).unwrap();
        assert!(matches!(
            parsed,
            CreateUploadResponse::Upload {
                original: OriginalTarget::Single { .. },
                ..
            }
        ));
    }
}

/// Where a share link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShareState {
    Active,
    Expired,
    /// Its views ran out (`max_views`).
    Exhausted,
    Revoked,
}

impl ShareState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Exhausted => "exhausted",
            Self::Revoked => "revoked",
        }
    }
}

/// `POST /v1/shares` body: a link to images (`image_ids`) or to an album (`album_id`).
/// `Debug` never shows the password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    /// Images to share, in the order the page shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_ids: Vec<String>,
    /// An album to share (the page shows its images as they are when opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album_id: Option<String>,
    /// When the link stops working; absent: the account's default (30 days unless changed).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<OffsetDateTime>,
    /// A link that never expires must say so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_expires: bool,
    /// Visitors must type it (stored as an argon2id hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Page views until the link is exhausted (bots and the owner are not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_views: Option<i64>,
    /// `false`: derivatives only, no original (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_download: Option<bool>,
    /// Originals keep their EXIF (GPS included); by default it is stripped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_metadata: bool,
    /// Who the link is for (shown to the owner only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl std::fmt::Debug for CreateShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateShare")
            .field("image_ids", &self.image_ids)
            .field("album_id", &self.album_id)
            .field("expires_at", &self.expires_at)
            .field("never_expires", &self.never_expires)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("max_views", &self.max_views)
            .field("allow_download", &self.allow_download)
            .field("with_metadata", &self.with_metadata)
            .field("label", &self.label)
            .finish()
    }
}

/// A share link as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Share {
    /// Public id, to revoke the link.
    pub id: String,
    /// `https://…/s/{token}` (≥ 128 random bits); empty when the server can no longer derive
    /// it (its secret changed).
    pub url: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album_id: Option<String>,
    #[serde(default)]
    pub image_ids: Vec<String>,
    pub state: ShareState,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// Absent: never expires.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<OffsetDateTime>,
    pub has_password: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_views: Option<u64>,
    /// Page views, without link-preview bots and the owner.
    pub views: u64,
    /// Distinct visitors among those views.
    pub visitors: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_viewed_at: Option<OffsetDateTime>,
    pub allow_download: bool,
    pub with_metadata: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<OffsetDateTime>,
}

/// `GET /v1/shares` answer, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ShareList {
    pub shares: Vec<Share>,
}

/// An album.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Album {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_image_id: Option<String>,
    /// Images in the album (the trash excluded).
    pub image_count: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

/// `GET /v1/albums` answer, by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AlbumList {
    pub albums: Vec<Album>,
}

/// `GET /v1/albums/{id}` answer: the album and its images in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AlbumDetail {
    pub album: Album,
    pub images: Vec<Image>,
}

/// `POST /v1/albums` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAlbum {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// `PATCH /v1/albums/{id}` body. Absent fields are left unchanged; `cover_image_id: ""` removes
/// the cover.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlbumPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_image_id: Option<String>,
}

/// Body of `POST /v1/albums/{id}/add`, `/remove` and `/order`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlbumImages {
    pub image_ids: Vec<String>,
}
