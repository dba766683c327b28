//! Link formats and custom templates on any file name, URL and template: never a panic, and no
//! name or URL can break out of the Markdown, HTML or BBCode around it.
#![no_main]

use imgcloud_core::api::Image;
use imgcloud_core::links::{LinkFormat, format_link};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String, String)| {
    let (filename, url, template) = input;
    let mut image: Image = serde_json::from_value(serde_json::json!({
        "id": "0123456789abcdef", "filename": "a.jpg", "size": 1, "sha256": "00",
        "content_type": "image/jpeg", "width": 1, "height": 1,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "url": "https://cdn.example/i/a.jpg", "thumb_url": "", "preview_url": "",
    }))
    .unwrap();
    image.filename = filename;
    image.url = url;

    // The URL never carries what would end its (…), its [img] tag or its quoted attribute.
    let breaks = |c: char| "()[]<>\"'`\\".contains(c) || c.is_whitespace() || c.is_control();
    let md = format_link(&image, &LinkFormat::Markdown);
    let (_, md_url) = md.rsplit_once("](").expect("markdown link");
    let md_url = md_url.strip_suffix(')').expect("closing parenthesis");
    assert!(!md_url.contains(breaks), "{md}");

    let bb = format_link(&image, &LinkFormat::Bbcode);
    let bb_url = bb
        .strip_prefix("[img]")
        .and_then(|s| s.strip_suffix("[/img]"));
    assert!(!bb_url.expect("bbcode tag").contains(breaks), "{bb}");

    let html = format_link(&image, &LinkFormat::Html);
    assert_eq!(html.matches('"').count(), 4, "{html}");
    assert_eq!(html.matches('<').count(), 1, "{html}");
    assert_eq!(html.matches('>').count(), 1, "{html}");

    assert_eq!(
        format_link(&image, &LinkFormat::Custom("{url}".into())),
        md_url,
        "{{url}} is escaped as in Markdown"
    );
    let custom = LinkFormat::from_config("custom", Some(&template)).unwrap();
    let out = format_link(&image, &custom);
    if !template.contains('{') {
        assert_eq!(out, template);
    }
});
