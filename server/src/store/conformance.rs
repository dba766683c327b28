//! Behaviour every [`Store`] backend must have, written once against the trait. Each backend's
//! test module runs these on a fresh database (see `store_conformance_tests!`).

use std::collections::HashSet;

use time::Duration;

use super::{ImageRecord, ListQuery, Store, StoreError, UploadRecord, from_micros, now, to_micros};

pub fn image(owner: &str, id: &str, filename: &str, sha_seed: &str) -> ImageRecord {
    let t = now();
    ImageRecord {
        id: id.into(),
        owner_id: owner.into(),
        filename: filename.into(),
        key: format!("i/{id}/{filename}"),
        size: 1234,
        sha256: crate::keys::token_hash(sha_seed),
        content_type: "image/png".into(),
        width: 640,
        height: 480,
        taken_at: Some(from_micros(1_600_000_000_000_000)),
        created_at: t,
        updated_at: t,
        deleted_at: None,
        tags: vec![],
        thumbhash: None,
        derivatives: Default::default(),
        derivatives_error: None,
        visibility: Default::default(),
        objects_public: true,
    }
}

fn upload(owner: &str, id: &str, idempotency_key: Option<&str>) -> UploadRecord {
    UploadRecord {
        id: id.into(),
        owner_id: owner.into(),
        idempotency_key: idempotency_key.map(str::to_string),
        image_id: format!("img{id}"),
        key: format!("i/img{id}/a.png"),
        filename: "a.png".into(),
        size: 10,
        sha256: crate::keys::token_hash(id),
        content_type: "image/png".into(),
        width: 1,
        height: 1,
        taken_at: None,
        multipart_id: Some("mp-1".into()),
        part_size: Some(5),
        parts_json: "[\"aa\",\"bb\"]".into(),
        created_at: now(),
        visibility: Default::default(),
    }
}

async fn two_users(store: &dyn Store) -> (String, String) {
    let a = store.create_user("alice").await.unwrap().id;
    let b = store.create_user("bob").await.unwrap().id;
    (a, b)
}

