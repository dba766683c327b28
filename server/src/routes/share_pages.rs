//! What a share link's visitors reach, without an account:
//! - `GET /s/{token}`: the page (HTML, no JavaScript), counted as a view unless the visitor is
//!   a link-preview bot or the owner; 410 with a plain page once the link has ended;
//! - `POST /s/{token}`: the password form (throttled per link and per address);
//! - `GET /s/{token}/{image_id}/{file}`: the page's images (`320.jpg`, `1280.jpg`: metadata-free
//!   derivatives) and, when allowed, the original (`original`: its metadata removed unless the
//!   link keeps it); these URLs stop working when the link ends;
//! - `GET /oembed?url=…`: oEmbed for chat apps.
//!
//! Pages are never cached publicly (`Cache-Control: no-store`), so a revocation acts at once.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use imgcloud_core::api::{PREVIEW, Preset};
use serde::Deserialize;

use crate::auth::bearer_token;
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorCode};
use crate::keys::{is_plausible_id, token_hash};
use crate::routes::derivatives;
use crate::share_page::{self, Page, Picture};
use crate::shares::is_bot;
use crate::state::AppState;
use crate::store::sharing::{ShareRecord, ShareState, ViewOutcome};
use crate::store::{ImageRecord, StoreError, now};
use crate::{client_ip, keys, login_throttle, passwords, strip};

/// Cache-Control of share images: the visitor's browser only, for a few minutes.
const IMAGE_CACHE_CONTROL: &str = "private, max-age=300";
/// How long an unlocked link stays unlocked in a browser.
const UNLOCK_SECONDS: u32 = 24 * 3600;

/// Whether `token` looks like a share token (base62, sane length).
fn plausible_token(token: &str) -> bool {
    (20..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// An HTML answer with `status`; error statuses carry a code so the JSON error layer leaves
/// them alone.
fn html(status: StatusCode, code: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    if status.is_client_error() || status.is_server_error() {
        response.extensions_mut().insert(ErrorCode(code));
    }
    response
}

fn unknown_link() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "not_found",
        share_page::message(
            "No such link",
            "This link does not exist. Check that it was copied whole.",
        ),
    )
}

fn ended(state: ShareState) -> Response {
    let (title, text) = match state {
        ShareState::Revoked => (
            "This link was revoked",
            "Its owner has revoked it: ask them for a new one.",
        ),
        ShareState::Expired => (
            "This link has expired",
            "It was valid until a date that has passed: ask its owner for a new one.",
        ),
        _ => (
            "This link has reached its view limit",
            "It could be opened a set number of times, and that many views have happened.",
        ),
    };
    html(StatusCode::GONE, "gone", share_page::message(title, text))
}

/// The value of cookie `name` in `headers`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn unlock_cookie_name(share: &ShareRecord) -> String {
    format!("imgcloud_unlock_{}", share.id)
}

fn viewed_cookie_name(share: &ShareRecord) -> String {
    format!("imgcloud_viewed_{}", share.id)
}

