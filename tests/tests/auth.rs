//! Without a token every `/v1` route answers 401; one user can never see or touch another
//! user's images or upload sessions.

use imgcloud_core::api::CreateUploadResponse;
use imgcloud_tests::http::{Fetched, request};
use imgcloud_tests::protocol::{create_upload_for, post_upload};
use imgcloud_tests::{EmbeddedCloud, fetch, jpeg, sha256_hex};
use serde_json::json;

const FAKE_ID: &str = "AAAAAAAAAAAAAAAA";

/// Every `/v1` route (method, path) with placeholder ids.
fn routes(image: &str, upload: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/v1/me".into()),
        ("GET", "/v1/limits".into()),
        ("POST", "/v1/uploads/check".into()),
        ("POST", "/v1/uploads".into()),
        ("POST", format!("/v1/uploads/{upload}/complete")),
        ("DELETE", format!("/v1/uploads/{upload}")),
        ("GET", "/v1/images".into()),
        ("GET", format!("/v1/images/{image}")),
        ("PATCH", format!("/v1/images/{image}")),
        ("DELETE", format!("/v1/images/{image}")),
        ("POST", format!("/v1/images/{image}/restore")),
        ("DELETE", format!("/v1/images/{image}/purge")),
        ("GET", "/v1/changes?since=0".into()),
    ]
}

