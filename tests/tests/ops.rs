//! `/openapi.json` describes every route; `/metrics` counts requests and errors.

use imgcloud_tests::http::request;
use imgcloud_tests::{EmbeddedCloud, fetch, metrics};

/// The routes of docs/api.md, in OpenAPI's `{param}` spelling.
const ROUTES: [(&str, &str); 13] = [
    ("get", "/v1/me"),
    ("get", "/v1/limits"),
    ("post", "/v1/uploads/check"),
    ("post", "/v1/uploads"),
    ("post", "/v1/uploads/{id}/complete"),
    ("delete", "/v1/uploads/{id}"),
    ("get", "/v1/images"),
    ("get", "/v1/images/{id}"),
    ("patch", "/v1/images/{id}"),
    ("delete", "/v1/images/{id}"),
    ("post", "/v1/images/{id}/restore"),
    ("delete", "/v1/images/{id}/purge"),
    ("get", "/v1/changes"),
];

#[tokio::test(flavor = "multi_thread")]
async fn openapi_describes_every_route() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let response = fetch(&format!("{}/openapi.json", cloud.api_url))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&response.body).expect("OpenAPI is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "OpenAPI 3: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths object");
    // Path parameters may be named anything ({id}, {image_id}…): compare with names erased.
    let erase = |path: &str| {
        path.split('/')
            .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
            .collect::<Vec<_>>()
            .join("/")
    };
    for (method, route) in ROUTES {
        let found = paths.iter().find(|(path, _)| erase(path) == erase(route));
        let (path, item) = found.unwrap_or_else(|| {
            panic!(
                "{route} missing from /openapi.json paths: {:?}",
                paths.keys()
            )
        });
        assert!(
            item.get(method).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    for ops in ["/healthz", "/readyz", "/metrics"] {
        assert!(paths.contains_key(ops), "{ops} missing from /openapi.json");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_and_errors() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let token = cloud.token().unwrap();
    let metrics_url = format!("{}/metrics", cloud.api_url);

    let before = fetch(&metrics_url).await.unwrap();
    assert_eq!(before.status, 200);
    let content_type = before
        .header("content-type")
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/plain"),
        "Prometheus text format: {content_type}"
    );

    for _ in 0..3 {
        let me = request(
            "GET",
            &format!("{}/v1/me", cloud.api_url),
            Some(&token),
            None,
        )
        .await
        .unwrap();
        assert_eq!(me.status, 200);
    }
    let missing = request(
        "GET",
        &format!("{}/v1/images/AAAAAAAAAAAAAAAA", cloud.api_url),
        Some(&token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(missing.status, 404);

    let after = fetch(&metrics_url).await.unwrap().text();
    let (requests, errors) = metric_names(&after);
    let requests_before = metrics::sum(&before.text(), &requests, &[]);
    let requests_after = metrics::sum(&after, &requests, &[]);
    assert!(
        requests_after >= requests_before + 4.0,
        "{requests}: {requests_before} → {requests_after}\n{after}"
    );
    let me_after = metrics::sum(&after, &requests, &["/v1/me"]);
    assert!(
        me_after >= 3.0,
        "requests are counted by route: {requests}{{…/v1/me…}} = {me_after}\n{after}"
    );

    let errors_before = error_count(&before.text(), &requests, errors.as_deref());
    let errors_after = error_count(&after, &requests, errors.as_deref());
    assert!(
        errors_after > errors_before,
        "the 404 is counted as an error: {errors_before} → {errors_after}\n{after}"
    );
    let not_found =
        |text: &str| metrics::sum(text, errors.as_deref().unwrap_or(&requests), &["not_found"]);
    if errors.is_some() {
        assert!(
            not_found(&after) >= not_found(&before.text()) + 1.0,
            "the 404 is counted with its error code\n{after}"
        );
    }
}

/// The request counter's name, and the error counter's name when there is a separate one.
fn metric_names(text: &str) -> (String, Option<String>) {
    let names: Vec<String> = metrics::parse(text).into_iter().map(|s| s.name).collect();
    let find = |want: &[&str]| {
        names
            .iter()
            .find(|n| want.iter().all(|w| n.contains(w)) && n.ends_with("_total"))
            .cloned()
    };
    let requests = find(&["request"])
        .filter(|n| !n.contains("error"))
        .or_else(|| {
            names
                .iter()
                .find(|n| n.contains("request") && !n.contains("error"))
                .cloned()
        })
        .unwrap_or_else(|| "http_requests_total".into());
    let errors = find(&["error"]);
    (requests, errors)
}

/// Errors: the error counter when there is one, else requests with a 4xx/5xx status label.
fn error_count(text: &str, requests: &str, errors: Option<&str>) -> f64 {
    match errors {
        Some(name) => metrics::sum(text, name, &[]),
        None => metrics::parse(text)
            .into_iter()
            .filter(|s| {
                s.name == requests
                    && (s.labels.contains("status=\"4") || s.labels.contains("status=\"5"))
            })
            .map(|s| s.value)
            .sum(),
    }
}

/// A child process killed on drop (the test may fail half-way).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `imgcloud-server ARGS` with only `env` of the `IMGCLOUD_*` variables and waits for
/// its `ready http://ADDR` line.
fn start_ready(args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    use std::io::BufRead;
    let binary = imgcloud_tests::bins::binary("imgcloud-server").unwrap();
    let mut command = std::process::Command::new(binary);
    for (name, _) in std::env::vars() {
        if name.starts_with("IMGCLOUD_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .env("IMGCLOUD_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let mut child = Child(command.spawn().expect("start imgcloud-server"));
    let stdout = child.0.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("imgcloud-server {args:?} printed {line:?}, not `ready URL`"))
        .to_string();
    (child, url)
}

/// Production mode against the standalone S3 store (`imgcloud-server s3`): ready while both
/// answer; on SIGTERM `/readyz` says 503 `draining` at once while other requests are still
/// served for the drain delay, then the server stops accepting and exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_readiness_first_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s3");
    let keys = [
        ("IMGCLOUD_S3_ACCESS_KEY", "ICOPSTESTACCESSKEY01"),
        (
            "IMGCLOUD_S3_SECRET_KEY",
            "ops-test-secret-key-0123456789abcdefghij",
        ),
    ];
    let (s3, s3_url) = start_ready(
        &[
            "s3",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
        &keys,
    );
    assert!(
        data.join("imgcloud").is_dir(),
        "the bucket directory is created"
    );
    let anonymous_put = reqwest::Client::new()
        .put(format!("{s3_url}/imgcloud/x.png"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous_put.status(),
        403,
        "the standalone store refuses unsigned writes"
    );

    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:1"
database_url = "sqlite://{db}"
[s3]
endpoint = "{s3_url}"
region = "us-east-1"
bucket = "imgcloud"
access_key = "{ak}"
secret_key = "{sk}"
path_style = true
[cdn]
base_url = "{s3_url}/imgcloud"
"#,
            db = dir.path().join("imgcloud.db").display(),
            ak = keys[0].1,
            sk = keys[1].1,
        ),
    )
    .unwrap();
    let (mut server, api) = start_ready(
        &["--config", config.to_str().unwrap()],
        &[("IMGCLOUD_DRAIN_DELAY", "3s")],
    );
    assert_eq!(fetch(&format!("{api}/readyz")).await.unwrap().status, 200);

    let pid = server.0.id();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let draining = fetch(&format!("{api}/readyz")).await.unwrap();
    assert_eq!(draining.status, 503, "/readyz fails at once on SIGTERM");
    let body: serde_json::Value = serde_json::from_slice(&draining.body).unwrap();
    assert_eq!(body["error"]["code"], "draining", "{body}");
    let healthz = fetch(&format!("{api}/healthz")).await.unwrap();
    assert_eq!(
        healthz.status, 200,
        "requests are still served while draining"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        fetch(&format!("{api}/healthz")).await.is_err(),
        "the port is closed after shutdown"
    );

    // The store stops cleanly on SIGTERM too.
    let mut s3 = s3;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &s3.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = s3.0.wait().unwrap();
    assert!(
        status.success(),
        "imgcloud-server s3 exit status after SIGTERM: {status}"
    );
}
