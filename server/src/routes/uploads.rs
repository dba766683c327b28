//! The upload protocol: check, create (presigned targets), complete, abort.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use imgcloud_core::api::{
    self, CheckRequest, CheckResponse, CompleteUpload, CreateUpload, CreateUploadResponse,
    ErrorBody, Image, OriginalTarget, PartTarget,
};

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::keys::{self, is_plausible_id};
use crate::state::AppState;
use crate::store::{ImageRecord, StoreError, UploadRecord, now};
use crate::{limits, links};

/// `POST /v1/uploads/check`
#[utoipa::path(
    post, path = "/v1/uploads/check", tag = "uploads",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The hashes the user already has (trash included)", body = CheckResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn check(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(req): ApiJson<CheckRequest>,
) -> ApiResult<Json<CheckResponse>> {
    let max = state.config.limits.max_batch as usize;
    if req.sha256.len() > max {
        return Err(ApiError::bad_request(
            "sha256",
            format!("at most {max} hashes per request"),
        ));
    }
    let hashes = req
        .sha256
        .iter()
        .enumerate()
        .map(|(i, h)| limits::sha256(&format!("sha256[{i}]"), h))
        .collect::<Result<Vec<_>, _>>()?;
    let found = state.store.images_by_sha256(&user.id, &hashes).await?;
    Ok(Json(CheckResponse {
        existing: found.into_iter().map(|r| links::image(&state, r)).collect(),
    }))
}

/// `POST /v1/uploads`
#[utoipa::path(
    post, path = "/v1/uploads", tag = "uploads",
    request_body = CreateUpload,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key → same upload session")),
    responses(
        (status = 200, description = "`exists` with the image, or `upload` with presigned targets", body = CreateUploadResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateUpload>,
) -> ApiResult<Json<CreateUploadResponse>> {
    let valid = limits::create_upload(&req, &state.config.limits)?;
    state.derivatives.note_upload();
    let idempotency_key = match headers.get(api::IDEMPOTENCY_KEY_HEADER) {
        Some(value) => {
            Some(limits::idempotency_key(value.to_str().map_err(|_| {
                ApiError::bad_request("Idempotency-Key", "must be ASCII")
            })?)?)
        }
        None => None,
    };
    if let Some(existing) = state
        .store
        .images_by_sha256(&user.id, std::slice::from_ref(&valid.sha256))
        .await?
        .pop()
    {
        return Ok(Json(CreateUploadResponse::Exists {
            image: links::image(&state, existing),
        }));
    }

    let visibility = match req.visibility {
        Some(visibility) => visibility,
        None => {
            state
                .store
                .account_settings(&user.id)
                .await?
                .default_visibility
        }
    };
    let image_id = keys::new_image_id();
    let key = keys::original_key(&image_id, &valid.filename);
    let object_key = keys::placed(&key, visibility == api::Visibility::Public);
    let multipart_id = match &valid.multipart {
        Some(_) => Some(
            state
                .objects
                .create_multipart(&object_key, &req.content_type)
                .await?,
        ),
        None => None,
    };
    let (part_size, part_hashes) = valid
        .multipart
        .clone()
        .map_or((None, Vec::new()), |(s, h)| (Some(s), h));
    let record = UploadRecord {
        id: keys::new_upload_id(),
        owner_id: user.id.clone(),
        idempotency_key,
        image_id,
        key,
        filename: valid.filename.clone(),
        size: req.size,
        sha256: valid.sha256.clone(),
        content_type: req.content_type.clone(),
        width: req.width,
        height: req.height,
        taken_at: req.taken_at,
        multipart_id,
        part_size,
        parts_json: serde_json::to_string(&part_hashes).map_err(ApiError::internal)?,
        created_at: now(),
        visibility,
    };
    let stored = state.store.create_upload(&record).await;
    let ours_unused = !matches!(&stored, Ok(s) if s.id == record.id);
    if ours_unused && let Some(multipart_id) = &record.multipart_id {
        // A retry with the same key (or a failure) leaves our multipart upload unused.
        if let Err(e) = state
            .objects
            .abort_multipart(&object_key, multipart_id)
            .await
        {
            tracing::warn!(error = %e, "could not abort an unused multipart upload; the janitor cannot see it");
        }
    }
    let stored = stored?;
    if stored.sha256 != record.sha256 || stored.size != record.size {
        return Err(ApiError::conflict(
            "Idempotency-Key was already used for a different file; send a new key",
        ));
    }
    tracing::info!(upload_id = %stored.id, image_id = %stored.image_id, size = stored.size, multipart = stored.multipart_id.is_some(), "upload session");
    Ok(Json(targets(&state, &stored)?))
}

/// The hex SHA-256s of a multipart session's parts, as the client declared them.
fn part_hashes(upload: &UploadRecord) -> ApiResult<Vec<String>> {
    serde_json::from_str(&upload.parts_json)
        .map_err(|e| ApiError::internal(format!("upload {}: parts_json: {e}", upload.id)))
}

/// Presigned targets for a session (fresh signatures on every call).
fn targets(state: &AppState, upload: &UploadRecord) -> ApiResult<CreateUploadResponse> {
    let expiry = state.config.presign_expiry();
    let expires_at = now() + expiry;
    let objects = &state.objects;
    let object_key = upload.object_key();
    let original = match (&upload.multipart_id, upload.part_size) {
        (Some(multipart_id), Some(part_size)) => {
            let hashes = part_hashes(upload)?;
            let mut parts = Vec::with_capacity(hashes.len());
            for (index, hash) in hashes.iter().enumerate() {
                let offset = index as u64 * part_size;
                let number = u32::try_from(index + 1).map_err(ApiError::internal)?;
                let length = part_size.min(upload.size.saturating_sub(offset));
                parts.push(PartTarget {
                    number,
                    offset,
                    length,
                    request: objects.presign_part(
                        &object_key,
                        multipart_id,
                        number,
                        hash,
                        length,
                        expiry,
                    )?,
                });
            }
            OriginalTarget::Multipart { part_size, parts }
        }
        _ => OriginalTarget::Single {
            request: objects.presign_put(
                &object_key,
                &upload.sha256,
                upload.size,
                &upload.content_type,
                expiry,
            )?,
        },
    };
    Ok(CreateUploadResponse::Upload {
        upload_id: upload.id.clone(),
        expires_at,
        original,
    })
}

async fn load_upload(state: &AppState, owner: &str, id: &str) -> ApiResult<UploadRecord> {
    if !is_plausible_id(id) {
        return Err(ApiError::not_found("upload"));
    }
    state.store.upload(owner, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("upload"),
        other => other.into(),
    })
}

