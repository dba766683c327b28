//! Bearer-token authentication: `Authorization: Bearer <token>`; the token's SHA-256 is looked
//! up (through the cache). The token itself is never logged or stored.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::keys::token_hash;
use crate::state::AppState;
use crate::store::{StoreError, User};

/// The authenticated caller. Put it first among a handler's extractors so a missing token is
/// answered with 401 before anything else is looked at.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

/// Extracts the token from an `Authorization` header value.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing token: send Authorization: Bearer <token>")
        })?;
        let token = header.to_str().ok().and_then(bearer_token).ok_or_else(|| {
            ApiError::unauthorized("malformed Authorization header: expected Bearer <token>")
        })?;
        match state.store.user_by_token_hash(&token_hash(token)).await {
            Ok(user) => Ok(Self(user)),
            Err(StoreError::NotFound) => Err(ApiError::unauthorized("invalid or revoked token")),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
