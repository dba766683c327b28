//! Share links on the production stack (nginx load balancer and CDN, two replicas,
//! PostgreSQL, memcached): a link opens through the balancer in a real HTTP client with its
//! OpenGraph image, carries no GPS, hides the original when downloads are off, holds its view
//! limit exactly when 50 first views race across both replicas, and answers 410 within 5 s of
//! being revoked.

use std::time::{Duration, Instant};

use imgcloud_core::api::CreateShare;
use imgcloud_core::upload::{UploadOptions, upload_paths};
use imgcloud_tests::images::{has_gps, insert_exif_gps};
use imgcloud_tests::{Stack, jpeg};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

async fn get(url: &str) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(url)
        .header(reqwest::header::USER_AGENT, BROWSER)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.bytes().await.unwrap().to_vec(),
    )
}

/// The value of attribute `name` in the tag holding `marker`.
fn attribute_after(html: &str, marker: &str, name: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>')?];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')?;
    Some(tag[start..start + end].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn share_links_hold_their_view_limit_across_replicas_and_end_at_once() {
    let stack = Stack::up().expect("stack up");
    let client = stack.client().unwrap();
    let path = stack.write_file("share/gps.jpg", &insert_exif_gps(&jpeg(1400, 900, 5), 1));
    let image = upload_paths(&client, &[path], &UploadOptions::default(), |_| {})
        .await
        .remove(0)
        .result
        .expect("upload")
        .image;

    let limited = client
        .create_share(&CreateShare {
            image_ids: vec![image.id.clone()],
            max_views: Some(10),
            ..CreateShare::default()
        })
        .await
        .unwrap();
    assert!(
        limited.url.starts_with(&stack.server),
        "links go through the balancer: {}",
        limited.url
    );
    let views = (0..50).map(|_| {
        let url = limited.url.clone();
        tokio::spawn(async move { get(&url).await.0 })
    });
    let statuses: Vec<u16> = futures::future::join_all(views)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let gone = statuses.iter().filter(|s| **s == 410).count();
    assert_eq!((ok, gone), (10, 40), "{statuses:?}");
    let listed = client.shares().await.unwrap();
    assert_eq!(listed.shares[0].views, 10);

    // An open link: its page, its preview (no GPS), then revoked.
    let open = client
        .create_share(&CreateShare {
            image_ids: vec![image.id.clone()],
            ..CreateShare::default()
        })
        .await
        .unwrap();
    let (status, page) = get(&open.url).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    // The OpenGraph image is the preview, served through the balancer, without GPS; the
    // oEmbed link it advertises answers a photo of it.
    let og_image = attribute_after(&page, "property=\"og:image\"", "content").expect("og:image");
    assert_eq!(og_image, format!("{}/{}/1280.jpg", open.url, image.id));
    let (status, preview) = get(&og_image).await;
    assert_eq!(status, 200);
    assert!(!has_gps(&preview));
    assert!(page.contains("twitter:card\" content=\"summary_large_image"));
    let oembed = attribute_after(&page, "application/json+oembed", "href")
        .expect("oEmbed discovery")
        .replace("&amp;", "&");
    let (status, body) = get(&oembed).await;
    assert_eq!(status, 200);
    let oembed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (oembed["type"].as_str(), oembed["url"].as_str()),
        (Some("photo"), Some(og_image.as_str()))
    );
    let (status, original) = get(&format!("{}/{}/original", open.url, image.id)).await;
    assert_eq!(status, 200);
    assert!(!has_gps(&original), "the original lost its GPS");

    // --no-download: the page offers no original, and asking for it is refused.
    let pictures_only = client
        .create_share(&CreateShare {
            image_ids: vec![image.id.clone()],
            allow_download: Some(false),
            ..CreateShare::default()
        })
        .await
        .unwrap();
    let (status, page) = get(&pictures_only.url).await;
    assert_eq!(status, 200);
    assert!(!String::from_utf8(page).unwrap().contains("/original"));
    let (status, _) = get(&format!("{}/{}/original", pictures_only.url, image.id)).await;
    assert_eq!(status, 403, "no original through a pictures-only link");

    let revoked_at = Instant::now();
    client.revoke_share(&open.id).await.unwrap();
    loop {
        let (status, _) = get(&open.url).await;
        if status == 410 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "still {status} 5 s after revoking"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("revoked: 410 after {:?}", revoked_at.elapsed());
}