pub async fn users_and_tokens(store: &dyn Store) {
    store.ping().await.unwrap();
    let (a, b) = two_users(store).await;
    assert!(matches!(
        store.create_user("alice").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.user_by_name("alice").await.unwrap().id, a);
    assert!(matches!(
        store.user_by_name("carol").await,
        Err(StoreError::NotFound)
    ));

    store.add_token(&a, "hash-a1", "laptop").await.unwrap();
    store.add_token(&a, "hash-a2", "phone").await.unwrap();
    store.add_token(&b, "hash-b1", "laptop").await.unwrap();
    assert!(
        store
            .add_token("no-such-user", "hash-x", "x")
            .await
            .is_err()
    );
    assert_eq!(store.user_by_token_hash("hash-a1").await.unwrap().id, a);
    assert_eq!(store.user_by_token_hash("hash-b1").await.unwrap().id, b);
    assert!(matches!(
        store.user_by_token_hash("nope").await,
        Err(StoreError::NotFound)
    ));
    // used twice: the last-use update must not break lookups
    assert_eq!(
        store.user_by_token_hash("hash-a1").await.unwrap().username,
        "alice"
    );

    // Revoking alice's "laptop" touches neither her other tokens nor bob's "laptop".
    assert_eq!(
        store.revoke_tokens(&a, "laptop").await.unwrap(),
        vec!["hash-a1".to_string()]
    );
    assert!(matches!(
        store.user_by_token_hash("hash-a1").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.user_by_token_hash("hash-a2").await.unwrap().id, a);
    assert_eq!(store.user_by_token_hash("hash-b1").await.unwrap().id, b);
    assert!(store.revoke_tokens(&a, "laptop").await.unwrap().is_empty());
}

pub async fn passwords_and_disabling(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    // No password until one is set.
    let (user, hash) = store.login_record("alice").await.unwrap();
    assert_eq!((user.id.as_str(), hash), (a.as_str(), None));
    assert!(matches!(
        store.login_record("carol").await,
        Err(StoreError::NotFound)
    ));
    store
        .set_password_hash(&a, Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"))
        .await
        .unwrap();
    assert_eq!(
        store.login_record("alice").await.unwrap().1.as_deref(),
        Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
    );
    // bob is untouched
    assert_eq!(store.login_record("bob").await.unwrap().1, None);
    assert!(matches!(
        store.set_password_hash("no-such-user", Some("x")).await,
        Err(StoreError::NotFound)
    ));

    let a1 = crate::keys::token_hash("alice-1");
    let a2 = crate::keys::token_hash("alice-2");
    let b1 = crate::keys::token_hash("bob-1");
    store.add_token(&a, &a1, "laptop").await.unwrap();
    store.add_token(&a, &a2, "phone").await.unwrap();
    store.add_token(&b, &b1, "laptop").await.unwrap();
    store.revoke_tokens(&a, "phone").await.unwrap();

    let users = store.list_users().await.unwrap();
    let summary: Vec<_> = users
        .iter()
        .map(|u| {
            (
                u.user.username.as_str(),
                u.has_password,
                u.tokens,
                u.user.disabled,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![("alice", true, 1, false), ("bob", false, 1, false)],
        "by name, live tokens only"
    );
    assert!(users.iter().all(|u| u.created_at <= now()));

    // Disabling returns the live token hashes and stops them resolving; login_record still
    // finds the user (the route answers the same 401 either way).
    assert_eq!(
        store.set_disabled(&a, true).await.unwrap(),
        vec![a1.clone()]
    );
    assert!(matches!(
        store.user_by_token_hash(&a1).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.login_record("alice").await.unwrap().0.disabled);
    assert!(store.user_by_name("alice").await.unwrap().disabled);
    assert_eq!(store.user_by_token_hash(&b1).await.unwrap().id, b);
    let listed = store.list_users().await.unwrap();
    assert!(listed[0].user.disabled && !listed[1].user.disabled);
    // Enabling brings the (unrevoked) token back.
    assert_eq!(
        store.set_disabled(&a, false).await.unwrap(),
        vec![a1.clone()]
    );
    assert_eq!(store.user_by_token_hash(&a1).await.unwrap().id, a);
    assert!(matches!(
        store.set_disabled("no-such-user", true).await,
        Err(StoreError::NotFound)
    ));

    // Removing the password.
    store.set_password_hash(&a, None).await.unwrap();
    assert_eq!(store.login_record("alice").await.unwrap().1, None);
    assert!(!store.list_users().await.unwrap()[0].has_password);
}

pub async fn token_listing_and_revocation(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    let a1 = crate::keys::token_hash("alice-1");
    let a2 = crate::keys::token_hash("alice-2");
    let a3 = crate::keys::token_hash("alice-3");
    let b1 = crate::keys::token_hash("bob-1");
    store.add_token(&a, &a1, "laptop").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    store.add_token(&a, &a2, "phone").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    store.add_token(&a, &a3, "ci").await.unwrap();
    store.add_token(&b, &b1, "laptop").await.unwrap();
    store.user_by_token_hash(&a2).await.unwrap();

    let tokens = store.list_tokens(&a).await.unwrap();
    let listed: Vec<_> = tokens
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (&a1[..16], "laptop"),
            (&a2[..16], "phone"),
            (&a3[..16], "ci")
        ],
        "oldest first, ids are the first 16 hex digits of the hash"
    );
    assert!(super::is_token_id(&tokens[0].id));
    assert!(tokens[0].last_used_at.is_none());
    assert!(tokens[1].last_used_at.is_some(), "use is recorded");
    assert!(tokens.iter().all(|t| t.created_at <= now()));

    // bob cannot revoke alice's token by its id: NotFound, and it keeps working.
    assert!(matches!(
        store.revoke_token(&b, &a1[..16]).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.user_by_token_hash(&a1).await.unwrap().id, a);
    // Ids that are not token ids (a whole hash, a prefix, garbage) match nothing.
    for bad in [a1.as_str(), &a1[..8], "", "%", "zzzzzzzzzzzzzzzz"] {
        assert!(
            matches!(store.revoke_token(&a, bad).await, Err(StoreError::NotFound)),
            "{bad:?}"
        );
    }
    // alice revokes her laptop token by id: the hash comes back, it stops resolving and is
    // no longer listed; revoking it again is NotFound.
    assert_eq!(store.revoke_token(&a, &a1[..16]).await.unwrap(), a1);
    assert!(matches!(
        store.user_by_token_hash(&a1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_token(&a, &a1[..16]).await,
        Err(StoreError::NotFound)
    ));
    let left: Vec<_> = store
        .list_tokens(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(left, vec!["phone", "ci"]);

    // Revoking all: her remaining two, not bob's.
    let mut all = store.revoke_all_tokens(&a).await.unwrap();
    all.sort();
    let mut expected = vec![a2.clone(), a3.clone()];
    expected.sort();
    assert_eq!(all, expected);
    assert!(store.list_tokens(&a).await.unwrap().is_empty());
    for hash in [&a2, &a3] {
        assert!(matches!(
            store.user_by_token_hash(hash).await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(store.revoke_all_tokens(&a).await.unwrap().is_empty());
    assert_eq!(store.user_by_token_hash(&b1).await.unwrap().id, b);
    assert_eq!(store.list_tokens(&b).await.unwrap().len(), 1);
    assert!(store.list_tokens("no-such-user").await.unwrap().is_empty());
}

pub async fn auth_epoch_moves_with_every_revocation_and_disabling(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    let (a1, a2, b1) = (
        crate::keys::token_hash("alice-1"),
        crate::keys::token_hash("alice-2"),
        crate::keys::token_hash("bob-1"),
    );
    let mut last = store.auth_epoch().await.unwrap();
    // Each step either must move the epoch or must leave it alone.
    macro_rules! step {
        ($what:literal, $moves:expr, $op:expr) => {{
            $op;
            let epoch = store.auth_epoch().await.unwrap();
            if $moves {
                assert!(epoch > last, "{}: the epoch did not move ({last})", $what);
            } else {
                assert_eq!(epoch, last, "{}: the epoch moved", $what);
            }
            last = epoch;
        }};
    }
    step!("add tokens", false, {
        store.add_token(&a, &a1, "laptop").await.unwrap();
        store.add_token(&a, &a2, "phone").await.unwrap();
        store.add_token(&b, &b1, "laptop").await.unwrap();
    });
    step!(
        "token use",
        false,
        store.user_by_token_hash(&a1).await.unwrap()
    );
    step!(
        "password",
        false,
        store
            .set_password_hash(&a, Some("$argon2id$x"))
            .await
            .unwrap()
    );
    step!(
        "revoke by name",
        true,
        store.revoke_tokens(&a, "laptop").await.unwrap()
    );
    step!(
        "revoke by id",
        true,
        store.revoke_token(&a, &a2[..16]).await.unwrap()
    );
    step!("disable", true, store.set_disabled(&b, true).await.unwrap());
    step!("enable", true, store.set_disabled(&b, false).await.unwrap());
    step!(
        "revoke all",
        true,
        store.revoke_all_tokens(&b).await.unwrap()
    );
    assert!(last > 0);
}

pub async fn login_throttling(store: &dyn Store) {
    let t0 = now();
    let window_start = t0 - Duration::minutes(15);
    assert_eq!(
        store
            .login_failures_since("user:alice", window_start)
            .await
            .unwrap(),
        0
    );
    // Two old failures (outside the window), three recent ones, one for another key.
    for minutes in [40, 20, 10, 5, 0] {
        store
            .record_login_failure("user:alice", t0 - Duration::minutes(minutes))
            .await
            .unwrap();
    }
    store.record_login_failure("user:bob", t0).await.unwrap();
    assert_eq!(
        store
            .login_failures_since("user:alice", window_start)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .login_failures_since("user:alice", t0 - Duration::hours(1))
            .await
            .unwrap(),
        5
    );
    // `since` is inclusive.
    assert_eq!(
        store.login_failures_since("user:alice", t0).await.unwrap(),
        1
    );
    // Clearing forgets one key only.
    store.clear_login_failures("user:alice").await.unwrap();
    assert_eq!(
        store
            .login_failures_since("user:alice", t0 - Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .login_failures_since("user:bob", window_start)
            .await
            .unwrap(),
        1
    );
    store.clear_login_failures("user:nobody").await.unwrap();
    // Forgetting one failure leaves the others, of that key and of the same time.
    let at = t0 - Duration::minutes(1);
    for _ in 0..2 {
        store.record_login_failure("ip:10.0.0.1", at).await.unwrap();
    }
    store.record_login_failure("ip:10.0.0.2", at).await.unwrap();
    store.forget_login_failure("ip:10.0.0.1", at).await.unwrap();
    assert_eq!(
        store
            .login_failures_since("ip:10.0.0.1", window_start)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .login_failures_since("ip:10.0.0.2", window_start)
            .await
            .unwrap(),
        1
    );
    store.forget_login_failure("ip:10.0.0.9", at).await.unwrap();
    // Failures older than the retention are pruned when a new one is recorded.
    store
        .record_login_failure("user:carol", t0 - Duration::days(2))
        .await
        .unwrap();
    store.record_login_failure("user:dave", t0).await.unwrap();
    assert_eq!(
        store
            .login_failures_since("user:carol", t0 - Duration::days(3))
            .await
            .unwrap(),
        0
    );
}

pub async fn insert_dedupes_per_owner(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    let mut first = image(&a, "imgA1", "cat.png", "cat");
    first.tags = vec!["pets".into(), "2024".into()];
    let stored = store.insert_image(&first).await.unwrap();
    assert_eq!(stored, first);
    // Same bytes again for alice (a racing complete): the first row comes back.
    let again = store
        .insert_image(&image(&a, "imgA2", "cat-copy.png", "cat"))
        .await
        .unwrap();
    assert_eq!(again.id, "imgA1");
    assert!(matches!(
        store.image(&a, "imgA2").await,
        Err(StoreError::NotFound)
    ));
    // Same bytes for bob: his own row.
    let bobs = store
        .insert_image(&image(&b, "imgB1", "cat.png", "cat"))
        .await
        .unwrap();
    assert_eq!(bobs.owner_id, b);
    // Isolation.
    assert!(matches!(
        store.image(&b, "imgA1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.image(&a, "imgB1").await,
        Err(StoreError::NotFound)
    ));
    let found = store
        .images_by_sha256(&a, &[first.sha256.clone(), "f".repeat(64)])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["imgA1"]
    );
    let bob_found = store
        .images_by_sha256(&b, std::slice::from_ref(&first.sha256))
        .await
        .unwrap();
    assert_eq!(
        bob_found.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["imgB1"]
    );
    assert!(store.images_by_sha256(&a, &[]).await.unwrap().is_empty());
    // Many hashes at once (beyond one statement's parameter budget).
    let many: Vec<String> = (0..1200)
        .map(|i| format!("{i:064x}"))
        .chain([first.sha256.clone()])
        .collect();
    assert_eq!(store.images_by_sha256(&a, &many).await.unwrap().len(), 1);
}

pub async fn list_paginates_searches_and_isolates(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    let base = now();
    let mut expected = Vec::new();
    // Twelve images, many sharing a timestamp, so the id breaks ties.
    for i in 0..12 {
        let mut img = image(
            &a,
            &format!("img{i:02}"),
            &format!("Photo_{i}.JPG"),
            &format!("a{i}"),
        );
        img.created_at = base + Duration::seconds(i / 4);
        img.updated_at = img.created_at;
        store.insert_image(&img).await.unwrap();
        expected.push(img);
    }
    store
        .insert_image(&image(&b, "bobimg", "Photo_bob.jpg", "b"))
        .await
        .unwrap();
    expected.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store
            .list_images(
                &a,
                &ListQuery {
                    cursor: cursor.clone(),
                    limit: 5,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(page.len() <= 5);
        seen.extend(page.into_iter().map(|i| i.id));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        expected.iter().map(|i| i.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 12);

    // Exactly one full page: no cursor.
    let (page, next) = store
        .list_images(
            &a,
            &ListQuery {
                limit: 12,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((page.len(), next), (12, None));

    // Case-insensitive substring; wildcards are literal.
    let search = |q: &str| ListQuery {
        search: Some(q.into()),
        limit: 100,
        ..Default::default()
    };
    let (hits, _) = store.list_images(&a, &search("photo_1")).await.unwrap();
    let mut names: Vec<_> = hits.iter().map(|i| i.filename.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["Photo_1.JPG", "Photo_10.JPG", "Photo_11.JPG"]);
    assert!(
        store
            .list_images(&a, &search("%"))
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert!(
        store
            .list_images(&a, &search("photo%1"))
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert_eq!(
        store.list_images(&a, &search("_")).await.unwrap().0.len(),
        12
    );
    assert!(
        store
            .list_images(&a, &search("bob"))
            .await
            .unwrap()
            .0
            .is_empty()
    );
    store
        .rename_image(&a, "img00", "ÜBER Straße.png")
        .await
        .unwrap();
    assert_eq!(
        store
            .list_images(&a, &search("über"))
            .await
            .unwrap()
            .0
            .len(),
        1
    );

    // Trash is listed separately.
    store.set_deleted(&a, "img03", Some(now())).await.unwrap();
    let (library, _) = store
        .list_images(
            &a,
            &ListQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(library.len(), 11);
    let (trash, _) = store
        .list_images(
            &a,
            &ListQuery {
                limit: 100,
                trash: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        trash.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["img03"]
    );

    // Bob sees only his own.
    let (bobs, _) = store
        .list_images(
            &b,
            &ListQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        bobs.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["bobimg"]
    );

    let bad = ListQuery {
        cursor: Some("garbage!".into()),
        limit: 5,
        ..Default::default()
    };
    assert!(matches!(
        store.list_images(&a, &bad).await,
        Err(StoreError::BadCursor)
    ));
}

pub async fn updates_are_owner_scoped(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    let original = store
        .insert_image(&image(&a, "img1", "a.png", "x"))
        .await
        .unwrap();

    let renamed = store.rename_image(&a, "img1", "b.png").await.unwrap();
    assert_eq!(renamed.filename, "b.png");
    assert_eq!(renamed.key, original.key, "rename never changes the key");
    assert!(renamed.updated_at >= original.updated_at);

    let tagged = store
        .set_tags(&a, "img1", &["z".into(), "a".into()])
        .await
        .unwrap();
    assert_eq!(tagged.tags, vec!["z", "a"], "tag order is kept");
    assert_eq!(
        store.set_tags(&a, "img1", &[]).await.unwrap().tags,
        Vec::<String>::new()
    );

    let when = now();
    assert_eq!(
        store
            .set_deleted(&a, "img1", Some(when))
            .await
            .unwrap()
            .deleted_at,
        Some(when)
    );
    assert_eq!(
        store
            .set_deleted(&a, "img1", None)
            .await
            .unwrap()
            .deleted_at,
        None
    );

    // Bob can change nothing of alice's.
    assert!(matches!(
        store.rename_image(&b, "img1", "pwned.png").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_tags(&b, "img1", &["pwned".into()]).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_deleted(&b, "img1", Some(now())).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.purge_image(&b, "img1").await,
        Err(StoreError::NotFound)
    ));
    let after = store.image(&a, "img1").await.unwrap();
    assert_eq!(
        (after.filename.as_str(), after.tags.len(), after.deleted_at),
        ("b.png", 0, None)
    );

    assert!(matches!(
        store.rename_image(&a, "missing", "x").await,
        Err(StoreError::NotFound)
    ));
}

pub async fn visibility_placement_and_settings(store: &dyn Store) {
    use imgcloud_core::api::{AccountSettings, Visibility};
    let (a, b) = two_users(store).await;
    // Account defaults: public and 30 days until changed; per account.
    assert_eq!(
        store.account_settings(&a).await.unwrap(),
        AccountSettings::default()
    );
    let private_by_default = AccountSettings {
        default_visibility: Visibility::Private,
        share_expiry_days: 7,
    };
    store
        .set_account_settings(&a, &private_by_default)
        .await
        .unwrap();
    assert_eq!(
        store.account_settings(&a).await.unwrap(),
        private_by_default
    );
    assert_eq!(
        store.account_settings(&b).await.unwrap(),
        AccountSettings::default()
    );
    assert!(matches!(
        store.account_settings("nobody").await,
        Err(StoreError::NotFound)
    ));

    // A private image inserted under p/ is not misplaced; visibility round-trips.
    let mut private = image(&a, "img1", "a.png", "x");
    private.visibility = Visibility::Private;
    private.objects_public = false;
    let stored = store.insert_image(&private).await.unwrap();
    assert_eq!(
        (stored.visibility, stored.objects_public),
        (Visibility::Private, false)
    );
    store
        .insert_image(&image(&a, "img2", "b.png", "y"))
        .await
        .unwrap();
    assert!(store.misplaced_images(10).await.unwrap().is_empty());

    // Making img2 private records a change and leaves it misplaced until its objects move.
    let before = store.changes(&a, 0, 100).await.unwrap().last().unwrap().seq;
    let changed = store
        .set_visibility(&a, "img2", Visibility::Private)
        .await
        .unwrap();
    assert_eq!(changed.visibility, Visibility::Private);
    assert!(changed.misplaced());
    let feed = store.changes(&a, before, 100).await.unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(
        feed[0].image.as_ref().unwrap().visibility,
        Visibility::Private
    );
    let misplaced: Vec<String> = store
        .misplaced_images(10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(misplaced, vec!["img2"]);
    store.set_objects_public(&a, "img2", false).await.unwrap();
    assert!(!store.image(&a, "img2").await.unwrap().objects_public);
    assert!(store.misplaced_images(10).await.unwrap().is_empty());

    // Trashing a public image misplaces it too (its link must stop); restoring undoes it.
    store
        .insert_image(&image(&a, "img3", "c.png", "z"))
        .await
        .unwrap();
    store.set_deleted(&a, "img3", Some(now())).await.unwrap();
    assert_eq!(store.misplaced_images(10).await.unwrap().len(), 1);
    store.set_deleted(&a, "img3", None).await.unwrap();
    assert!(store.misplaced_images(10).await.unwrap().is_empty());

    // Bob can change nothing of alice's.
    assert!(matches!(
        store.set_visibility(&b, "img1", Visibility::Public).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_objects_public(&b, "img1", true).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.image(&a, "img1").await.unwrap().visibility,
        Visibility::Private
    );

    // One mover at a time: a lease per image, taken again by its holder, free once given
    // back or run out.
    let t = now();
    assert!(
        store
            .claim_placement("img1", "a", t, t + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_placement("img1", "a", t, t + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_placement("img1", "b", t, t + Duration::seconds(60))
            .await
            .unwrap()
    );
    store.release_placement("img1", "b").await.unwrap();
    assert!(
        !store
            .claim_placement("img1", "b", t, t + Duration::seconds(60))
            .await
            .unwrap(),
        "only its holder gives it back"
    );
    store.release_placement("img1", "a").await.unwrap();
    assert!(
        store
            .claim_placement("img1", "b", t, t + Duration::seconds(1))
            .await
            .unwrap()
    );
    let later = t + Duration::seconds(2);
    assert!(
        store
            .claim_placement("img1", "c", later, later + Duration::seconds(60))
            .await
            .unwrap(),
        "a lease that ran out is taken over"
    );
    assert!(matches!(
        store.claim_placement("missing", "a", t, t).await,
        Err(StoreError::NotFound)
    ));

    // Upload sessions keep their visibility.
    let mut session = upload(&a, "up-private", None);
    session.visibility = Visibility::Private;
    store.create_upload(&session).await.unwrap();
    let stored = store.upload(&a, "up-private").await.unwrap();
    assert_eq!(stored.visibility, Visibility::Private);
    assert_eq!(stored.object_key(), format!("p/{}", stored.key));
}

fn share(owner: &str, id: &str, image_ids: &[&str]) -> super::sharing::ShareRecord {
    super::sharing::ShareRecord {
        id: id.into(),
        owner_id: owner.into(),
        token_hash: crate::keys::token_hash(id),
        nonce: format!("nonce-{id}"),
        album_id: None,
        image_ids: image_ids.iter().map(|s| s.to_string()).collect(),
        label: format!("for {id}"),
        created_at: now(),
        expires_at: Some(now() + Duration::days(30)),
        password_hash: None,
        max_views: None,
        views: 0,
        visitors: 0,
        last_viewed_at: None,
        allow_download: true,
        with_metadata: false,
        revoked_at: None,
    }
}

pub async fn albums_and_shares(store: &dyn Store) {
    use super::sharing::{AlbumRecord, AlbumUpdate, ShareState, ViewOutcome};
    let (a, b) = two_users(store).await;
    for (id, seed) in [("img1", "1"), ("img2", "2"), ("img3", "3")] {
        store
            .insert_image(&image(&a, id, &format!("{id}.png"), seed))
            .await
            .unwrap();
    }
    store
        .insert_image(&image(&b, "bobimg", "b.png", "b"))
        .await
        .unwrap();
    let sharing = store.sharing();
    let album = |id: &str, owner: &str, name: &str| AlbumRecord {
        id: id.into(),
        owner_id: owner.into(),
        name: name.into(),
        description: String::new(),
        cover_image_id: None,
        created_at: now(),
        updated_at: now(),
        image_count: 0,
    };
    let trip = sharing
        .create_album(&album("alb1", &a, "Trip"))
        .await
        .unwrap();
    assert_eq!((trip.name.as_str(), trip.image_count), ("Trip", 0));
    assert!(matches!(
        sharing.create_album(&album("alb2", &a, "Trip")).await,
        Err(StoreError::Conflict(_))
    ));
    sharing
        .create_album(&album("alb3", &b, "Trip"))
        .await
        .unwrap();

    // Adding: all or nothing, in order, no duplicates.
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches!(
        sharing
            .add_to_album(&a, "alb1", &ids(&["img1", "bobimg"]))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(sharing.album_images(&a, "alb1").await.unwrap().is_empty());
    sharing
        .add_to_album(&a, "alb1", &ids(&["img2", "img1", "img3", "img2"]))
        .await
        .unwrap();
    let order = |images: Vec<ImageRecord>| images.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        order(sharing.album_images(&a, "alb1").await.unwrap()),
        ["img2", "img1", "img3"]
    );
    sharing
        .reorder_album(&a, "alb1", &ids(&["img3", "img2"]))
        .await
        .unwrap();
    assert_eq!(
        order(sharing.album_images(&a, "alb1").await.unwrap()),
        ["img3", "img2", "img1"]
    );
    assert!(matches!(
        sharing.reorder_album(&a, "alb1", &ids(&["bobimg"])).await,
        Err(StoreError::NotFound)
    ));
    let renamed = sharing
        .update_album(
            &a,
            "alb1",
            &AlbumUpdate {
                name: Some("Trip 2026".into()),
                description: Some("the coast".into()),
                cover_image_id: Some(Some("img1".into())),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.description.as_str(),
            renamed.cover_image_id.as_deref(),
            renamed.image_count
        ),
        ("Trip 2026", "the coast", Some("img1"), 3)
    );
    assert!(matches!(
        sharing
            .update_album(
                &a,
                "alb1",
                &AlbumUpdate {
                    cover_image_id: Some(Some("bobimg".into())),
                    ..AlbumUpdate::default()
                }
            )
            .await,
        Err(StoreError::NotFound)
    ));
    // Trash hides an image from the album; removing the cover clears it.
    store.set_deleted(&a, "img3", Some(now())).await.unwrap();
    assert_eq!(sharing.album(&a, "alb1").await.unwrap().image_count, 2);
    sharing
        .remove_from_album(&a, "alb1", &ids(&["img1"]))
        .await
        .unwrap();
    let after = sharing.album(&a, "alb1").await.unwrap();
    assert_eq!((after.image_count, after.cover_image_id), (1, None));
    store.set_deleted(&a, "img3", None).await.unwrap();
    // Bob reaches none of it.
    assert!(matches!(
        sharing.album(&b, "alb1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sharing.album_images(&b, "alb1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sharing.add_to_album(&b, "alb1", &ids(&["bobimg"])).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sharing.delete_album(&b, "alb1").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        sharing.albums(&b).await.unwrap().len(),
        1,
        "bob sees his own album only"
    );

    // Links: to images (ordered), or to an album (its current images).
    assert!(matches!(
        sharing
            .create_share(&share(&a, "sh0", &["img1", "bobimg"]))
            .await,
        Err(StoreError::NotFound)
    ));
    let link = sharing
        .create_share(&share(&a, "sh1", &["img2", "img1"]))
        .await
        .unwrap();
    assert_eq!(link.image_ids, ["img2", "img1"]);
    assert_eq!(
        sharing.share_by_token_hash(&link.token_hash).await.unwrap(),
        link
    );
    assert_eq!(
        order(sharing.share_images(&link).await.unwrap()),
        ["img2", "img1"]
    );
    let mut to_album = share(&a, "sh2", &[]);
    to_album.album_id = Some("alb1".into());
    let to_album = sharing.create_share(&to_album).await.unwrap();
    assert_eq!(
        order(sharing.share_images(&to_album).await.unwrap()),
        ["img3", "img2"]
    );
    let mut foreign_album = share(&a, "sh3", &[]);
    foreign_album.album_id = Some("alb3".into());
    assert!(matches!(
        sharing.create_share(&foreign_album).await,
        Err(StoreError::NotFound)
    ));
    let listed: Vec<String> = sharing
        .shares(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(sharing.shares(&b).await.unwrap().is_empty());
    assert!(matches!(
        sharing.share(&b, "sh1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sharing.revoke_share(&b, "sh1", now()).await,
        Err(StoreError::NotFound)
    ));

    // Views: counted while active, one visitor counted once; exactly max_views under
    // concurrency; expired and revoked links say so.
    let mut limited = share(&a, "sh4", &["img1"]);
    limited.max_views = Some(10);
    sharing.create_share(&limited).await.unwrap();
    let views = (0..50).map(|i| {
        let visitor = format!("v{}", i % 4);
        async move {
            sharing
                .record_share_view("sh4", now(), &visitor)
                .await
                .unwrap()
        }
    });
    let outcomes = futures::future::join_all(views).await;
    let counted = outcomes
        .iter()
        .filter(|o| matches!(o, ViewOutcome::Counted { .. }))
        .count();
    assert_eq!(counted, 10, "exactly max_views views are counted");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        ViewOutcome::Counted { .. } | ViewOutcome::Ended(ShareState::Exhausted)
    )));
    let limited = sharing.share(&a, "sh4").await.unwrap();
    assert_eq!((limited.views, limited.visitors), (10, 4));
    assert_eq!(limited.state(now()), ShareState::Exhausted);
    assert!(limited.last_viewed_at.is_some());

    let mut expired = share(&a, "sh5", &["img1"]);
    expired.expires_at = Some(now() - Duration::seconds(1));
    sharing.create_share(&expired).await.unwrap();
    assert_eq!(
        sharing.record_share_view("sh5", now(), "v").await.unwrap(),
        ViewOutcome::Ended(ShareState::Expired)
    );
    let revoked = sharing.revoke_share(&a, "sh1", now()).await.unwrap();
    let first = revoked.revoked_at.unwrap();
    assert_eq!(revoked.state(now()), ShareState::Revoked);
    assert_eq!(
        sharing
            .revoke_share(&a, "sh1", now())
            .await
            .unwrap()
            .revoked_at,
        Some(first),
        "revoking again keeps the first time"
    );
    assert_eq!(
        sharing.record_share_view("sh1", now(), "v").await.unwrap(),
        ViewOutcome::Ended(ShareState::Revoked)
    );
    let mut forever = share(&a, "sh6", &["img2"]);
    forever.expires_at = None;
    sharing.create_share(&forever).await.unwrap();
    assert_eq!(
        sharing.record_share_view("sh6", now(), "v").await.unwrap(),
        ViewOutcome::Counted { first_visit: true }
    );
    assert_eq!(
        sharing.record_share_view("sh6", now(), "v").await.unwrap(),
        ViewOutcome::Counted { first_visit: false }
    );

    // The feed tells of albums and links (one entry each, the latest), never to another user.
    use super::ChangeEntity;
    let feed = store.changes(&a, 0, 1000).await.unwrap();
    let entries = |entity: ChangeEntity, id: &str| {
        feed.iter()
            .filter(|c| c.entity == entity && c.image_id == id)
            .map(|c| c.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(entries(ChangeEntity::Album, "alb1").len(), 1);
    for link in ["sh1", "sh2", "sh4", "sh5", "sh6"] {
        assert_eq!(entries(ChangeEntity::Share, link).len(), 1, "{link}");
    }
    assert!(
        entries(ChangeEntity::Share, "sh1")[0] > entries(ChangeEntity::Album, "alb1")[0],
        "the revocation came last"
    );
    assert!(
        feed.iter()
            .all(|c| c.entity == ChangeEntity::Image || c.image.is_none())
    );
    assert!(
        store
            .changes(&b, 0, 1000)
            .await
            .unwrap()
            .iter()
            .all(|c| c.image_id != "alb1" && !c.image_id.starts_with("sh"))
    );

    // Deleting an album keeps its images and ends its links; purging an image drops it from
    // links and albums.
    let before = feed.last().unwrap().seq;
    sharing.delete_album(&a, "alb1").await.unwrap();
    let after = store.changes(&a, before, 100).await.unwrap();
    let mut told: Vec<(ChangeEntity, &str)> = after
        .iter()
        .map(|c| (c.entity, c.image_id.as_str()))
        .collect();
    told.sort_by_key(|(_, id)| id.to_string());
    assert_eq!(
        told,
        [(ChangeEntity::Album, "alb1"), (ChangeEntity::Share, "sh2")],
        "the album and its link are gone"
    );
    assert!(matches!(
        sharing.share(&a, "sh2").await,
        Err(StoreError::NotFound)
    ));
    assert!(store.image(&a, "img2").await.is_ok());
    store.purge_image(&a, "img2").await.unwrap();
    assert!(
        sharing
            .share_images(&sharing.share(&a, "sh6").await.unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn change_feed(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    store
        .insert_image(&image(&a, "img1", "1.png", "1"))
        .await
        .unwrap();
    store
        .insert_image(&image(&a, "img2", "2.png", "2"))
        .await
        .unwrap();
    store
        .insert_image(&image(&b, "bob1", "b.png", "b"))
        .await
        .unwrap();
    let feed = store.changes(&a, 0, 100).await.unwrap();
    assert_eq!(
        feed.iter().map(|c| c.image_id.as_str()).collect::<Vec<_>>(),
        vec!["img1", "img2"]
    );
    assert!(feed[0].seq < feed[1].seq);
    let since = feed[1].seq;

    store.rename_image(&a, "img1", "one.png").await.unwrap();
    store.set_tags(&a, "img1", &["t".into()]).await.unwrap();
    let newer = store.changes(&a, since, 100).await.unwrap();
    assert_eq!(newer.len(), 1, "one entry per image, with its latest state");
    assert_eq!(newer[0].image.as_ref().unwrap().filename, "one.png");
    assert_eq!(newer[0].image.as_ref().unwrap().tags, vec!["t"]);
    assert!(newer[0].seq > since);

    let purged = store.purge_image(&a, "img2").await.unwrap();
    assert_eq!(purged.id, "img2");
    assert!(matches!(
        store.image(&a, "img2").await,
        Err(StoreError::NotFound)
    ));
    let all = store.changes(&a, 0, 100).await.unwrap();
    let last = all.last().unwrap();
    assert_eq!(
        (last.image_id.as_str(), last.image.is_none()),
        ("img2", true)
    );
    assert_eq!(store.changes(&a, 0, 1).await.unwrap().len(), 1);
    assert!(store.changes(&a, last.seq, 100).await.unwrap().is_empty());

    // Bob's feed only holds bob's image.
    let bobs = store.changes(&b, 0, 100).await.unwrap();
    assert_eq!(
        bobs.iter().map(|c| c.image_id.as_str()).collect::<Vec<_>>(),
        vec!["bob1"]
    );
}

pub async fn upload_sessions(store: &dyn Store) {
    let (a, b) = two_users(store).await;
    let first = store
        .create_upload(&upload(&a, "up1", Some("key-1")))
        .await
        .unwrap();
    assert_eq!(first.id, "up1");
    assert_eq!(store.upload(&a, "up1").await.unwrap(), first);
    // Same idempotency key → the same session.
    let retry = store
        .create_upload(&upload(&a, "up2", Some("key-1")))
        .await
        .unwrap();
    assert_eq!(retry, first);
    assert!(matches!(
        store.upload(&a, "up2").await,
        Err(StoreError::NotFound)
    ));
    // Same key for another user, and sessions without a key, are independent.
    assert_eq!(
        store
            .create_upload(&upload(&b, "up3", Some("key-1")))
            .await
            .unwrap()
            .id,
        "up3"
    );
    assert_eq!(
        store
            .create_upload(&upload(&a, "up4", None))
            .await
            .unwrap()
            .id,
        "up4"
    );
    assert_eq!(
        store
            .create_upload(&upload(&a, "up5", None))
            .await
            .unwrap()
            .id,
        "up5"
    );

    assert!(matches!(
        store.upload(&b, "up1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_upload(&b, "up1").await,
        Err(StoreError::NotFound)
    ));
    store.upload(&a, "up1").await.unwrap();

    let mut old = upload(&a, "old", None);
    old.created_at = now() - Duration::hours(30);
    store.create_upload(&old).await.unwrap();
    let stale = store
        .stale_uploads(now() - Duration::hours(24), 10)
        .await
        .unwrap();
    assert_eq!(
        stale.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        vec!["old"]
    );
    assert_eq!(to_micros(stale[0].created_at), to_micros(old.created_at));

    store.delete_upload(&a, "up1").await.unwrap();
    assert!(matches!(
        store.upload(&a, "up1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_upload(&a, "up1").await,
        Err(StoreError::NotFound)
    ));
    // After deletion the idempotency key is free again.
    assert_eq!(
        store
            .create_upload(&upload(&a, "up6", Some("key-1")))
            .await
            .unwrap()
            .id,
        "up6"
    );
}

/// Generates one `#[tokio::test]` per conformance check; `$open` is an async expression giving
/// `(guard, Arc<dyn Store>)` on a fresh database. Attributes after it (such as
/// `#[ignore = "…"]` for a backend that needs a server) go on every test.
/// Derivative claims (one maker, lease take-over, made is final) and the job queue (one job per
/// image, in the image's transaction; claim, lease, retry, finish; stats).
pub async fn derivative_claims_and_jobs(store: &dyn Store) {
    use super::{Claim, DerivativeUpdate};
    use imgcloud_core::api::DerivativeState;
    let ann = store.create_user("ann-derivatives").await.unwrap();
    let img = store
        .insert_image(&image(&ann.id, "d1", "a.png", "derive-1"))
        .await
        .unwrap();
    let t0 = now();
    let lease = time::Duration::seconds(30);

    // Claims: the first holder wins, others are busy until the lease runs out.
    assert_eq!(
        store
            .claim_derivative("d1", "thumb", "r1", t0, t0 + lease)
            .await
            .unwrap(),
        Claim::Ours
    );
    assert_eq!(
        store
            .claim_derivative("d1", "thumb", "r2", t0, t0 + lease)
            .await
            .unwrap(),
        Claim::Busy
    );
    let later = t0 + time::Duration::seconds(31);
    assert_eq!(
        store
            .claim_derivative("d1", "thumb", "r2", later, later + lease)
            .await
            .unwrap(),
        Claim::Ours,
        "an expired claim is taken over"
    );
    // r1's late finish does nothing (no longer the holder); r2's records it as made.
    store
        .finish_derivative("d1", "thumb", "r1", true)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_derivative("d1", "thumb", "r3", later, later + lease)
            .await
            .unwrap(),
        Claim::Busy
    );
    store
        .finish_derivative("d1", "thumb", "r2", true)
        .await
        .unwrap();
    let much_later = t0 + time::Duration::hours(1);
    assert_eq!(
        store
            .claim_derivative("d1", "thumb", "r3", much_later, much_later + lease)
            .await
            .unwrap(),
        Claim::Made,
        "made is final, whatever the clock"
    );
    // A failed attempt drops the claim; forget_derivative drops a made one.
    assert_eq!(
        store
            .claim_derivative("d1", "preview", "r1", t0, t0 + lease)
            .await
            .unwrap(),
        Claim::Ours
    );
    store
        .finish_derivative("d1", "preview", "r1", false)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_derivative("d1", "preview", "r2", t0, t0 + lease)
            .await
            .unwrap(),
        Claim::Ours
    );
    store.forget_derivative("d1", "thumb").await.unwrap();
    assert_eq!(
        store
            .claim_derivative("d1", "thumb", "r4", t0, t0 + lease)
            .await
            .unwrap(),
        Claim::Ours
    );
    // A derivative of no image cannot be claimed.
    assert!(matches!(
        store
            .claim_derivative("nope", "thumb", "r1", t0, t0 + lease)
            .await,
        Err(StoreError::NotFound)
    ));

    // Jobs: inserting the image queued one.
    let stats = store.job_stats(now()).await.unwrap();
    assert_eq!((stats.depth, stats.failing), (1, 0));
    let future = now() + time::Duration::seconds(5);
    let job = store
        .claim_job(future, future + lease)
        .await
        .unwrap()
        .expect("a due job");
    assert_eq!((job.image_id.as_str(), job.attempts), ("d1", 1));
    assert!(
        store
            .claim_job(future, future + lease)
            .await
            .unwrap()
            .is_none(),
        "a leased job is not handed out twice"
    );
    store
        .retry_job("d1", future + time::Duration::seconds(60), "store down")
        .await
        .unwrap();
    assert_eq!(store.job_stats(now()).await.unwrap().failing, 1);
    assert!(
        store
            .claim_job(future, future + lease)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    let due = future + time::Duration::seconds(61);
    let again = store.claim_job(due, due + lease).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    store.finish_job("d1").await.unwrap();
    assert_eq!(store.job_stats(now()).await.unwrap().depth, 0);

    // The image's state and ThumbHash, recorded with a change.
    let before = store.changes(&ann.id, 0, 100).await.unwrap();
    let updated = store
        .set_derivatives(
            "d1",
            &DerivativeUpdate {
                state: DerivativeState::Ready,
                thumbhash: Some(vec![1, 2, 3]),
                error: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.derivatives, DerivativeState::Ready);
    assert_eq!(updated.thumbhash.as_deref(), Some(&[1u8, 2, 3][..]));
    assert_eq!(updated.updated_at, img.updated_at);
    let kept = store
        .set_derivatives(
            "d1",
            &DerivativeUpdate {
                state: DerivativeState::Failed,
                thumbhash: None,
                error: Some("boom".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        kept.thumbhash.as_deref(),
        Some(&[1u8, 2, 3][..]),
        "None keeps the hash"
    );
    assert_eq!(kept.derivatives_error.as_deref(), Some("boom"));
    let after = store.changes(&ann.id, 0, 100).await.unwrap();
    assert!(after.last().unwrap().seq > before.last().unwrap().seq);
    assert_eq!(store.image_by_id("d1").await.unwrap(), kept);
    assert!(matches!(
        store.image_by_id("nope").await,
        Err(StoreError::NotFound)
    ));
    // Purging drops the claims and the job with the image.
    store.purge_image(&ann.id, "d1").await.unwrap();
    assert!(matches!(
        store
            .claim_derivative("d1", "thumb", "r9", much_later, much_later + lease)
            .await,
        Err(StoreError::NotFound)
    ));
}

macro_rules! store_conformance_tests {
    ($open:expr $(, #[$attr:meta])* $(,)?) => {
        #[tokio::test]
        $(#[$attr])*
        async fn users_and_tokens() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::users_and_tokens(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn passwords_and_disabling() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::passwords_and_disabling(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn token_listing_and_revocation() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::token_listing_and_revocation(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn auth_epoch_moves_with_every_revocation_and_disabling() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::auth_epoch_moves_with_every_revocation_and_disabling(
                &*store,
            )
            .await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn login_throttling() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::login_throttling(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn insert_dedupes_per_owner() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::insert_dedupes_per_owner(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn list_paginates_searches_and_isolates() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::list_paginates_searches_and_isolates(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn updates_are_owner_scoped() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::updates_are_owner_scoped(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn visibility_placement_and_settings() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::visibility_placement_and_settings(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn albums_and_shares() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::albums_and_shares(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn change_feed() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::change_feed(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn upload_sessions() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::upload_sessions(&*store).await;
        }
        #[tokio::test]
        $(#[$attr])*
        async fn derivative_claims_and_jobs() {
            let (_guard, store) = $open.await;
            $crate::store::conformance::derivative_claims_and_jobs(&*store).await;
        }
    };
}
pub(crate) use store_conformance_tests;
