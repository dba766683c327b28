use imgcloud_server::embedded::{EmbeddedCloud, EmbeddedOptions};
use imgcloud_server::store::sqlite::SqliteStore;
use serde_json::json;

use crate::test_support::{Fixture, TestKeys, code, png, temp_dirs};

/// A real server elsewhere (its own temp dir) with user `alice`, password `s3cret-pw`.
struct Remote {
    _dir: tempfile::TempDir,
    cloud: Option<EmbeddedCloud>,
}

impl Remote {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = EmbeddedOptions::new(temp_dirs(dir.path()));
        options.listen = "127.0.0.1:0".parse().unwrap();
        options.s3_listen = "127.0.0.1:0".parse().unwrap();
        let root = options.root();
        let cloud = tauri::async_runtime::block_on(async move {
            let cloud = EmbeddedCloud::start(options).await.unwrap();
            let store = SqliteStore::open_path(&root.join("imgcloud.db"))
                .await
                .unwrap();
            imgcloud_server::users::add_user_with_password(
                &store,
                "alice",
                "setup",
                Some("s3cret-pw"),
            )
            .await
            .unwrap();
            cloud
        });
        Self {
            _dir: dir,
            cloud: Some(cloud),
        }
    }

    fn url(&self) -> String {
        self.cloud.as_ref().unwrap().api_url.clone()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Some(cloud) = self.cloud.take() {
            let _ = tauri::async_runtime::block_on(cloud.shutdown());
        }
    }
}

#[test]
fn a_new_install_is_unconfigured() {
    let fx = Fixture::unconfigured();
    let settings = fx.invoke("settings_get", json!({})).unwrap();
    assert_eq!(settings["server"], json!(null));
    assert_eq!(settings["logged_in"], false);
    assert_eq!(settings["hosting_embedded"], false);
    assert_eq!(settings["link_format"], "url");
}

#[test]
fn connect_logs_in_keeps_the_token_in_the_keyring_and_points_the_config_at_the_server() {
    let remote = Remote::start();
    let keys = TestKeys::reachable();
    let fx = Fixture::new(&[], keys.clone());

    let err = fx
        .invoke(
            "settings_connect",
            json!({ "server": remote.url(), "username": "alice", "password": "wrong" }),
        )
        .unwrap_err();
    assert_eq!(code(&err), "unauthorized", "{err}");
    assert!(!err.to_string().contains("wrong"), "password leaked: {err}");

    let connected = fx
        .invoke(
            "settings_connect",
            json!({ "server": format!("{}/", remote.url()), "username": "alice", "password": "s3cret-pw" }),
        )
        .unwrap();
    assert_eq!(connected["username"], "alice");
    assert!(connected.get("warning").is_none(), "{connected}");
    assert_eq!(connected["settings"]["server"], json!(remote.url()));
    assert_eq!(connected["settings"]["logged_in"], true);
    assert_eq!(keys.tokens.lock().unwrap().len(), 1, "token in the keyring");
    assert!(
        !fx.dir.path().join("config/credentials.toml").exists(),
        "no file when the keyring works"
    );
    let config = std::fs::read_to_string(fx.config_file()).unwrap();
    assert!(config.contains(&remote.url()), "{config}");
    assert!(!config.contains("s3cret"), "{config}");

    // The token works: the library of alice is listed (empty).
    let page = fx.invoke("list_images", json!({})).unwrap();
    assert_eq!(page["items"], json!([]));
}

#[test]
fn connect_without_a_keyring_falls_back_to_the_file_and_says_so() {
    let remote = Remote::start();
    let fx = Fixture::unconfigured();
    let connected = fx
        .invoke(
            "settings_connect",
            json!({ "server": remote.url(), "username": "alice", "password": "s3cret-pw" }),
        )
        .unwrap();
    let warning = connected["warning"].as_str().unwrap();
    assert!(warning.contains("credentials.toml"), "{warning}");
    assert!(fx.invoke("list_images", json!({})).is_ok());
}

#[test]
fn connect_refuses_bad_addresses_and_reports_unreachable_servers() {
    let fx = Fixture::unconfigured();
    let err = fx
        .invoke(
            "settings_connect",
            json!({ "server": "localhost:8420", "username": "a", "password": "b" }),
        )
        .unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = fx
        .invoke(
            "settings_connect",
            json!({ "server": url, "username": "a", "password": "b" }),
        )
        .unwrap_err();
    assert_eq!(code(&err), "unreachable", "{err}");
    assert!(!fx.config_file().exists(), "nothing saved on failure");
}

#[test]
fn use_embedded_hosts_a_local_cloud_the_app_can_upload_to() {
    let fx = Fixture::unconfigured();
    fx.write_config("server = \"http://elsewhere.example:1\"\n");
    let settings = fx.invoke("settings_use_embedded", json!({})).unwrap();
    assert_eq!(settings["hosting_embedded"], true, "{settings}");
    assert_eq!(settings["embedded"], true, "{settings}");
    assert_eq!(settings["logged_in"], true, "{settings}");
    let server = settings["server"].as_str().unwrap();
    assert!(server.starts_with("http://127.0.0.1:"), "{server}");

    let results = fx
        .invoke_raw("upload_bytes", png(6, 6, 5), &[("x-filename", "local.png")])
        .unwrap();
    assert!(results[0]["image"]["id"].is_string(), "{results}");
    let page = fx.invoke("list_images", json!({})).unwrap();
    assert_eq!(page["items"][0]["filename"], "local.png");

    // Asking again keeps the running one.
    let again = fx.invoke("settings_use_embedded", json!({})).unwrap();
    assert_eq!(again["server"], settings["server"]);
}

#[test]
fn link_format_setting_is_validated_and_saved() {
    let fx = Fixture::unconfigured();
    let err = fx
        .invoke("settings_set_link_format", json!({ "format": "jpeg" }))
        .unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");
    fx.invoke(
        "settings_set_link_format",
        json!({ "format": "custom", "template": "<{url}>" }),
    )
    .unwrap();
    let settings = fx.invoke("settings_get", json!({})).unwrap();
    assert_eq!(settings["link_format"], "custom");
    assert_eq!(settings["link_template"], "<{url}>");
}
