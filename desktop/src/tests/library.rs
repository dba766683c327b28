//! The gallery's pages come from the local catalog: synced from the real embedded cloud's
//! change feed, searched by filename and tag, and still listed when the server is gone.

use imgcloud_core::api::Image;
use imgcloud_core::catalog::{Catalog, location};
use serde_json::{Value, json};

use crate::test_support::{Fixture, code, png};

fn paste(fx: &Fixture, name: &str, seed: u8) -> String {
    let results = fx
        .invoke_raw(
            "upload_bytes",
            png(20, 12, seed),
            &[("x-filename", name), ("x-batch", "b1")],
        )
        .unwrap();
    assert!(results[0].get("error").is_none(), "{results}");
    results[0]["image"]["id"].as_str().unwrap().to_string()
}

fn names(page: &Value) -> Vec<String> {
    let mut names: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["filename"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn list(fx: &Fixture, args: Value) -> Value {
    fx.invoke("list_images", args).unwrap()
}

/// The catalog file the app keeps for the fixture's cloud and user.
fn catalog_of(fx: &Fixture) -> Catalog {
    let api_url = fx.cloud.as_ref().unwrap().api_url.to_string();
    let server = api_url.trim_end_matches('/');
    let dirs = fx.dirs();
    let user = location::last_user(&dirs, server).expect("the app recorded the user");
    Catalog::open(&location::file(&dirs, server, &user)).unwrap()
}

#[test]
fn pages_come_from_the_local_catalog_fed_by_the_change_feed() {
    let fx = Fixture::with_cloud();
    paste(&fx, "one.png", 1);
    paste(&fx, "two.png", 2);
    let page = list(&fx, json!({}));
    assert_eq!(names(&page), ["one.png", "two.png"]);
    assert!(page.get("next_cursor").is_none(), "{page}");

    // An image only the catalog knows (written into the app's file behind its back) is listed:
    // the page is read from the catalog, not from the API.
    let catalog = catalog_of(&fx);
    let mut only_local: Image = serde_json::from_value(page["items"][0].clone()).unwrap();
    only_local.id = "LocalOnly0000000".into();
    only_local.filename = "only-local.png".into();
    catalog.put(&only_local).unwrap();
    let page = list(&fx, json!({}));
    assert_eq!(names(&page), ["one.png", "only-local.png", "two.png"]);

    // The cursor is the offset of the next page.
    let rest = list(&fx, json!({ "cursor": "1" }));
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "{rest}");
    assert_eq!(rest["items"][0], page["items"][1]);
    let err = fx
        .invoke("list_images", json!({ "cursor": "not-an-offset" }))
        .unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");

    // The app's own changes reach the next first page through the feed.
    let id = paste(&fx, "three.png", 3);
    fx.invoke("trash_images", json!({ "ids": [id] })).unwrap();
    assert_eq!(
        names(&list(&fx, json!({}))),
        ["one.png", "only-local.png", "two.png"]
    );
    assert_eq!(names(&list(&fx, json!({ "trash": true }))), ["three.png"]);
}

#[test]
fn search_matches_tags_as_well_as_filenames() {
    let fx = Fixture::with_cloud();
    let beach = paste(&fx, "IMG_0001.png", 4);
    paste(&fx, "holiday-plan.png", 5);
    paste(&fx, "receipt.png", 6);
    fx.invoke(
        "set_tags",
        json!({ "id": beach, "tags": ["Holiday", "sea"] }),
    )
    .unwrap();

    let found = list(&fx, json!({ "query": " holi " }));
    assert_eq!(names(&found), ["IMG_0001.png", "holiday-plan.png"]);
    assert_eq!(
        names(&list(&fx, json!({ "query": "SEA" }))),
        ["IMG_0001.png"]
    );
    assert!(names(&list(&fx, json!({ "query": "nothing" }))).is_empty());
}

#[test]
fn the_gallery_still_lists_when_the_server_is_stopped() {
    let mut fx = Fixture::with_cloud();
    paste(&fx, "kept.png", 7);
    paste(&fx, "also-kept.png", 8);
    let online = list(&fx, json!({}));
    assert_eq!(names(&online), ["also-kept.png", "kept.png"]);

    let cloud = fx.cloud.take().unwrap();
    tauri::async_runtime::block_on(cloud.shutdown()).unwrap();

    let offline = list(&fx, json!({}));
    assert_eq!(offline, online, "the same page, from the catalog");
    assert_eq!(
        names(&list(&fx, json!({ "query": "also" }))),
        ["also-kept.png"]
    );
}

#[test]
fn a_restarted_app_lists_the_last_users_catalog_while_the_server_is_down() {
    let mut fx = Fixture::with_cloud();
    paste(&fx, "before.png", 9);
    let online = list(&fx, json!({}));
    assert_eq!(names(&online), ["before.png"]);
    let cloud = fx.cloud.take().unwrap();
    tauri::async_runtime::block_on(cloud.shutdown()).unwrap();

    let fx = fx.restart();
    assert_eq!(list(&fx, json!({})), online);
}

/// Accepts connections on `addr` and never answers (a server that hangs); runs until the
/// test process ends.
fn hang_on(addr: std::net::SocketAddr) {
    let listener = std::net::TcpListener::bind(addr).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
}

#[test]
fn a_server_that_does_not_answer_does_not_hold_the_gallery_back() {
    let mut fx = Fixture::with_cloud();
    paste(&fx, "waiting.png", 10);
    let online = list(&fx, json!({}));
    let cloud = fx.cloud.take().unwrap();
    let addr: std::net::SocketAddr = cloud
        .api_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    tauri::async_runtime::block_on(cloud.shutdown()).unwrap();
    hang_on(addr);

    // The open catalog: the sync is left running, the page comes from the file.
    let started = std::time::Instant::now();
    assert_eq!(list(&fx, json!({})), online);
    // After a restart: the last user's catalog while "who is logged in?" gets no answer.
    let fx = fx.restart();
    assert_eq!(list(&fx, json!({})), online);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(8), "took {took:?}");
}