/// A `Set-Cookie` value scoped to the link's path.
fn set_cookie(state: &AppState, token: &str, name: &str, value: &str, max_age: u32) -> String {
    let secure = if state.config.public_base().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/s/{token}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// A link found by its token, with what the request proves about its visitor.
struct Visit {
    share: ShareRecord,
    unlocked: bool,
    viewed: bool,
}

async fn find(state: &AppState, token: &str, headers: &HeaderMap) -> Result<Visit, Response> {
    if !plausible_token(token) {
        return Err(unknown_link());
    }
    let share = match state
        .store
        .sharing()
        .share_by_token_hash(&token_hash(token))
        .await
    {
        Ok(share) => share,
        Err(StoreError::NotFound) => return Err(unknown_link()),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    let keys = &state.share_keys;
    let at = now().unix_timestamp();
    let unlocked = share.password_hash.is_none()
        || cookie(headers, &unlock_cookie_name(&share))
            .is_some_and(|v| keys.unlocks(&share, v, at));
    let viewed =
        cookie(headers, &viewed_cookie_name(&share)).is_some_and(|v| keys.viewed(&share, v, at));
    Ok(Visit {
        share,
        unlocked,
        viewed,
    })
}

/// Whether the link serves this visitor now: active, or out of views for someone who has
/// viewed it already; else why not.
fn serves(visit: &Visit) -> Result<(), ShareState> {
    match visit.share.state(now()) {
        ShareState::Active => Ok(()),
        ShareState::Exhausted if visit.viewed => Ok(()),
        state => Err(state),
    }
}

/// Whether the request comes from the link's owner (their API token).
async fn is_owner(state: &AppState, headers: &HeaderMap, share: &ShareRecord) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
    else {
        return false;
    };
    matches!(
        state.store.user_by_token_hash(&token_hash(token)).await,
        Ok(user) if user.id == share.owner_id
    )
}

/// Size of `image`'s preview (the derivative service's own arithmetic).
fn fit(image: &ImageRecord, preset: Preset) -> (u32, u32) {
    crate::derivatives::shrink::fitted_size(
        image.width.max(1),
        image.height.max(1),
        preset.long_side,
    )
}

/// Title and description of a link's page.
async fn title(state: &AppState, share: &ShareRecord, images: &[ImageRecord]) -> (String, String) {
    if let Some(album) = &share.album_id
        && let Ok(album) = state.store.sharing().album(&share.owner_id, album).await
    {
        return (album.name, album.description);
    }
    match images {
        [one] => (one.filename.clone(), String::new()),
        many => (format!("{} images", many.len()), String::new()),
    }
}

fn page_url(state: &AppState, token: &str) -> String {
    format!("{}/s/{token}", state.config.public_base())
}

/// `GET /s/{token}`
#[utoipa::path(
    get, path = "/s/{token}", tag = "share pages",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "The page (HTML); a password form while locked", content_type = "text/html"),
        (status = 404, description = "No such link", content_type = "text/html"),
        (status = 410, description = "The link has expired, was revoked or has reached its view limit; the page says which", content_type = "text/html"),
    )
)]
pub async fn page(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let client = client_ip::of_request(&request, &state.config.trusted_proxies);
    let mut visit = match find(&state, &token, &headers).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    if let Err(why) = serves(&visit) {
        return ended(why);
    }
    if !visit.unlocked {
        return html(
            StatusCode::OK,
            "locked",
            share_page::locked(&format!("/s/{token}"), None),
        );
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut set_cookies = Vec::new();
    let counts = request.method() == Method::GET
        && !is_bot(user_agent)
        && !is_owner(&state, &headers, &visit.share).await;
    if counts && !visit.viewed {
        let visitor = state.share_keys.visitor(client, user_agent);
        match state
            .store
            .sharing()
            .record_share_view(&visit.share.id, now(), &visitor)
            .await
        {
            Ok(ViewOutcome::Counted { .. }) => {
                visit.viewed = true;
                set_cookies.push(set_cookie(
                    &state,
                    &token,
                    &viewed_cookie_name(&visit.share),
                    &state.share_keys.viewed_cookie(
                        &visit.share,
                        now().unix_timestamp() + i64::from(UNLOCK_SECONDS),
                    ),
                    UNLOCK_SECONDS,
                ));
            }
            Ok(ViewOutcome::Ended(why)) => return ended(why),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if counts {
        // A reload by someone who viewed it already: counted again (views are page loads),
        // unless the link is out of views, which their earlier view still lets them see.
        if visit.share.state(now()) == ShareState::Active {
            let visitor = state.share_keys.visitor(client, user_agent);
            if let Ok(ViewOutcome::Ended(why)) = state
                .store
                .sharing()
                .record_share_view(&visit.share.id, now(), &visitor)
                .await
                && why != ShareState::Exhausted
            {
                return ended(why);
            }
        }
    }
    let images = match state.store.sharing().share_images(&visit.share).await {
        Ok(images) => images,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (title, description) = title(&state, &visit.share, &images).await;
    let pictures: Vec<Picture> = images
        .iter()
        .map(|image| {
            let (width, height) = fit(image, PREVIEW);
            Picture {
                id: image.id.clone(),
                filename: image.filename.clone(),
                width,
                height,
            }
        })
        .collect();
    let url = page_url(&state, &token);
    let oembed = format!(
        "{}/oembed?format=json&url={}",
        state.config.public_base(),
        urlencoding(&url)
    );
    let body = share_page::render(&Page {
        url: &url,
        title: &title,
        description: &description,
        pictures: &pictures,
        allow_download: visit.share.allow_download,
        oembed: &oembed,
    });
    let mut response = html(StatusCode::OK, "ok", body);
    for value in set_cookies {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Percent-encodes `text` for a query value.
fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The password form's body.
#[derive(Debug, Deserialize)]
pub struct UnlockForm {
    #[serde(default)]
    pub password: String,
}

/// `POST /s/{token}`
#[utoipa::path(
    post, path = "/s/{token}", tag = "share pages",
    params(("token" = String, Path, description = "The link's token")),
    request_body(content = String, description = "`password=…` (an HTML form)", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Unlocked: back to the page, with a cookie for this link"),
        (status = 401, description = "Wrong password (the form again)", content_type = "text/html"),
        (status = 429, description = "Too many wrong passwords for this link from this address", content_type = "text/html"),
        (status = 404, content_type = "text/html"), (status = 410, content_type = "text/html"),
        (status = 413, description = "The form is too large (an overlong password)", content_type = "text/html"),
    )
)]
pub async fn unlock(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let client: Option<IpAddr> = client_ip::of_request(&request, &state.config.trusted_proxies);
    let visit = match find(&state, &token, &headers).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    if let Err(why) = serves(&visit) {
        return ended(why);
    }
    let action = format!("/s/{token}");
    let Some(hash) = visit.share.password_hash.clone() else {
        return redirect(&action, None);
    };
    let body = match axum::body::to_bytes(request.into_body(), 8 * 1024).await {
        Ok(body) => body,
        Err(_) => {
            return html(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                share_page::locked(&action, Some("That password is too long.")),
            );
        }
    };
    let form: UnlockForm = serde_urlencoded_form(&body);
    let key = format!("share:{}", visit.share.id);
    let attempt = match login_throttle::begin(
        state.store.as_ref(),
        &state.config.login,
        &key,
        client,
    )
    .await
    {
        Ok(login_throttle::Verdict::Go(attempt)) => attempt,
        Ok(login_throttle::Verdict::Throttled(_)) => {
            return html(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                share_page::locked(
                    &action,
                    Some("Too many wrong passwords: wait 15 minutes, then try again."),
                ),
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if passwords::verify(&form.password, &hash).await {
        if let Err(e) = login_throttle::succeeded(state.store.as_ref(), attempt).await {
            tracing::warn!(error = %e, "could not clear a share link's failed passwords");
        }
        let cookie = set_cookie(
            &state,
            &token,
            &unlock_cookie_name(&visit.share),
            &state.share_keys.unlock_cookie(
                &visit.share,
                now().unix_timestamp() + i64::from(UNLOCK_SECONDS),
            ),
            UNLOCK_SECONDS,
        );
        return redirect(&action, Some(cookie));
    }
    if let Err(e) = login_throttle::failed(state.store.as_ref(), attempt).await {
        tracing::warn!(error = %e, "could not record a share link's failed password");
    }
    html(
        StatusCode::UNAUTHORIZED,
        "wrong_password",
        share_page::locked(&action, Some("Wrong password.")),
    )
}

fn serde_urlencoded_form(body: &[u8]) -> UnlockForm {
    let password = url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "password")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    UnlockForm { password }
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /s/{token}/{image_id}/{file}`
#[utoipa::path(
    get, path = "/s/{token}/{image_id}/{file}", tag = "share pages",
    params(
        ("token" = String, Path, description = "The link's token"),
        ("image_id" = String, Path, description = "One of the link's images"),
        ("file" = String, Path, description = "`320.jpg`, `1280.jpg` (metadata-free derivatives) or `original`"),
    ),
    responses(
        (status = 200, description = "The image"),
        (status = 302, description = "The original with its metadata: a short-lived presigned URL"),
        (status = 401, description = "The link is password-protected and not unlocked", body = imgcloud_core::api::ErrorBody),
        (status = 403, description = "The link offers no original", body = imgcloud_core::api::ErrorBody),
        (status = 404, description = "An unknown link (an HTML page), or an image not in the link or an unknown file (JSON)", content(("text/html"), (imgcloud_core::api::ErrorBody = "application/json"))),
        (status = 410, content_type = "text/html"),
        (status = 422, description = "The image could not be decoded", body = imgcloud_core::api::ErrorBody),
        (status = 502, description = "The object store failed", body = imgcloud_core::api::ErrorBody),
    )
)]
pub async fn image(
    State(state): State<AppState>,
    axum::extract::Path((token, image_id, file)): axum::extract::Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match image_answer(&state, &token, &image_id, &file, &headers).await {
        Ok(response) | Err(response) => response,
    }
}

async fn image_answer(
    state: &AppState,
    token: &str,
    image_id: &str,
    file: &str,
    headers: &HeaderMap,
) -> Result<Response, Response> {
    let visit = find(state, token, headers).await?;
    serves(&visit).map_err(ended)?;
    if !visit.unlocked {
        return Err(ApiError::unauthorized(
            "this link is password-protected: open its page and type the password",
        )
        .into_response());
    }
    if !is_plausible_id(image_id) {
        return Err(ApiError::not_found("image").into_response());
    }
    let images = state
        .store
        .sharing()
        .share_images(&visit.share)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let image = images
        .into_iter()
        .find(|image| image.id == image_id)
        .ok_or_else(|| ApiError::not_found("image").into_response())?;
    if file != crate::links::ORIGINAL_FILE {
        let preset = derivatives::preset_of(file).map_err(IntoResponse::into_response)?;
        return derivatives::answer(state, &image, preset, IMAGE_CACHE_CONTROL)
            .await
            .map_err(IntoResponse::into_response);
    }
    original(state, &visit.share, &image)
        .await
        .map_err(IntoResponse::into_response)
}

/// The original as a link may offer it.
async fn original(
    state: &AppState,
    share: &ShareRecord,
    image: &ImageRecord,
) -> ApiResult<Response> {
    if !share.allow_download {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "download_disabled",
            "this link shows the pictures only; its owner turned downloads off",
        ));
    }
    let key = keys::placed(&image.key, image.objects_public);
    if share.with_metadata {
        let presigned = state
            .objects
            .presign_get(&key, std::time::Duration::from_secs(300))
            .map_err(ApiError::upstream)?;
        let mut response = StatusCode::FOUND.into_response();
        response.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&presigned.url).map_err(ApiError::internal)?,
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    }
    if !strip::strippable(&image.content_type) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "metadata_kept",
            format!(
                "{} originals cannot be offered without their metadata; the owner can share \
                 this one with its metadata (--with-metadata)",
                image.content_type
            ),
        ));
    }
    let bytes = state
        .objects
        .get(&key, state.config.limits.max_upload_bytes)
        .await?
        .ok_or_else(|| ApiError::not_found("image"))?;
    let content_type = image.content_type.clone();
    let stripped = tokio::task::spawn_blocking(move || strip::strip(bytes, &content_type))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "broken_image",
                e.to_string(),
            )
        })?;
    let mut response = stripped.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&image.content_type).map_err(ApiError::internal)?,
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(IMAGE_CACHE_CONTROL),
    );
    let filename: String =
        url::form_urlencoded::byte_serialize(image.filename.as_bytes()).collect();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        filename.replace('+', "%20")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Query of `GET /oembed`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OembedQuery {
    /// The share page's URL.
    pub url: String,
    /// `json` (the only one served).
    pub format: Option<String>,
    pub maxwidth: Option<u32>,
    pub maxheight: Option<u32>,
}

/// `GET /oembed`
#[utoipa::path(
    get, path = "/oembed", tag = "share pages",
    params(OembedQuery),
    responses(
        (status = 200, description = "oEmbed `photo` of the link's first image (its preview)"),
        (status = 401, description = "A password-protected link: nothing is told", body = imgcloud_core::api::ErrorBody),
        (status = 400, description = "A missing or malformed query parameter", body = imgcloud_core::api::ErrorBody),
        (status = 404, body = imgcloud_core::api::ErrorBody),
        (status = 501, description = "A format other than json", body = imgcloud_core::api::ErrorBody),
    )
)]
pub async fn oembed(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<OembedQuery>,
) -> ApiResult<Response> {
    if query.format.as_deref().is_some_and(|f| f != "json") {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "unsupported_format",
            "only format=json is served",
        ));
    }
    let token = query
        .url
        .split_once("/s/")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .ok_or_else(|| ApiError::not_found("share link"))?
        .to_string();
    let visit = find(&state, &token, &HeaderMap::new())
        .await
        .map_err(|_| ApiError::not_found("share link"))?;
    if visit.share.state(now()) != ShareState::Active {
        return Err(ApiError::not_found("share link"));
    }
    if visit.share.password_hash.is_some() {
        return Err(ApiError::unauthorized("this link is password-protected"));
    }
    let images = state.store.sharing().share_images(&visit.share).await?;
    let (title, _) = title(&state, &visit.share, &images).await;
    let first = images.first().ok_or_else(|| ApiError::not_found("image"))?;
    let (mut width, mut height) = fit(first, PREVIEW);
    if let Some(max) = query.maxwidth.filter(|m| *m > 0 && *m < width) {
        height = (u64::from(height) * u64::from(max) / u64::from(width)).max(1) as u32;
        width = max;
    }
    if let Some(max) = query.maxheight.filter(|m| *m > 0 && *m < height) {
        width = (u64::from(width) * u64::from(max) / u64::from(height)).max(1) as u32;
        height = max;
    }
    let page = page_url(&state, &token);
    let body = serde_json::json!({
        "version": "1.0",
        "type": "photo",
        "title": title,
        "url": format!("{page}/{}/1280.jpg", first.id),
        "width": width,
        "height": height,
        "provider_name": "imgcloud",
        "provider_url": state.config.public_base(),
        "cache_age": 300,
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    Ok(response)
}
