//! Accounts end to end, on the real binaries: the admin CLI (`imgcloud-server user …`) sharing
//! the embedded cloud's SQLite database with the running server, `imgcloud login` with a
//! password, login throttling, token listing and revocation, disabled users, and the password
//! never showing up in the server's (debug) log or in the database file.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use imgcloud_tests::CliOutput;
use imgcloud_tests::cli;
use imgcloud_tests::http::{Fetched, request};
use serde_json::json;

/// Distinctive, so finding it anywhere is meaningful.
const PASSWORD: &str = "Qx7-unusual-Passphrase-93731";
const BOB_PASSWORD: &str = "bob's own 2nd passphrase";

/// The embedded cloud (as `EmbeddedCloud` starts it) with debug logging on, in temp dirs.
struct Cloud {
    url: String,
    config_dir: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Child,
    _root: tempfile::TempDir,
}

impl Cloud {
    fn start() -> Self {
        let root = tempfile::Builder::new()
            .prefix("imgcloud-accounts-")
            .tempdir()
            .unwrap();
        let config_dir = root.path().join("config");
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::create_dir_all(&data_dir).unwrap();
        let log_path = root.path().join("server.log");
        let mut command = Command::new(imgcloud_tests::bins::binary("imgcloud-server").unwrap());
        command
            .args(["--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0"])
            .env_remove("IMGCLOUD_TOKEN")
            .env_remove("IMGCLOUD_SERVER")
            .env("IMGCLOUD_LOG", "debug")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()));
        for (k, v) in dir_env(&config_dir, &data_dir) {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("ready ") {
                    let _ = tx.send(url.trim().trim_end_matches('/').to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "the server did not start:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                )
            });
        Self {
            url,
            config_dir,
            data_dir,
            log_path,
            child,
            _root: root,
        }
    }

    fn env(&self) -> Vec<(String, OsString)> {
        dir_env(&self.config_dir, &self.data_dir)
    }

    /// `imgcloud-server ARGS` on this cloud's directories (its database), with `stdin`.
    fn admin(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let binary = imgcloud_tests::bins::binary("imgcloud-server").unwrap();
        cli::run(&binary, args, &self.env(), None, stdin.map(str::as_bytes)).unwrap()
    }

    /// `imgcloud ARGS` (the client) on this cloud's directories, with `stdin`.
    fn client(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let binary = imgcloud_tests::bins::binary("imgcloud").unwrap();
        cli::run(
            &binary,
            args,
            &self.env(),
            Some(&self.data_dir),
            stdin.map(str::as_bytes),
        )
        .unwrap()
    }

    async fn login(&self, username: &str, password: &str, device: &str) -> Fetched {
        let body = json!({"username": username, "password": password, "device_name": device});
        request(
            "POST",
            &format!("{}/v1/auth/login", self.url),
            None,
            Some(&body),
        )
        .await
        .unwrap()
    }

    async fn get(&self, path: &str, token: &str) -> Fetched {
        request("GET", &format!("{}{path}", self.url), Some(token), None)
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str, token: &str) -> Fetched {
        request("DELETE", &format!("{}{path}", self.url), Some(token), None)
            .await
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for line in tail.iter().rev() {
                // The log must not hold the password; even so, never echo it.
                eprintln!("{}", line.replace(PASSWORD, "<password>"));
            }
        }
    }
}

fn dir_env(config: &Path, data: &Path) -> Vec<(String, OsString)> {
    vec![
        ("IMGCLOUD_CONFIG_DIR".into(), config.into()),
        ("IMGCLOUD_DATA_DIR".into(), data.into()),
        ("IMGCLOUD_RUNTIME_DIR".into(), data.join("run").into()),
    ]
}

#[track_caller]
fn assert_ok(output: &CliOutput, what: &str) {
    assert_eq!(
        output.code,
        0,
        "{what} failed:\n{}",
        output.to_string().replace(PASSWORD, "<password>")
    );
}

