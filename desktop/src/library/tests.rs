//! The library commands through Tauri's IPC (mock runtime, no display), with real config and
//! credentials files in a temp dir and, where a server must answer, a one-route HTTP responder
//! that checks exactly what the gallery sends (the real-cloud round trips are in `crate::tests`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;

use serde_json::{Value, json};

use crate::test_support::{Fixture, TestKeys, code, message};

/// What the fake server saw of one request.
#[derive(Debug)]
struct Seen {
    request_line: String,
    authorization: Option<String>,
}

/// Answers every request with `status` and `body`, reporting what it saw; stops with the test.
fn responder(status: &'static str, body: String) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            if answer(stream, status, &body, &tx).is_err() {
                return;
            }
        }
    });
    (server, rx)
}

fn answer(
    stream: TcpStream,
    status: &str,
    body: &str,
    tx: &mpsc::Sender<Seen>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    tx.send(Seen {
        request_line: request_line.trim_end().to_string(),
        authorization,
    })
    .map_err(std::io::Error::other)
}

/// A loopback port nothing listens on.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[test]
fn without_a_server_list_images_says_not_configured_and_how_to_fix_it() {
    let fx = Fixture::unconfigured();
    let err = list(&fx, None, None).unwrap_err();
    assert_eq!(code(&err), "not_configured", "{err}");
    assert!(message(&err).contains("imgcloud login"), "{err}");
    assert_eq!(
        err.as_object().unwrap().len(),
        2,
        "only code and message: {err}"
    );

    let info = fx.invoke("server_info", json!({})).unwrap();
    assert_eq!(info["server"], Value::Null);
    assert_eq!(
        info["config_file"],
        json!(fx.config_file().display().to_string())
    );
}

#[test]
fn a_server_without_a_token_is_not_logged_in() {
    let fx = Fixture::new(&[], TestKeys::reachable());
    fx.write_config("server = \"http://127.0.0.1:9/\"\n");
    let err = list(&fx, None, None).unwrap_err();
    assert_eq!(code(&err), "not_logged_in", "{err}");
    assert!(
        message(&err).contains("imgcloud login http://127.0.0.1:9/"),
        "{err}"
    );
}

#[test]
fn a_broken_config_file_is_named_in_the_error() {
    let fx = Fixture::unconfigured();
    fx.write_config("sever = \"http://127.0.0.1:9\"\n");
    for err in [
        list(&fx, None, None).unwrap_err(),
        fx.invoke("server_info", json!({})).unwrap_err(),
    ] {
        assert_eq!(code(&err), "config", "{err}");
        assert!(
            message(&err).contains("config.toml") && message(&err).contains("sever"),
            "{err}"
        );
    }
}

#[test]
fn env_overrides_the_file_server() {
    let fx = Fixture::new(
        &[("IMGCLOUD_SERVER", "http://env.example:8420")],
        TestKeys::unreachable(),
    );
    fx.write_config("server = \"http://file.example:8420\"\n");
    let info = fx.invoke("server_info", json!({})).unwrap();
    assert_eq!(info["server"], json!("http://env.example:8420"));
}

#[test]
fn an_unreachable_server_is_reported_as_such_with_its_address() {
    let server = closed_port_url();
    let fx = Fixture::unconfigured();
    fx.write_config(&format!("server = \"{server}\"\n"));
    // No keyring reachable: the token comes from the 0600 credentials file.
    fx.save_token(&server, "tok-file");
    let err = list(&fx, None, None).unwrap_err();
    assert_eq!(code(&err), "unreachable", "{err}");
    assert!(message(&err).contains(&server), "{err}");
    assert!(!message(&err).contains("tok-file"), "token leaked: {err}");
}

#[test]
fn a_failure_is_not_cached_so_retry_after_login_works() {
    let fx = Fixture::unconfigured();
    assert_eq!(code(&list(&fx, None, None).unwrap_err()), "not_configured");

    // The next call re-reads the settings: it asks the server who is logged in (to open
    // that user's catalog) with the token saved meanwhile.
    let body = json!({"error": {"code": "unauthorized", "message": "invalid token"}}).to_string();
    let (server, seen) = responder("401 Unauthorized", body);
    fx.write_config(&format!("server = \"{server}\"\n"));
    fx.save_token(&server, "tok-1");
    assert_eq!(code(&list(&fx, None, None).unwrap_err()), "unauthorized");
    let request = seen.recv().unwrap();
    assert!(
        request.request_line.starts_with("GET /v1/me"),
        "{}",
        request.request_line
    );
    assert_eq!(request.authorization.as_deref(), Some("Bearer tok-1"));
}

#[test]
fn a_rejected_token_is_unauthorized() {
    let body = json!({"error": {"code": "unauthorized", "message": "invalid token"}}).to_string();
    let (server, _seen) = responder("401 Unauthorized", body);
    let fx = Fixture::new(&[("IMGCLOUD_TOKEN", "tok-env")], TestKeys::unreachable());
    fx.write_config(&format!("server = \"{server}\"\n"));
    let err = list(&fx, None, None).unwrap_err();
    assert_eq!(code(&err), "unauthorized", "{err}");
    assert!(message(&err).contains("imgcloud login"), "{err}");
    assert!(!message(&err).contains("tok-env"), "token leaked: {err}");
}

#[test]
fn a_server_error_keeps_the_servers_safe_message() {
    let body = json!({"error": {"code": "internal", "message": "internal error"}}).to_string();
    let (server, _seen) = responder("500 Internal Server Error", body);
    let fx = Fixture::new(&[("IMGCLOUD_TOKEN", "t")], TestKeys::unreachable());
    fx.write_config(&format!("server = \"{server}\"\n"));
    let err = list(&fx, None, None).unwrap_err();
    assert_eq!(code(&err), "server", "{err}");
    assert!(
        message(&err).contains("internal error") && message(&err).contains("500"),
        "{err}"
    );
}

fn list(fx: &Fixture, cursor: Option<&str>, query: Option<&str>) -> Result<Value, Value> {
    fx.invoke("list_images", json!({ "cursor": cursor, "query": query }))
}
