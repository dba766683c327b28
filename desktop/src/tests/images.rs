use serde_json::{Value, json};

use crate::test_support::{Fixture, code, png};

/// Uploads a pasted PNG named `name`; returns the image.
fn paste(fx: &Fixture, name: &str, seed: u8) -> Value {
    let results = fx
        .invoke_raw(
            "upload_bytes",
            png(24, 16, seed),
            &[("x-filename", name), ("x-batch", "b1")],
        )
        .unwrap();
    let result = &results[0];
    assert!(result.get("error").is_none(), "{result}");
    result["image"].clone()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn get_rename_tag_trash_and_restore_round_trip_through_the_cloud() {
    let fx = Fixture::with_cloud();
    let image = paste(&fx, "cat.png", 1);
    let id = image["id"].as_str().unwrap().to_string();

    let got = fx.invoke("get_image", json!({ "id": id })).unwrap();
    assert_eq!(got["filename"], "cat.png");
    assert_eq!(
        (got["width"].as_u64(), got["height"].as_u64()),
        (Some(24), Some(16))
    );

    let renamed = fx
        .invoke(
            "rename_image",
            json!({ "id": id, "filename": "  kitten.png " }),
        )
        .unwrap();
    assert_eq!(renamed["filename"], "kitten.png");
    let err = fx
        .invoke("rename_image", json!({ "id": id, "filename": "  " }))
        .unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");

    let tagged = fx
        .invoke(
            "set_tags",
            json!({ "id": id, "tags": [" pets ", "", "cute", "pets"] }),
        )
        .unwrap();
    assert_eq!(tagged["tags"], json!(["pets", "cute"]));
    assert_eq!(
        fx.invoke("get_image", json!({ "id": id })).unwrap()["tags"],
        json!(["pets", "cute"]),
        "the tags are stored, not only echoed"
    );

    let trashed = fx.invoke("trash_images", json!({ "ids": [id] })).unwrap();
    assert!(trashed[0]["deleted_at"].is_string(), "{trashed}");
    let library = fx.invoke("list_images", json!({})).unwrap();
    assert!(!ids(&library).contains(&id), "{library}");
    let trash = fx.invoke("list_images", json!({ "trash": true })).unwrap();
    assert_eq!(ids(&trash), vec![id.clone()]);

    let restored = fx.invoke("restore_images", json!({ "ids": [id] })).unwrap();
    assert!(restored[0]["deleted_at"].is_null(), "{restored}");
    assert_eq!(
        ids(&fx.invoke("list_images", json!({})).unwrap()),
        vec![id.clone()]
    );
    assert!(ids(&fx.invoke("list_images", json!({ "trash": true })).unwrap()).is_empty());
}

#[test]
fn an_unknown_image_is_not_found() {
    let fx = Fixture::with_cloud();
    let err = fx
        .invoke("get_image", json!({ "id": "AAAAAAAAAAAAAAAA" }))
        .unwrap_err();
    assert_eq!(code(&err), "not_found", "{err}");
    let err = fx
        .invoke("trash_images", json!({ "ids": ["AAAAAAAAAAAAAAAA"] }))
        .unwrap_err();
    assert_eq!(code(&err), "not_found", "{err}");
}

#[test]
fn links_come_in_every_format_and_in_the_order_asked() {
    let fx = Fixture::with_cloud();
    let a = paste(&fx, "a b.png", 2);
    let b = paste(&fx, "second.png", 3);
    let (ida, idb) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let url_a = a["url"].as_str().unwrap();
    let url_b = b["url"].as_str().unwrap();
    assert!(url_a.starts_with("http://127.0.0.1:"), "{url_a}");

    let links = |format: &str, template: Option<&str>| {
        fx.invoke(
            "image_links",
            json!({ "ids": [idb, ida], "format": format, "template": template }),
        )
    };
    assert_eq!(links("url", None).unwrap(), json!([url_b, url_a]));
    assert_eq!(
        links("markdown", None).unwrap()[1],
        json!(format!("![a b]({url_a})"))
    );
    assert_eq!(
        links("html", None).unwrap()[0],
        json!(format!("<img src=\"{url_b}\" alt=\"second\">"))
    );
    assert_eq!(
        links("bbcode", None).unwrap()[0],
        json!(format!("[img]{url_b}[/img]"))
    );
    assert_eq!(
        links("custom", Some("{name}|{width}x{height}|{id}")).unwrap(),
        json!([format!("second|24x16|{idb}"), format!("a b|24x16|{ida}")])
    );
    let err = links("gif", None).unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");
    let err = links("custom", None).unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");

    // Without a format: the configured one.
    fx.invoke(
        "settings_set_link_format",
        json!({ "format": "bbcode", "template": null }),
    )
    .unwrap();
    assert_eq!(
        fx.invoke("format_image_link", json!({ "image": a }))
            .unwrap(),
        json!(format!("[img]{url_a}[/img]"))
    );
}