fn error_code(response: &Fetched) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn json_of(response: &Fetched) -> serde_json::Value {
    serde_json::from_slice(&response.body).unwrap()
}

/// Every file of the embedded database (main file, WAL, shared memory).
fn database_bytes(data_dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = data_dir.join("cloud");
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("imgcloud.db"))
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_login_throttling_revocation_and_no_password_in_clear() {
    let cloud = Cloud::start();

    // The admin CLI works on the running cloud's database.
    let added = cloud.admin(&["user", "add", "alice"], None);
    assert_ok(&added, "user add alice");
    let first_token = added.stdout.trim().to_string();
    let added = cloud.admin(
        &["user", "add", "bob", "--password-stdin"],
        Some(&format!("{BOB_PASSWORD}\n")),
    );
    assert_ok(&added, "user add bob --password-stdin");
    let bob = added.stdout.trim().to_string();
    assert_eq!(cloud.get("/v1/me", &bob).await.status, 200);
    // Too short a password: a clear error, nothing changed.
    let short = cloud.admin(
        &["user", "reset-password", "alice", "--password-stdin"],
        Some("short\n"),
    );
    assert_ne!(short.code, 0);
    assert!(short.stderr.contains("at least 8"), "{short}");
    // Without --password-stdin and no terminal: says what to do.
    let no_tty = cloud.admin(&["user", "reset-password", "alice"], None);
    assert_ne!(no_tty.code, 0);
    assert!(no_tty.stderr.contains("--password-stdin"), "{no_tty}");

    let reset = cloud.admin(
        &["user", "reset-password", "alice", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_ok(&reset, "user reset-password alice");
    assert!(reset.stderr.contains("1 token(s) revoked"), "{reset}");
    // Resetting the password revoked alice's tokens.
    assert_eq!(cloud.get("/v1/me", &first_token).await.status, 401);

    // `imgcloud login` with the password, then the library works.
    let login = cloud.client(
        &[
            "login",
            &cloud.url,
            "--username",
            "alice",
            "--password-stdin",
            "--device",
            "e2e-laptop",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_ok(&login, "imgcloud login --password-stdin");
    assert!(login.stderr.contains("logged in"), "{login}");
    assert_ok(&cloud.client(&["ls"], None), "imgcloud ls after login");
    let tokens = cloud.client(&["tokens", "--json"], None);
    assert_ok(&tokens, "imgcloud tokens --json");
    let listed = tokens.json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "e2e-laptop");
    assert_eq!(listed[0]["current"], true);

    // A wrong password: 401 from the CLI and the API, with one message for every failure.
    let wrong = cloud.client(
        &[
            "login",
            &cloud.url,
            "--username",
            "alice",
            "--password-stdin",
        ],
        Some("not the password\n"),
    );
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.stderr.contains("wrong user name or password"),
        "{wrong}"
    );
    let wrong = cloud.login("alice", "not the password", "x").await;
    let unknown = cloud.login("nobody", PASSWORD, "x").await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(json_of(&wrong), json_of(&unknown));
    // (alice has 2 failures now; a success clears them.)
    let ok = cloud.login("alice", PASSWORD, "phone").await;
    assert_eq!(ok.status, 200, "{}", ok.text());

    // Throttling: five failures for bob, then 429 with Retry-After, even with his password.
    for attempt in 1..=5 {
        let failed = cloud.login("bob", "guess-guess", "x").await;
        assert_eq!(failed.status, 401, "attempt {attempt}");
    }
    for password in ["guess-guess", BOB_PASSWORD] {
        let limited = cloud.login("bob", password, "x").await;
        assert_eq!(limited.status, 429, "{}", limited.text());
        assert_eq!(error_code(&limited), "rate_limited");
        let retry_after: u64 = limited
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry_after), "{retry_after}");
    }
    // alice is not affected.
    assert_eq!(cloud.login("alice", PASSWORD, "tablet").await.status, 200);

    // Revocation through the API takes effect at once, even for a token just used (cached).
    let one = json_of(&cloud.login("alice", PASSWORD, "one").await);
    let two = json_of(&cloud.login("alice", PASSWORD, "two").await);
    let (one, two_id, two) = (
        one["token"].as_str().unwrap().to_string(),
        two["token_id"].as_str().unwrap().to_string(),
        two["token"].as_str().unwrap().to_string(),
    );
    for _ in 0..3 {
        assert_eq!(cloud.get("/v1/me", &two).await.status, 200);
    }
    // bob cannot revoke alice's token.
    let foreign = cloud.delete(&format!("/v1/tokens/{two_id}"), &bob).await;
    assert_eq!(foreign.status, 404, "{}", foreign.text());
    assert_eq!(cloud.get("/v1/me", &two).await.status, 200);
    let listed = json_of(&cloud.get("/v1/tokens", &bob).await);
    assert!(
        !listed.to_string().contains(&two_id),
        "bob does not see alice's tokens"
    );
    // alice can.
    let revoked = cloud.delete(&format!("/v1/tokens/{two_id}"), &one).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text());
    let after = cloud.get("/v1/me", &two).await;
    assert_eq!(after.status, 401, "revoked token still works");
    assert_eq!(cloud.get("/v1/me", &one).await.status, 200);

    // A disabled user: its tokens stop working and it cannot log in (same 401).
    let fresh = json_of(&cloud.login("alice", PASSWORD, "fresh").await)["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ok(
        &cloud.admin(&["user", "disable", "alice"], None),
        "user disable",
    );
    assert_eq!(cloud.get("/v1/me", &fresh).await.status, 401);
    let disabled = cloud.login("alice", PASSWORD, "x").await;
    assert_eq!(disabled.status, 401);
    assert_eq!(json_of(&disabled), json_of(&unknown));
    let users = cloud.admin(&["user", "list", "--json"], None);
    assert_ok(&users, "user list --json");
    let users = users.json();
    let alice = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap();
    assert_eq!(alice["disabled"], true);
    assert_eq!(alice["has_password"], true);
    assert_ok(
        &cloud.admin(&["user", "enable", "alice"], None),
        "user enable",
    );
    assert_eq!(cloud.get("/v1/me", &fresh).await.status, 200);
    assert_eq!(cloud.login("alice", PASSWORD, "back").await.status, 200);

    // The password is in neither the server's debug log nor the database.
    let log = cloud.log();
    assert!(
        log.contains("DEBUG"),
        "the server ran with debug logging (log has {} bytes)",
        log.len()
    );
    assert!(
        !log.contains(PASSWORD) && !log.contains(BOB_PASSWORD),
        "a password appears in the server log"
    );
    let files = database_bytes(&cloud.data_dir);
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        assert!(
            !contains(bytes, PASSWORD) && !contains(bytes, BOB_PASSWORD),
            "a password appears in {}",
            path.display()
        );
    }
    assert!(
        files.iter().any(|(_, bytes)| contains(bytes, "$argon2id$")),
        "the database holds argon2id hashes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_routes_need_a_token_and_bad_login_bodies_are_not_echoed() {
    let cloud = Cloud::start();
    assert_eq!(
        request("GET", &format!("{}/v1/tokens", cloud.url), None, None)
            .await
            .unwrap()
            .status,
        401
    );
    let delete = request(
        "DELETE",
        &format!("{}/v1/tokens/0123456789abcdef", cloud.url),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(delete.status, 401);
    let bad = request(
        "POST",
        &format!("{}/v1/auth/login", cloud.url),
        None,
        Some(&json!({"username": "ann", "password": PASSWORD, "device_name": 5})),
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
    assert!(!bad.text().contains(PASSWORD));
    assert!(!cloud.log().contains(PASSWORD));
}