/// `POST /v1/uploads/{id}/complete`
#[utoipa::path(
    post, path = "/v1/uploads/{id}/complete", tag = "uploads",
    params(("id" = String, Path, description = "Upload session id")),
    request_body(content = Option<CompleteUpload>, description = "Required for multipart uploads; a single-PUT upload may send none"),
    responses(
        (status = 200, description = "The image: new, made by an earlier complete of this session (a retry), or the user's image with these bytes", body = Image),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Objects missing or of the wrong size", body = ErrorBody),
        (status = 502, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn complete(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
    body: Option<ApiJson<CompleteUpload>>,
) -> ApiResult<Json<Image>> {
    let upload = load_upload(&state, &user.id, &id).await?;
    state.derivatives.note_upload();
    // Completing is idempotent. A retry whose first answer was lost (a replica killed
    // mid-request, a timeout) finds the image the first one made; a session whose bytes another
    // session brought in first gets that image (and its own objects are deleted). The session
    // row stays until the janitor removes it, so such a retry never meets a 404.
    if let Some(existing) = state
        .store
        .images_by_sha256(&user.id, std::slice::from_ref(&upload.sha256))
        .await?
        .pop()
    {
        if existing.id != upload.image_id {
            delete_leftovers(&state, &upload).await;
        }
        return Ok(Json(links::image(&state, existing)));
    }
    let body = body.map(|b| b.0).unwrap_or_default();
    let objects = &state.objects;
    let object_key = upload.object_key();

    if let (Some(multipart_id), Some(part_size)) = (&upload.multipart_id, upload.part_size) {
        let count = api::multipart_part_count(upload.size, part_size);
        let in_order = body
            .parts
            .iter()
            .enumerate()
            .all(|(i, p)| p.number as usize == i + 1 && !p.etag.is_empty());
        if body.parts.len() as u64 != count || !in_order {
            return Err(ApiError::bad_request(
                "parts",
                format!("expected the ETags of parts 1 to {count}, in order"),
            ));
        }
        if let Err(e) = objects
            .complete_multipart(
                &object_key,
                multipart_id,
                &body.parts,
                &part_hashes(&upload)?,
            )
            .await
        {
            // A passing fault (the store down or busy): the client tries again.
            if e.is_transient() {
                return Err(e.into());
            }
            // An earlier or racing complete may have finished it already (its answer lost on
            // the way): then the object is there. Not knowing is not a refusal either.
            match objects.head(&object_key).await {
                Ok(Some(meta)) if meta.size == upload.size => {}
                Ok(_) => {
                    tracing::warn!(upload_id = %upload.id, error = %e, "completing multipart upload failed");
                    return Err(ApiError::conflict(
                        "the object store could not complete the multipart upload: upload every part, then send their ETags",
                    ));
                }
                Err(head_error) => return Err(head_error.into()),
            }
        }
    }

    let mut missing = Vec::new();
    match objects.head(&object_key).await? {
        None => missing.push("original: not uploaded".to_string()),
        Some(meta) if meta.size != upload.size => missing.push(format!(
            "original: stored {} bytes, declared {}",
            meta.size, upload.size
        )),
        Some(_) => {}
    }
    if !missing.is_empty() {
        return Err(ApiError::conflict(format!(
            "upload incomplete: {}",
            missing.join("; ")
        )));
    }

    let created = now();
    let record = ImageRecord {
        id: upload.image_id.clone(),
        owner_id: user.id.clone(),
        filename: upload.filename.clone(),
        key: upload.key.clone(),
        size: upload.size,
        sha256: upload.sha256.clone(),
        content_type: upload.content_type.clone(),
        width: upload.width,
        height: upload.height,
        taken_at: upload.taken_at,
        created_at: created,
        updated_at: created,
        deleted_at: None,
        tags: Vec::new(),
        thumbhash: None,
        derivatives: Default::default(),
        derivatives_error: None,
        visibility: upload.visibility,
        objects_public: upload.visibility == api::Visibility::Public,
    };
    let image = state.store.insert_image(&record).await?;
    if image.id != upload.image_id {
        // The user already had these bytes (another session won): ours are duplicates.
        delete_objects(&state, &upload).await;
    }
    tracing::info!(upload_id = %upload.id, image_id = %image.id, "upload complete");
    Ok(Json(links::image(&state, image)))
}

/// Deletes the original and any derivative of a session (best effort, logged).
async fn delete_objects(state: &AppState, upload: &UploadRecord) {
    let public = upload.visibility == api::Visibility::Public;
    let mut keys = vec![upload.object_key()];
    keys.extend(
        api::PRESETS.iter().map(|preset| {
            keys::placed(&crate::derivatives::key(&upload.image_id, *preset), public)
        }),
    );
    for key in keys {
        if let Err(e) = state.objects.delete(&key).await {
            tracing::warn!(upload_id = %upload.id, error = %e, "could not delete an object of an abandoned upload");
        }
    }
}

/// Deletes what a session that made no image of its own left in the object store: its
/// multipart upload and any objects already written.
async fn delete_leftovers(state: &AppState, upload: &UploadRecord) {
    if let Some(multipart_id) = &upload.multipart_id
        && let Err(e) = state
            .objects
            .abort_multipart(&upload.object_key(), multipart_id)
            .await
    {
        // Already completed or aborted uploads fail here; the objects are deleted below.
        tracing::info!(upload_id = %upload.id, error = %e, "aborting multipart upload failed");
    }
    delete_objects(state, upload).await;
}

/// What [`discard`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discarded {
    /// The session had made its image: only the row was dropped.
    Completed,
    /// The session never made its image: its multipart upload and objects were deleted too.
    Aborted,
}

/// Drops a session: when its image exists (it completed), only the row; otherwise first the
/// multipart upload and any objects already written.
pub async fn discard(state: &AppState, upload: &UploadRecord) -> ApiResult<Discarded> {
    let completed = match state.store.image(&upload.owner_id, &upload.image_id).await {
        Ok(_) => true,
        Err(StoreError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    if !completed {
        delete_leftovers(state, upload).await;
    }
    match state
        .store
        .delete_upload(&upload.owner_id, &upload.id)
        .await
    {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(if completed {
        Discarded::Completed
    } else {
        Discarded::Aborted
    })
}

/// `DELETE /v1/uploads/{id}`
#[utoipa::path(
    delete, path = "/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload session id")),
    responses(
        (status = 204, description = "Aborted: its objects deleted (a completed session only loses its row)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn abort(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let upload = load_upload(&state, &user.id, &id).await?;
    discard(&state, &upload).await?;
    tracing::info!(upload_id = %upload.id, "upload aborted");
    Ok(StatusCode::NO_CONTENT)
}
