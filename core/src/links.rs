//! Share-link formatting: URL, Markdown, HTML, BBCode and custom templates.
//!
//! Custom templates use `{url} {filename} {name} {ext} {width} {height} {id}`; `name` is the
//! filename without its extension. An unknown `{placeholder}` is kept as written.

use std::fmt;
use std::str::FromStr;

use crate::api::Image;

/// How to render an image's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkFormat {
    Url,
    Markdown,
    Html,
    Bbcode,
    /// A template such as `![{name}]({url})`.
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown link format `{0}`: use url, markdown, html, bbcode, custom:TEMPLATE or a template \
     containing placeholders such as {{url}}"
)]
pub struct UnknownLinkFormat(pub String);

impl FromStr for LinkFormat {
    type Err = UnknownLinkFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(template) = s.strip_prefix("custom:") {
            return Ok(Self::Custom(template.to_string()));
        }
        if s.contains('{') {
            return Ok(Self::Custom(s.to_string()));
        }
        match s.trim().to_ascii_lowercase().as_str() {
            "url" => Ok(Self::Url),
            "markdown" | "md" => Ok(Self::Markdown),
            "html" => Ok(Self::Html),
            "bbcode" => Ok(Self::Bbcode),
            _ => Err(UnknownLinkFormat(s.to_string())),
        }
    }
}

impl fmt::Display for LinkFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url => f.write_str("url"),
            Self::Markdown => f.write_str("markdown"),
            Self::Html => f.write_str("html"),
            Self::Bbcode => f.write_str("bbcode"),
            Self::Custom(template) => write!(f, "custom:{template}"),
        }
    }
}

impl LinkFormat {
    /// The format named in a [`crate::config::ClientConfig`]: `format = "custom"` takes its
    /// template from `template`.
    pub fn from_config(format: &str, template: Option<&str>) -> Result<Self, UnknownLinkFormat> {
        match (format.trim(), template) {
            ("custom", Some(template)) => Ok(Self::Custom(template.to_string())),
            ("custom", None) => Err(UnknownLinkFormat(
                "custom (set `template` in the configuration)".to_string(),
            )),
            (other, _) => other.parse(),
        }
    }
}

/// Renders the link of `image` in `format`.
pub fn format_link(image: &Image, format: &LinkFormat) -> String {
    match format {
        LinkFormat::Url => image.url.clone(),
        LinkFormat::Markdown => {
            format!(
                "![{}]({})",
                escape_markdown_text(stem(&image.filename)),
                escape_url(&image.url)
            )
        }
        LinkFormat::Html => format!(
            "<img src=\"{}\" alt=\"{}\">",
            escape_html(&image.url),
            escape_html(stem(&image.filename))
        ),
        LinkFormat::Bbcode => format!("[img]{}[/img]", escape_url(&image.url)),
        LinkFormat::Custom(template) => render_template(template, image),
    }
}

/// The filename without its extension (`photo.tar.jpg` → `photo.tar`; `.hidden` stays).
fn stem(filename: &str) -> &str {
    match filename.rfind('.') {
        Some(dot) if dot > 0 => &filename[..dot],
        _ => filename,
    }
}

fn extension(filename: &str) -> &str {
    match filename.rfind('.') {
        Some(dot) if dot > 0 => &filename[dot + 1..],
        _ => "",
    }
}

