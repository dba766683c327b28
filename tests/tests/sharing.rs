//! Share links through the `imgcloud` binary and the embedded cloud, opened by a real HTTP
//! client: the page and its OpenGraph/oEmbed tags, metadata-free image bytes, `--no-download`,
//! max views (bots and the owner not counted), passwords (throttled), revocation (410), albums,
//! `imgcloud shares` with its counts, and clear errors for bad input.

use std::time::Duration;

use imgcloud_tests::images::{has_gps, insert_exif_gps};
use imgcloud_tests::{EmbeddedCloud, jpeg};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use serde_json::Value;

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn get(url: &str, user_agent: &str, cookie: Option<&str>) -> Answer {
    let mut request = http().get(url).header(USER_AGENT, user_agent);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

/// The `content` of `<meta property|name="{name}" content="…">` in `html`.
fn meta(html: &str, name: &str) -> Option<String> {
    let at = html
        .find(&format!("property=\"{name}\""))
        .or_else(|| html.find(&format!("name=\"{name}\"")))?;
    let rest = &html[at..];
    let start = rest.find("content=\"")? + "content=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}

fn oembed_href(html: &str) -> Option<String> {
    let at = html.find("application/json+oembed")?;
    let rest = &html[at..];
    let start = rest.find("href=\"")? + "href=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}

fn upload(cloud: &EmbeddedCloud, name: &str, bytes: &[u8], extra: &[&str]) -> Value {
    let path = cloud.write_file(name, bytes);
    let mut args = vec!["upload", "--json"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let out = cloud.run_cli(&args);
    out.assert_success().json()["files"][0]["image"].clone()
}

fn share(cloud: &EmbeddedCloud, args: &[&str]) -> Value {
    let mut all = vec!["share", "--json"];
    all.extend_from_slice(args);
    cloud.run_cli(&all).assert_success().json()
}

fn url_of(share: &Value) -> String {
    share["url"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn share_links_open_unfurl_count_lock_and_end() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    // Two phone photos with GPS; one kept private.
    let photo = insert_exif_gps(&jpeg(1600, 1200, 7), 6);
    let other = insert_exif_gps(&jpeg(800, 600, 8), 1);
    assert!(has_gps(&photo));
    let public = upload(&cloud, "beach.jpg", &photo, &[]);
    let private = upload(&cloud, "home.jpg", &other, &["--private"]);
    let id = public["id"].as_str().unwrap().to_string();
    let private_id = private["id"].as_str().unwrap().to_string();

    // --- one image: the page, its tags, its bytes --------------------------------------------
    let link = share(&cloud, &[&id, "--label", "for Alice"]);
    let url = url_of(&link);
    let token = url.rsplit_once("/s/").unwrap().1.to_string();
    assert!(token.len() >= 22, "a token of at least 128 bits: {token}");
    assert_eq!(link["state"], "active");
    let expires = time::OffsetDateTime::parse(
        link["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_days();
    assert!(
        (29..=30).contains(&days),
        "default expiry 30 days, got {days}"
    );

    let page = get(&url, BROWSER, None).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.headers["cache-control"].to_str().unwrap(),
        "no-store, private",
        "pages are never cached publicly"
    );
    let html = page.text();
    assert_eq!(meta(&html, "og:title").as_deref(), Some("beach.jpg"));
    assert_eq!(
        meta(&html, "twitter:card").as_deref(),
        Some("summary_large_image")
    );
    let og_image = meta(&html, "og:image").expect("og:image");
    assert!(og_image.starts_with(&url), "{og_image}");
    let preview = get(&og_image, SLACK, None).await;
    assert_eq!(preview.status, 200);
    let decoded = image::load_from_memory(&preview.body).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (960, 1280),
        "upright (orientation 6) and at most 1280 px"
    );
    assert!(!has_gps(&preview.body), "the preview carries no GPS");
    let oembed = oembed_href(&html).expect("oEmbed discovery link");
    let oembed: Value = serde_json::from_slice(&get(&oembed, SLACK, None).await.body).unwrap();
    assert_eq!(
        (oembed["type"].as_str(), oembed["url"].as_str()),
        (Some("photo"), Some(og_image.as_str()))
    );
    // The original is offered, without its GPS, still upright.
    assert!(html.contains(&format!("{url}/{id}/original")));
    let original = get(&format!("{url}/{id}/original"), BROWSER, None).await;
    assert_eq!(original.status, 200);
    assert!(!has_gps(&original.body), "the original lost its GPS");
    let probe = imgcloud_core::probe::probe_bytes(&original.body).unwrap();
    assert_eq!(probe.orientation, 6);
    // An image outside the link is not reachable through it.
    let outside = get(&format!("{url}/{private_id}/1280.jpg"), BROWSER, None).await;
    assert_eq!(outside.status, 404);

    // --- a private image, shared: the page works, its public link does not -------------------
    let private_link = url_of(&share(&cloud, &[&private_id, "--with-metadata"]));
    let private_page = get(&private_link, BROWSER, None).await;
    assert_eq!(private_page.status, 200);
    let private_preview = meta(&private_page.text(), "og:image").unwrap();
    assert_eq!(get(&private_preview, BROWSER, None).await.status, 200);
    // --with-metadata: the original keeps its EXIF (a redirect to the store).
    let kept = get(
        &format!("{private_link}/{private_id}/original"),
        BROWSER,
        None,
    )
    .await;
    assert_eq!(kept.status, 302);
    let kept = reqwest::get(kept.headers[LOCATION].to_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(has_gps(&kept), "--with-metadata keeps the GPS");

    // --- --no-download -------------------------------------------------------------------------
    let no_download = url_of(&share(&cloud, &[&id, "--no-download"]));
    let html = get(&no_download, BROWSER, None).await.text();
    assert!(!html.contains("/original"), "no download offered");
    let refused = get(&format!("{no_download}/{id}/original"), BROWSER, None).await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("download_disabled"));

    // --- max views: bots and the owner are not counted; the third browser view is refused ----
    let limited = share(&cloud, &[&id, "--max-views", "2", "--label", "twice"]);
    let limited_url = url_of(&limited);
    for _ in 0..3 {
        assert_eq!(get(&limited_url, SLACK, None).await.status, 200);
    }
    let owner = http()
        .get(&limited_url)
        .header(USER_AGENT, BROWSER)
        .bearer_auth(cloud.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 200);
    let first = get(&limited_url, BROWSER, None).await;
    assert_eq!(first.status, 200);
    let viewed = first.headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(get(&limited_url, "curl/8.5.0", None).await.status, 200);
    let third = get(&limited_url, BROWSER, None).await;
    assert_eq!(third.status, 410);
    assert!(third.text().contains("view limit"), "{}", third.text());
    // Who viewed it may still load its images.
    let image_url = format!("{limited_url}/{id}/320.jpg");
    assert_eq!(get(&image_url, BROWSER, Some(&viewed)).await.status, 200);
    assert_eq!(get(&image_url, BROWSER, None).await.status, 410);

    // --- password ---------------------------------------------------------------------------------
    let out = cloud.run_cli_with(
        &["share", "--json", &id, "--password-stdin"],
        &[],
        Some(b"correct horse battery\n"),
    );
    let locked_url = url_of(&out.assert_success().json());
    let locked = get(&locked_url, SLACK, None).await;
    assert_eq!(locked.status, 200);
    let html = locked.text();
    assert!(meta(&html, "og:image").is_none() && meta(&html, "og:title").is_none());
    assert!(!html.contains("beach.jpg"), "nothing of what it protects");
    assert_eq!(
        get(&format!("{locked_url}/{id}/1280.jpg"), BROWSER, None)
            .await
            .status,
        401
    );
    let oembed_locked = get(
        &format!(
            "{}/oembed?format=json&url={locked_url}",
            url.split("/s/").next().unwrap()
        ),
        SLACK,
        None,
    )
    .await;
    assert_eq!(oembed_locked.status, 401);
    let try_password = |password: &'static str| {
        let locked_url = locked_url.clone();
        async move {
            http()
                .post(&locked_url)
                .header(USER_AGENT, BROWSER)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("password={}", password.replace(' ', "+")))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(try_password("wrong guess").await.status(), 401);
    let unlocked = try_password("correct horse battery").await;
    assert_eq!(unlocked.status(), 303);
    let cookie = unlocked.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let open = get(&locked_url, BROWSER, Some(&cookie)).await;
    assert_eq!(open.status, 200);
    assert!(meta(&open.text(), "og:image").is_some());
    // Parallel wrong guesses get no more tries than sequential ones (5 per link and address).
    let guesses = futures::future::join_all((0..12).map(|_| try_password("wrong again"))).await;
    let throttled = guesses.iter().filter(|r| r.status() == 429).count();
    assert!(
        throttled >= 7,
        "{throttled} of 12 parallel guesses throttled"
    );

    // --- imgcloud shares: counts and states ------------------------------------------------------
    let listed = cloud.run_cli(&["shares", "--json"]).assert_success().json();
    let twice = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["label"] == "twice")
        .unwrap();
    assert_eq!(
        (&twice["views"], &twice["visitors"], &twice["state"]),
        (&Value::from(2), &Value::from(2), &Value::from("exhausted")),
        "{twice}"
    );
    assert!(twice["last_viewed_at"].is_string());
    let table = cloud.run_cli(&["shares"]).assert_success().stdout.clone();
    assert!(table.contains("2/2") && table.contains("exhausted") && table.contains("for Alice"));

    // --- revoke: 410 at once -----------------------------------------------------------------------
    cloud.run_cli(&["share", "revoke", &url]).assert_success();
    let gone = get(&url, BROWSER, None).await;
    assert_eq!(gone.status, 410);
    assert!(gone.text().contains("revoked"));
    assert_eq!(
        get(&og_image, SLACK, None).await.status,
        410,
        "its images end too"
    );
    cloud
        .run_cli(&["share", "revoke", "--label", "twice"])
        .assert_success();
    assert!(
        get(&limited_url, BROWSER, None)
            .await
            .text()
            .contains("revoked")
    );
    assert_eq!(get(&format!("{url}x"), BROWSER, None).await.status, 404);

    // --- albums ----------------------------------------------------------------------------------
    cloud
        .run_cli(&["album", "create", "Trip", "--description", "the coast"])
        .assert_success();
    cloud
        .run_cli(&["album", "add", "Trip", &private_id, &id])
        .assert_success();
    let album_url = url_of(&share(&cloud, &["--album", "Trip", "--no-download"]));
    let html = get(&album_url, BROWSER, None).await.text();
    assert_eq!(meta(&html, "og:title").as_deref(), Some("Trip"));
    assert_eq!(meta(&html, "og:description").as_deref(), Some("the coast"));
    assert_eq!(
        html.matches("/320.jpg\"").count(),
        2,
        "a grid of two thumbnails"
    );
    assert!(
        html.find(&private_id).unwrap() < html.find(&format!("{id}/320")).unwrap(),
        "album order"
    );
    cloud
        .run_cli(&["album", "order", "Trip", &id])
        .assert_success();
    let html = get(&album_url, BROWSER, None).await.text();
    assert!(html.find(&format!("{id}/320")).unwrap() < html.find(&private_id).unwrap());
    let albums = cloud
        .run_cli(&["album", "ls", "--json"])
        .assert_success()
        .json();
    assert_eq!(albums[0]["image_count"], 2);
    // A second device learns of the album and the links from the change feed, into its catalog.
    let dir = tempfile::tempdir().unwrap();
    let catalog = imgcloud_core::catalog::Catalog::open(&dir.path().join("c.sqlite")).unwrap();
    let client = cloud.client().unwrap();
    loop {
        let page = client
            .changes(catalog.since().unwrap(), None)
            .await
            .unwrap();
        catalog.apply(&page).unwrap();
        if !page.has_more {
            break;
        }
    }
    let albums = catalog.albums().unwrap();
    assert_eq!(albums.len(), 1);
    assert_eq!(albums[0].name, "Trip");
    assert_eq!(
        catalog.album_image_ids(&albums[0].id).unwrap(),
        [id.clone(), private_id.clone()]
    );
    let links = catalog.shares().unwrap();
    assert!(links.iter().any(|s| s.url == album_url), "the album's link");
    assert!(
        links
            .iter()
            .any(|s| s.url == url && s.state == imgcloud_core::api::ShareState::Revoked),
        "the revoked link, revoked"
    );
    cloud.run_cli(&["album", "rm", "Trip"]).assert_success();
    assert_eq!(
        get(&album_url, BROWSER, None).await.status,
        404,
        "its links went with it"
    );
    assert_eq!(
        cloud
            .run_cli(&["ls", "--json"])
            .assert_success()
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "its images stay"
    );

    // --- account defaults: private uploads, shorter links ------------------------------------
    let defaults = cloud
        .run_cli(&[
            "defaults",
            "--visibility",
            "private",
            "--share-expiry-days",
            "7",
            "--json",
        ])
        .assert_success()
        .json();
    assert_eq!(
        (
            &defaults["default_visibility"],
            &defaults["share_expiry_days"]
        ),
        (&Value::from("private"), &Value::from(7))
    );
    let later = upload(&cloud, "later.jpg", &jpeg(200, 100, 11), &[]);
    assert_eq!(
        later["visibility"], "private",
        "the account's default applies"
    );
    let week = share(&cloud, &[later["id"].as_str().unwrap()]);
    let expires = time::OffsetDateTime::parse(
        week["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_days();
    assert!(
        (6..=7).contains(&days),
        "the account's expiry applies: {days}"
    );
    let out = cloud.run_cli(&["defaults", "--share-expiry-days", "0"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("share_expiry_days"), "{}", out.stderr);
    cloud
        .run_cli(&["defaults", "--visibility", "public"])
        .assert_success();

    // --- bad input names the field -------------------------------------------------------------
    for (args, field) in [
        (vec!["share", &id, "--expires", "2020-01-01"], "expires_at"),
        (vec!["share", &id, "--max-views", "-3"], "max_views"),
        (vec!["share", "--album", "nosuch"], "nosuch"),
        (vec!["share", &id, "--expires", "soon"], "--expires"),
    ] {
        let out = cloud.run_cli(&args);
        assert_ne!(out.code, 0, "{args:?}");
        assert!(out.stderr.contains(field), "{args:?}: {}", out.stderr);
    }
    let long_label = "x".repeat(10_000);
    let out = cloud.run_cli(&["share", &id, "--label", &long_label]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("label"), "{}", out.stderr);
}

/// The view limit holds exactly when 50 first views race on the embedded cloud (SQLite); the
/// production stack's test does the same across two replicas on PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn fifty_racing_views_of_a_ten_view_link_give_exactly_ten_pages() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let image = upload(&cloud, "race.jpg", &jpeg(300, 200, 9), &[]);
    let id = image["id"].as_str().unwrap().to_string();
    let url = url_of(&share(&cloud, &[&id, "--max-views", "10"]));
    let views = (0..50).map(|i| {
        let url = url.clone();
        // Fifty visitors: the limit counts views, whoever makes them.
        let agent = format!("{BROWSER} visitor/{i}");
        tokio::spawn(async move { get(&url, &agent, None).await.status })
    });
    let statuses: Vec<u16> = futures::future::join_all(views)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!((ok, statuses.len() - ok), (10, 40), "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 200 | 410)));
    let listed = cloud.run_cli(&["shares", "--json"]).assert_success().json();
    assert_eq!(
        (&listed[0]["views"], &listed[0]["visitors"]),
        (&Value::from(10), &Value::from(10))
    );
}
