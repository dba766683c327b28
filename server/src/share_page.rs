//! The HTML of share pages: server-rendered, no JavaScript, every value escaped. One image, or
//! an album as a responsive grid of thumbnails that link to previews; OpenGraph and Twitter
//! tags and oEmbed discovery for chat apps' link previews. A locked (password) page shows
//! nothing of what it protects: no title, no image, no tags.

use std::fmt::Write as _;

/// `text` escaped for HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One picture on a page.
#[derive(Debug, Clone)]
pub struct Picture {
    pub id: String,
    pub filename: String,
    /// Size of the preview (upright, at most 1280 px on the long side).
    pub width: u32,
    pub height: u32,
}

/// What a page shows.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    /// `{public base}/s/{token}`: absolute, for OpenGraph.
    pub url: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub pictures: &'a [Picture],
    pub allow_download: bool,
    /// `{public base}/oembed?…` for discovery.
    pub oembed: &'a str,
}

const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,sans-serif;background:#111;color:#eee}\
main{max-width:1280px;margin:0 auto;padding:1rem}h1{font-size:1.25rem;margin:.5rem 0}\
p{color:#bbb}a{color:#9cf}img{max-width:100%;height:auto;display:block;margin:0 auto}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.5rem}\
.grid img{width:100%;aspect-ratio:1;object-fit:cover}figure{margin:0 0 1rem}\
figcaption{text-align:center;color:#bbb;font-size:.9rem}\
form{max-width:20rem;margin:4rem auto;display:grid;gap:.75rem}\
input,button{font:inherit;padding:.5rem;border-radius:.3rem;border:1px solid #555}\
.error{color:#f88}";

fn head(out: &mut String, title: &str, extra: &str) {
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex,nofollow\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title>{extra}<style>{STYLE}</style></head><body><main>",
        escape(title)
    );
}

fn foot(out: &mut String) {
    out.push_str("</main></body></html>\n");
}

/// The page of an open link.
pub fn render(page: &Page<'_>) -> String {
    let url = escape(page.url);
    let image_url = |id: &str, file: &str| format!("{url}/{id}/{file}");
    let mut tags = String::new();
    let _ = write!(
        tags,
        "<meta property=\"og:type\" content=\"website\">\
         <meta property=\"og:site_name\" content=\"imgcloud\">\
         <meta property=\"og:title\" content=\"{title}\">\
         <meta property=\"og:url\" content=\"{url}\">\
         <meta name=\"twitter:card\" content=\"summary_large_image\">\
         <meta name=\"twitter:title\" content=\"{title}\">",
        title = escape(page.title),
    );
    if !page.description.is_empty() {
        let _ = write!(
            tags,
            "<meta property=\"og:description\" content=\"{}\">",
            escape(page.description)
        );
    }
    if let Some(first) = page.pictures.first() {
        let preview = image_url(&first.id, "1280.jpg");
        let _ = write!(
            tags,
            "<meta property=\"og:image\" content=\"{preview}\">\
             <meta property=\"og:image:type\" content=\"image/jpeg\">\
             <meta property=\"og:image:width\" content=\"{}\">\
             <meta property=\"og:image:height\" content=\"{}\">\
             <meta property=\"og:image:alt\" content=\"{}\">\
             <meta name=\"twitter:image\" content=\"{preview}\">",
            first.width,
            first.height,
            escape(&first.filename)
        );
    }
    let _ = write!(
        tags,
        "<link rel=\"alternate\" type=\"application/json+oembed\" href=\"{}\" title=\"{}\">",
        escape(page.oembed),
        escape(page.title)
    );
    let mut out = String::new();
    head(&mut out, page.title, &tags);
    let _ = write!(out, "<h1>{}</h1>", escape(page.title));
    if !page.description.is_empty() {
        let _ = write!(out, "<p>{}</p>", escape(page.description));
    }
    if let [picture] = page.pictures {
        let _ = write!(
            out,
            "<figure><img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">",
            image_url(&picture.id, "1280.jpg"),
            picture.width,
            picture.height,
            escape(&picture.filename)
        );
        if page.allow_download {
            let _ = write!(
                out,
                "<figcaption><a href=\"{}\" download>Download the original</a></figcaption>",
                image_url(&picture.id, "original")
            );
        }
        out.push_str("</figure>");
    } else if page.pictures.is_empty() {
        out.push_str("<p>Nothing to show here any more.</p>");
    } else {
        out.push_str("<div class=\"grid\">");
        for picture in page.pictures {
            let target = if page.allow_download {
                image_url(&picture.id, "original")
            } else {
                image_url(&picture.id, "1280.jpg")
            };
            let _ = write!(
                out,
                "<a href=\"{target}\"><img src=\"{}\" loading=\"lazy\" alt=\"{}\"></a>",
                image_url(&picture.id, "320.jpg"),
                escape(&picture.filename)
            );
        }
        out.push_str("</div>");
    }
    foot(&mut out);
    out
}

/// The page of a password-protected link before it is unlocked: nothing of what it shows.
pub fn locked(action: &str, error: Option<&str>) -> String {
    let mut out = String::new();
    head(&mut out, "Password required", "");
    let _ = write!(
        out,
        "<form method=\"post\" action=\"{}\"><h1>This link is password-protected</h1>",
        escape(action)
    );
    if let Some(error) = error {
        let _ = write!(out, "<p class=\"error\">{}</p>", escape(error));
    }
    out.push_str(
        "<input type=\"password\" name=\"password\" autocomplete=\"current-password\" \
         required autofocus aria-label=\"Password\"><button type=\"submit\">Open</button></form>",
    );
    foot(&mut out);
    out
}

/// A plain page with one message (ended links, unknown links).
pub fn message(title: &str, text: &str) -> String {
    let mut out = String::new();
    head(&mut out, title, "");
    let _ = write!(out, "<h1>{}</h1><p>{}</p>", escape(title), escape(text));
    foot(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped_and_tags_point_at_the_preview() {
        let pictures = [Picture {
            id: "abc".into(),
            filename: "<script>alert(1)</script>.jpg".into(),
            width: 1280,
            height: 853,
        }];
        let html = render(&Page {
            url: "https://img.example/s/TOKEN",
            title: "\"Trip\" & <more>",
            description: "",
            pictures: &pictures,
            allow_download: false,
            oembed: "https://img.example/oembed?url=x&format=json",
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("content=\"&quot;Trip&quot; &amp; &lt;more&gt;\""));
        assert!(html.contains(
            "<meta property=\"og:image\" content=\"https://img.example/s/TOKEN/abc/1280.jpg\">"
        ));
        assert!(html.contains("summary_large_image"));
        assert!(html.contains("application/json+oembed"));
        assert!(!html.contains("/original"), "no download offered");
    }

    #[test]
    fn a_locked_page_reveals_nothing() {
        let html = locked("/s/TOKEN", Some("wrong password"));
        assert!(!html.contains("og:"), "{html}");
        assert!(html.contains("type=\"password\""));
        assert!(html.contains("wrong password"));
    }
}
