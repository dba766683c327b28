//! The OpenAPI 3 description served at `/openapi.json`, generated from the handlers' annotations
//! and the wire types in `imgcloud_core::api`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    account, albums, auth, changes, derivatives, images, ops, share_pages, shares, uploads,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "imgcloud API", description = "imgcloud's HTTP API; see docs/api.md for the upload protocol."),
    paths(
        ops::healthz, ops::readyz, crate::metrics::handler, serve,
        account::me, account::update_settings, account::limits,
        auth::login, auth::list, auth::revoke,
        uploads::check, uploads::create, uploads::complete, uploads::abort,
        images::list, images::get, images::patch, images::trash, images::restore, images::purge,
        changes::list, derivatives::get, derivatives::signed,
        albums::list, albums::create, albums::get, albums::patch, albums::delete,
        albums::add, albums::remove, albums::order,
        shares::create, shares::list, shares::revoke,
        share_pages::page, share_pages::unlock, share_pages::image, share_pages::oembed,
    ),
    modifiers(&BearerAuth, &BodyErrors),
    tags(
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "account", description = "The caller and the server's limits"),
        (name = "auth", description = "Password login and the caller's API tokens"),
        (name = "uploads", description = "Presigned uploads straight to object storage"),
        (name = "images", description = "The library"),
        (name = "changes", description = "Change feed for local catalogs"),
        (name = "derivatives", description = "Thumbnails and previews, made by the cloud (public, behind the CDN)"),
        (name = "albums", description = "Albums: ordered, with a cover; an image can be in many"),
        (name = "shares", description = "Share links: expiry, password, view limits, revocation, counts"),
        (name = "share pages", description = "What a share link's visitors reach (HTML, no account)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every operation that takes a JSON body may also answer 413 (larger than `max_body_bytes`)
/// and 415 (not `Content-Type: application/json`): the extractor does it for all of them.
struct BodyErrors;

impl Modify for BodyErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            // The login reads its body itself, whatever its Content-Type.
            let checks_content_type = path != "/v1/auth/login";
            for op in [
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let takes_json = op
                    .request_body
                    .as_ref()
                    .is_some_and(|body| body.content.contains_key("application/json"));
                if !takes_json {
                    continue;
                }
                let responses = &mut op.responses.responses;
                responses.entry("413".into()).or_insert_with(|| {
                    error("The body is larger than the server's `max_body_bytes`").into()
                });
                if !checks_content_type {
                    continue;
                }
                responses.entry("415".into()).or_insert_with(|| {
                    error("The body is not `Content-Type: application/json`").into()
                });
            }
        }
    }
}

/// `GET /openapi.json`
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc = ApiDoc::openapi();
        for (path, method) in crate::routes::route_list() {
            let item = doc
                .paths
                .paths
                .get(path)
                .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
            let op = match method {
                "GET" => &item.get,
                "POST" => &item.post,
                "PATCH" => &item.patch,
                "DELETE" => &item.delete,
                other => panic!("unexpected method {other}"),
            };
            assert!(
                op.is_some(),
                "{method} {path} missing from the OpenAPI document"
            );
        }
        // Logging in needs no token; the token routes do.
        let login = doc.paths.paths["/v1/auth/login"].post.as_ref().unwrap();
        assert!(login.security.as_ref().is_none_or(Vec::is_empty));
        let tokens = doc.paths.paths["/v1/tokens"].get.as_ref().unwrap();
        assert!(tokens.security.as_ref().is_some_and(|s| !s.is_empty()));
        let schemas = doc.components.unwrap().schemas;
        for schema in [
            "CreateUploadResponse",
            "LoginRequest",
            "LoginResponse",
            "TokenList",
        ] {
            assert!(schemas.contains_key(schema), "{schema}");
        }
    }
}
