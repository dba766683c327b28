//! Visibility through the `imgcloud` binary and the embedded cloud: a private upload has no
//! public link (the owner's signed links work, and expire), making an image private or
//! trashing it stops its public link, making it public or restoring it brings the same link
//! back with the same bytes.

use imgcloud_tests::{EmbeddedCloud, fetch, jpeg, sha256_hex};
use serde_json::Value;

/// The status line of a raw `GET target` to `host` (no normalisation of the path).
fn raw_get(host: &str, target: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn image_of(upload: &Value) -> Value {
    upload["files"][0]["image"].clone()
}

fn field(image: &Value, name: &str) -> String {
    image[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {image}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn private_images_have_no_public_link_and_visibility_moves_the_link() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let public_bytes = jpeg(900, 600, 1);
    let private_bytes = jpeg(600, 900, 2);
    let public_path = cloud.write_file("open.jpg", &public_bytes);
    let private_path = cloud.write_file("secret.jpg", &private_bytes);

    // A public upload: a permanent link that serves the bytes anonymously.
    let out = cloud.run_cli(&["upload", "--json", public_path.to_str().unwrap()]);
    let public = image_of(&out.assert_success().json());
    assert_eq!(field(&public, "visibility"), "public");
    let link = field(&public, "url");
    let thumb = field(&public, "thumb_url");
    assert_eq!(
        sha256_hex(&fetch(&link).await.unwrap().body),
        sha256_hex(&public_bytes)
    );
    assert_eq!(fetch(&thumb).await.unwrap().status, 200);

    // A private upload: where its public link would be, nothing serves (no derivative is
    // made either); the owner's signed links serve the original and a thumbnail.
    let out = cloud.run_cli(&[
        "upload",
        "--private",
        "--json",
        private_path.to_str().unwrap(),
    ]);
    let private = image_of(&out.assert_success().json());
    assert_eq!(field(&private, "visibility"), "private");
    let public_id = field(&public, "id");
    let private_id = field(&private, "id");
    let would_be = link
        .replace(&public_id, &private_id)
        .replace("open.jpg", "secret.jpg");
    let would_be_thumb = thumb.replace(&public_id, &private_id);
    for url in [&would_be, &would_be_thumb] {
        let answer = fetch(url).await.unwrap();
        assert!(
            matches!(answer.status, 403 | 404),
            "{url} served a private image: {}",
            answer.status
        );
    }
    // Nor through a dot-segment that a store resolving paths on disk would follow (sent raw:
    // HTTP clients normalise it away).
    let sneaky = {
        let (origin, rest) = would_be.split_at(would_be.find("/i/").unwrap());
        let host = origin
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let bucket_path = &origin[origin.find(&host).unwrap() + host.len()..];
        let target = format!("{bucket_path}/i/%2E%2E/p{rest}");
        raw_get(&host, &target)
    };
    assert!(
        sneaky.starts_with("HTTP/1.1 403") || sneaky.starts_with("HTTP/1.1 404"),
        "a dot-segment reached a private object: {sneaky}"
    );
    let signed = field(&private, "url");
    assert!(
        signed.contains("/v/") && signed.contains("sig="),
        "{signed}"
    );
    assert_eq!(
        sha256_hex(&fetch(&signed).await.unwrap().body),
        sha256_hex(&private_bytes)
    );
    let signed_thumb = fetch(&field(&private, "thumb_url")).await.unwrap();
    assert_eq!(signed_thumb.status, 200);
    assert_eq!(signed_thumb.header("content-type"), Some("image/jpeg"));
    assert!(
        signed_thumb
            .header("cache-control")
            .is_some_and(|c| c.starts_with("private")),
        "{:?}",
        signed_thumb.header("cache-control")
    );
    // A signature for another image, or a changed expiry, opens nothing.
    let forged = field(&private, "thumb_url").replace(&private_id, &public_id);
    assert_eq!(fetch(&forged).await.unwrap().status, 403);
    let signed_thumb_url = field(&private, "thumb_url");
    let (before, after) = signed_thumb_url.split_once("exp=").unwrap();
    let (exp, rest) = after.split_once('&').unwrap();
    let later = exp.parse::<i64>().unwrap() + 3600;
    let extended = format!("{before}exp={later}&{rest}");
    assert_eq!(fetch(&extended).await.unwrap().status, 403);

    // Making the public image private stops its link and its thumbnail's at once (no CDN in
    // the embedded cloud); making it public again brings back the same link, same bytes.
    let out = cloud.run_cli(&["visibility", &public_id, "private", "--json"]);
    let changed = out.assert_success().json();
    assert_eq!(field(&changed[0], "visibility"), "private");
    assert_ne!(
        field(&changed[0], "url"),
        link,
        "a private image gets signed links"
    );
    for url in [&link, &thumb] {
        assert!(
            matches!(fetch(url).await.unwrap().status, 403 | 404),
            "{url} still serves"
        );
    }
    let listed = cloud.run_cli(&["ls"]);
    assert!(
        listed.assert_success().stdout.contains("private"),
        "{}",
        listed.stdout
    );
    cloud
        .run_cli(&["visibility", &public_id, "public"])
        .assert_success();
    assert_eq!(
        sha256_hex(&fetch(&link).await.unwrap().body),
        sha256_hex(&public_bytes)
    );
    assert_eq!(fetch(&thumb).await.unwrap().status, 200);

    // Trash stops the link; restore brings it back.
    cloud.run_cli(&["rm", &public_id]).assert_success();
    assert!(matches!(fetch(&link).await.unwrap().status, 403 | 404));
    cloud.run_cli(&["restore", &public_id]).assert_success();
    assert_eq!(fetch(&link).await.unwrap().status, 200);

    // Racing opposite changes (two devices, a double click) never lose the original: one mover
    // at a time, and where the files end up matches the last change.
    let client = cloud.client().unwrap();
    let flips = (0..12).map(|i| {
        let client = client.clone();
        let id = public_id.clone();
        tokio::spawn(async move {
            let visibility = if i % 2 == 0 {
                imgcloud_core::api::Visibility::Private
            } else {
                imgcloud_core::api::Visibility::Public
            };
            let patch = imgcloud_core::api::ImagePatch {
                visibility: Some(visibility),
                ..Default::default()
            };
            client.patch_image(&id, &patch).await.map(|_| ())
        })
    });
    for flip in futures::future::join_all(flips).await {
        flip.unwrap().unwrap();
    }
    let now = client.image(&public_id).await.unwrap();
    assert_eq!(
        sha256_hex(&fetch(&now.url).await.unwrap().body),
        sha256_hex(&public_bytes),
        "the original survived, where its link says"
    );
    let public_now = now.visibility == imgcloud_core::api::Visibility::Public;
    assert_eq!(
        fetch(&link).await.unwrap().status == 200,
        public_now,
        "the public link serves exactly when the image is public"
    );
    cloud
        .run_cli(&["visibility", &public_id, "public"])
        .assert_success();
    assert_eq!(fetch(&link).await.unwrap().status, 200);

    // A typo in the visibility names the argument and changes nothing.
    let out = cloud.run_cli(&["visibility", &public_id, "hidden"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("`public` or `private`") && out.stderr.contains("hidden"),
        "{}",
        out.stderr
    );
    assert_eq!(fetch(&link).await.unwrap().status, 200);
}