fn escape_markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes what would end or break a URL inside Markdown's `(…)`, BBCode's
/// `[img]…[/img]` or a quoted attribute: parentheses, brackets, angle brackets, quotes,
/// backslash, backtick, whitespace and controls. Encoded, they name the same resource, so a
/// file called `a) [b].jpg` still links right and a URL cannot close its tag early.
fn escape_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if matches!(
            c,
            '(' | ')' | '[' | ']' | '<' | '>' | '"' | '\'' | '\\' | '`'
        ) || c.is_whitespace()
            || c.is_control()
        {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape_html(text: &str) -> String {
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

fn render_template(template: &str, image: &Image) -> String {
    let mut out = String::with_capacity(template.len() + image.url.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = &after[..close];
        match placeholder(name, image) {
            Some(value) => out.push_str(&value),
            None => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn placeholder(name: &str, image: &Image) -> Option<String> {
    Some(match name {
        "url" => escape_url(&image.url),
        "filename" => image.filename.clone(),
        "name" => stem(&image.filename).to_string(),
        "ext" => extension(&image.filename).to_string(),
        "width" => image.width.to_string(),
        "height" => image.height.to_string(),
        "id" => image.id.clone(),
        "thumb_url" => escape_url(&image.thumb_url),
        "preview_url" => escape_url(&image.preview_url),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn image(filename: &str) -> Image {
        Image {
            id: "AbCdEfGhIjKlMnOp".into(),
            filename: filename.into(),
            size: 10,
            sha256: "00".repeat(32),
            content_type: "image/png".into(),
            width: 640,
            height: 480,
            taken_at: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            deleted_at: None,
            tags: vec![],
            visibility: Default::default(),
            url: "https://cdn.example/i/AbCdEfGhIjKlMnOp/cat.png".into(),
            thumb_url: "https://cdn.example/t/AbCdEfGhIjKlMnOp/320.jpg".into(),
            preview_url: "https://cdn.example/t/AbCdEfGhIjKlMnOp/1280.jpg".into(),
            thumbhash: None,
            derivatives: Default::default(),
            derivatives_error: None,
        }
    }

    #[test]
    fn parses_names_prefixes_and_bare_templates() {
        assert_eq!("URL".parse::<LinkFormat>().unwrap(), LinkFormat::Url);
        assert_eq!("md".parse::<LinkFormat>().unwrap(), LinkFormat::Markdown);
        assert_eq!("bbcode".parse::<LinkFormat>().unwrap(), LinkFormat::Bbcode);
        assert_eq!(
            "custom:<{url}>".parse::<LinkFormat>().unwrap(),
            LinkFormat::Custom("<{url}>".into())
        );
        assert_eq!(
            "{id}".parse::<LinkFormat>().unwrap(),
            LinkFormat::Custom("{id}".into())
        );
        let err = "jpeg".parse::<LinkFormat>().unwrap_err().to_string();
        assert!(err.contains("jpeg") && err.contains("markdown"), "{err}");
        assert_eq!(
            LinkFormat::from_config("custom", Some("{url}")).unwrap(),
            LinkFormat::Custom("{url}".into())
        );
        assert!(LinkFormat::from_config("custom", None).is_err());
    }

    #[test]
    fn urls_cannot_break_out_of_markdown_or_bbcode() {
        let mut img = image("a) [b].png");
        img.url = "https://cdn.example/i/Ab/a) [b].png".into();
        img.thumb_url = "https://cdn.example/t/Ab/320.jpg?x=\"y\"".into();
        assert_eq!(
            format_link(&img, &LinkFormat::Markdown),
            "![a) \\[b\\]](https://cdn.example/i/Ab/a%29%20%5Bb%5D.png)"
        );
        img.url = "https://cdn.example/x[/img][url=https://evil.example]y".into();
        assert_eq!(
            format_link(&img, &LinkFormat::Bbcode),
            "[img]https://cdn.example/x%5B/img%5D%5Burl=https://evil.example%5Dy[/img]"
        );
        let custom = LinkFormat::from_config("custom", Some("[{name}]({thumb_url})")).unwrap();
        assert_eq!(
            format_link(&img, &custom),
            "[a) [b]](https://cdn.example/t/Ab/320.jpg?x=%22y%22)"
        );
    }

    #[test]
    fn renders_every_builtin_format() {
        let img = image("cat.png");
        assert_eq!(format_link(&img, &LinkFormat::Url), img.url);
        assert_eq!(
            format_link(&img, &LinkFormat::Markdown),
            format!("![cat]({})", img.url)
        );
        assert_eq!(
            format_link(&img, &LinkFormat::Html),
            format!("<img src=\"{}\" alt=\"cat\">", img.url)
        );
        assert_eq!(
            format_link(&img, &LinkFormat::Bbcode),
            format!("[img]{}[/img]", img.url)
        );
    }

    #[test]
    fn escapes_markdown_brackets_and_html() {
        let img = image("a [b] <c> & \"d\".jpg");
        assert_eq!(
            format_link(&img, &LinkFormat::Markdown),
            format!("![a \\[b\\] <c> & \"d\"]({})", img.url)
        );
        let html = format_link(&img, &LinkFormat::Html);
        assert!(
            html.contains("alt=\"a [b] &lt;c&gt; &amp; &quot;d&quot;\""),
            "{html}"
        );
    }

    #[test]
    fn custom_templates_fill_every_placeholder() {
        let img = image("holiday.photo.png");
        let format = LinkFormat::Custom(
            "{id}|{filename}|{name}|{ext}|{width}x{height}|{url}|{unknown}|{open".into(),
        );
        assert_eq!(
            format_link(&img, &format),
            format!(
                "AbCdEfGhIjKlMnOp|holiday.photo.png|holiday.photo|png|640x480|{}|{{unknown}}|{{open",
                img.url
            )
        );
        assert_eq!(
            format_link(&image("README"), &LinkFormat::Custom("{name}.{ext}".into())),
            "README."
        );
    }
}