fn assert_error(response: &Fetched, status: u16, code: &str, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.text());
    let body: serde_json::Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| panic!("{what}: error body is not JSON: {}", response.text()));
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_v1_route_needs_a_token() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let body = json!({});
    for (method, path) in routes(FAKE_ID, FAKE_ID) {
        let url = format!("{}{path}", cloud.api_url);
        let json = (method != "GET" && method != "DELETE").then_some(&body);
        let anonymous = request(method, &url, None, json).await.unwrap();
        assert_error(
            &anonymous,
            401,
            "unauthorized",
            &format!("{method} {path} without token"),
        );
        let wrong = request(method, &url, Some("not-a-real-token"), json)
            .await
            .unwrap();
        assert_error(
            &wrong,
            401,
            "unauthorized",
            &format!("{method} {path} with a wrong token"),
        );
    }
    // The public routes stay public.
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let response = fetch(&format!("{}{path}", cloud.api_url)).await.unwrap();
        assert_eq!(response.status, 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_user_cannot_see_or_touch_another_users_images() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let api = cloud.api_url.clone();
    let token_a = cloud.token().expect("local user's token");
    let token_b = cloud.add_user("bob").expect("user add bob");
    assert_ne!(token_a, token_b);

    // A uploads an image with the CLI and opens a second upload session by hand.
    let bytes = jpeg(640, 480, 51);
    cloud.write_file("alice.jpg", &bytes);
    cloud.run_cli(&["upload", "alice.jpg"]).assert_success();
    let listed = cloud.run_cli(&["ls", "--json"]).json();
    let image = listed[0].clone();
    let id = image["id"].as_str().unwrap().to_string();
    let sha = image["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha, sha256_hex(&bytes));

    let pending = create_upload_for("pending.jpg", &jpeg(320, 240, 52)).unwrap();
    let CreateUploadResponse::Upload { upload_id, .. } = post_upload(&api, &token_a, &pending)
        .await
        .unwrap()
        .expect("create upload as A")
    else {
        panic!("new bytes need an upload")
    };

    // B sees an empty library, and A's things answer 404, exactly like missing ones.
    let b = |method: &'static str, path: String, body: Option<serde_json::Value>| {
        let url = format!("{api}{path}");
        let token = token_b.clone();
        async move {
            request(method, &url, Some(&token), body.as_ref())
                .await
                .unwrap()
        }
    };
    let list = b("GET", "/v1/images".into(), None).await;
    assert_eq!(list.status, 200);
    let page: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(
        page["items"].as_array().map(Vec::len),
        Some(0),
        "B lists nothing: {page}"
    );
    let trash = b("GET", "/v1/images?trash=true".into(), None).await;
    let trash: serde_json::Value = serde_json::from_slice(&trash.body).unwrap();
    assert_eq!(
        trash["items"].as_array().map(Vec::len),
        Some(0),
        "B's trash is empty: {trash}"
    );

    let check = b(
        "POST",
        "/v1/uploads/check".into(),
        Some(json!({ "sha256": [sha] })),
    )
    .await;
    assert_eq!(check.status, 200, "{}", check.text());
    let check: serde_json::Value = serde_json::from_slice(&check.body).unwrap();
    assert_eq!(
        check["existing"].as_array().map(Vec::len),
        Some(0),
        "check does not reveal A's hashes: {check}"
    );

    let changes = b("GET", "/v1/changes?since=0".into(), None).await;
    assert_eq!(changes.status, 200);
    let changes: serde_json::Value = serde_json::from_slice(&changes.body).unwrap();
    assert_eq!(
        changes["changes"].as_array().map(Vec::len),
        Some(0),
        "B's change feed is empty: {changes}"
    );

    let attempts: Vec<(&'static str, String, Option<serde_json::Value>)> = vec![
        ("GET", format!("/v1/images/{id}"), None),
        (
            "PATCH",
            format!("/v1/images/{id}"),
            Some(json!({ "filename": "stolen.jpg" })),
        ),
        ("DELETE", format!("/v1/images/{id}"), None),
        ("POST", format!("/v1/images/{id}/restore"), None),
        ("DELETE", format!("/v1/images/{id}/purge"), None),
        (
            "POST",
            format!("/v1/uploads/{upload_id}/complete"),
            Some(json!({ "parts": [] })),
        ),
        ("DELETE", format!("/v1/uploads/{upload_id}"), None),
    ];
    for (method, path, body) in attempts {
        let what = format!("B: {method} {path}");
        let response = b(method, path.clone(), body.clone()).await;
        assert_error(&response, 404, "not_found", &what);
        // The same request for a made-up id answers the same way.
        let missing = b(
            method,
            path.replace(&id, FAKE_ID).replace(&upload_id, FAKE_ID),
            body,
        )
        .await;
        assert_error(&missing, 404, "not_found", &format!("{what} (missing id)"));
    }

    // Uploading the same bytes as B makes B's own image, not a link to A's.
    let same = create_upload_for("bob.jpg", &bytes).unwrap();
    match post_upload(&api, &token_b, &same)
        .await
        .unwrap()
        .expect("create upload as B")
    {
        CreateUploadResponse::Upload { upload_id, .. } => {
            // Leave nothing behind.
            let abort = b("DELETE", format!("/v1/uploads/{upload_id}"), None).await;
            assert_eq!(abort.status, 204);
        }
        CreateUploadResponse::Exists { image } => panic!("B was handed A's image {}", image.id),
    }

    // A's image is untouched and A's session still works for A.
    let after = cloud.run_cli(&["ls", "--json"]).json();
    assert_eq!(after.as_array().map(Vec::len), Some(1));
    assert_eq!(after[0]["filename"], image["filename"]);
    assert!(after[0]["deleted_at"].is_null(), "not trashed by B");
    let served = fetch(image["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(sha256_hex(&served.body), sha, "object not purged by B");
    let abort_a = request(
        "DELETE",
        &format!("{api}/v1/uploads/{upload_id}"),
        Some(&token_a),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        abort_a.status,
        204,
        "A can still abort A's session: {}",
        abort_a.text()
    );

    // The CLI as B agrees.
    let as_b = cloud.run_cli_as(&token_b, &["ls", "--json"]);
    as_b.assert_success();
    assert_eq!(as_b.json().as_array().map(Vec::len), Some(0));
    let link = cloud.run_cli_as(&token_b, &["link", &id]);
    assert_eq!(link.code, 1, "{link}");
    assert!(
        link.stdout.is_empty() && link.stderr.contains(&id),
        "{link}"
    );
}
