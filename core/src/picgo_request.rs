//! The body of a PicGo upload request (`POST /upload`), as PicGo's own server reads it:
//! `{"list":["/abs/a.png", …]}` names files; an empty body, no `list`, `null` or an empty list
//! means "the image on the clipboard". Parsed here, apart from the daemon's HTTP endpoint, so the
//! fuzz target can reach it.

/// The paths of the request; empty means "the clipboard image".
pub fn parse(body: &[u8]) -> Result<Vec<String>, String> {
    const USAGE: &str =
        r#"send {"list":["/absolute/path/a.png", …]}, or nothing for the clipboard image"#;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the request body is not JSON ({e}): {USAGE}"))?;
    let serde_json::Value::Object(object) = value else {
        return Err(format!("the request body is not a JSON object: {USAGE}"));
    };
    match object.get("list") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                serde_json::Value::String(path) => Ok(path.clone()),
                other => Err(format!(
                    "list[{i}] is {other}, not a file path (a string): {USAGE}"
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "`list` is {other}, not an array of file paths: {USAGE}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn nothing_means_the_clipboard() {
        for body in ["", "  \n", "{}", r#"{"list":null}"#, r#"{"list":[]}"#] {
            assert_eq!(parse(body.as_bytes()), Ok(Vec::new()), "{body:?}");
        }
    }

    #[test]
    fn paths_come_back_in_order() {
        let body = br#"{"list":["/b.png","/a.jpg"],"other":1}"#;
        assert_eq!(parse(body).unwrap(), vec!["/b.png", "/a.jpg"]);
    }

    #[test]
    fn anything_else_is_refused_with_the_usage() {
        for body in [
            "[1]",
            "nope",
            r#"{"list":"/a.png"}"#,
            r#"{"list":["/a.png",2]}"#,
        ] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert!(err.contains(r#"{"list":"#), "{body:?}: {err}");
        }
        assert!(
            parse(br#"{"list":["/a.png",2]}"#)
                .unwrap_err()
                .starts_with("list[1] is 2")
        );
    }
}
