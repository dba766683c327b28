//! On the production stack, a revoked token stops working at once on every replica, even when
//! every replica has just looked it up (and cached it).

use imgcloud_tests::Stack;
use imgcloud_tests::http::request;
use serde_json::json;

/// `POST /v1/auth/login` through the load balancer as the demo user: (token, token id).
async fn login(stack: &Stack, device: &str) -> (String, String) {
    let path = stack.state_dir.join("demo-password");
    let password = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let body = json!({
        "username": stack.demo_user,
        "password": password.trim_end_matches(['\n', '\r']),
        "device_name": device,
    });
    let answer = request(
        "POST",
        &format!("{}/v1/auth/login", stack.server),
        None,
        Some(&body),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "login as the demo user");
    let value: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let token = value["token"]
        .as_str()
        .expect("login answers a token")
        .to_string();
    let id = value["token_id"]
        .as_str()
        .expect("login answers a token_id")
        .to_string();
    (token, id)
}

/// `GET /v1/me` on `base` with `token`: the status.
async fn me(base: &str, token: &str) -> u16 {
    request("GET", &format!("{base}/v1/me"), Some(token), None)
        .await
        .unwrap()
        .status
}

/// Looks `token` up several times on every replica directly (so each has it cached).
async fn warm(stack: &Stack, token: &str) {
    for replica in &stack.replicas {
        for _ in 0..5 {
            assert_eq!(
                me(replica, token).await,
                200,
                "{replica} accepts the new token"
            );
        }
    }
}

/// Right after a revocation: the revoked token is refused on every replica and through the
/// load balancer; the demo user's other token still works everywhere.
async fn assert_revoked_everywhere(stack: &Stack, revoked: &str) {
    for replica in &stack.replicas {
        assert_eq!(
            me(replica, revoked).await,
            401,
            "{replica} still accepts the revoked token"
        );
    }
    for _ in 0..4 {
        assert_eq!(me(&stack.server, revoked).await, 401, "load balancer");
    }
    for replica in &stack.replicas {
        assert_eq!(
            me(replica, &stack.token).await,
            200,
            "{replica}: other token"
        );
    }
}

#[tokio::test]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn tokens_revoked_through_the_api_stop_working_at_once_on_every_replica() {
    let stack = Stack::up().expect("stack up");

    // Revoked through the API (DELETE /v1/tokens/{id} via the load balancer).
    let (phone, phone_id) = login(&stack, "phone").await;
    let hits_before = stack
        .metric_sum("imgcloud_cache_hits_total", &[])
        .await
        .unwrap();
    warm(&stack, &phone).await;
    let hits_after = stack
        .metric_sum("imgcloud_cache_hits_total", &[])
        .await
        .unwrap();
    assert!(
        hits_after > hits_before,
        "repeated token lookups should be cache hits ({hits_before} → {hits_after})"
    );
    let listed = request(
        "GET",
        &format!("{}/v1/tokens", stack.server),
        Some(&stack.token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(listed.status, 200);
    let tokens: serde_json::Value = serde_json::from_slice(&listed.body).unwrap();
    assert!(
        tokens["tokens"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["id"] == phone_id.as_str())),
        "GET /v1/tokens lists the new token"
    );
    let deleted = request(
        "DELETE",
        &format!("{}/v1/tokens/{phone_id}", stack.server),
        Some(&stack.token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(deleted.status, 204, "DELETE /v1/tokens/{{id}}");
    assert_revoked_everywhere(&stack, &phone).await;
}

/// Revoked by the administrator (`imgcloud-server token revoke USER NAME` on the stack's
/// database and cache, no replica involved).
#[tokio::test]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn tokens_revoked_by_the_admin_cli_stop_working_at_once_on_every_replica() {
    let stack = Stack::up().expect("stack up");
    let (laptop, _) = login(&stack, "laptop").await;
    warm(&stack, &laptop).await;
    let revoke = stack
        .admin(&["token", "revoke", &stack.demo_user, "laptop"])
        .unwrap();
    assert_eq!(revoke.code, 0, "token revoke failed: {}", revoke.stderr);
    assert_revoked_everywhere(&stack, &laptop).await;
}
