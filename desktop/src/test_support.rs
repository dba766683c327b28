//! What the command tests share: an app on Tauri's mock runtime (no display) whose settings
//! live in a temp dir, a stand-in for the OS keyring, and a real embedded cloud to talk to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use imgcloud_core::credentials::Credentials;
use imgcloud_core::paths::Dirs;
use imgcloud_core::secrets::{KeyStore, KeyStoreError};
use imgcloud_server::embedded::{EmbeddedCloud, EmbeddedOptions};
use serde_json::Value;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};

use crate::connection::{Connection, EmbeddedPorts};

/// A key store standing in for the OS keyring: unreachable (as on a headless machine), or a
/// map that keeps what is written.
#[derive(Clone)]
pub struct TestKeys {
    pub reachable: bool,
    pub tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl TestKeys {
    pub fn unreachable() -> Self {
        Self::with(false, HashMap::new())
    }

    pub fn reachable() -> Self {
        Self::with(true, HashMap::new())
    }

    pub fn with(reachable: bool, tokens: HashMap<String, String>) -> Self {
        Self {
            reachable,
            tokens: Arc::new(Mutex::new(tokens)),
        }
    }
}

impl KeyStore for TestKeys {
    fn get(&self, _service: &str, user: &str) -> Result<Option<String>, KeyStoreError> {
        if !self.reachable {
            return Err(KeyStoreError("no keyring in tests".into()));
        }
        Ok(self.tokens.lock().unwrap().get(user).cloned())
    }
    fn set(&self, _: &str, user: &str, secret: &str) -> Result<(), KeyStoreError> {
        if !self.reachable {
            return Err(KeyStoreError("no keyring in tests".into()));
        }
        self.tokens
            .lock()
            .unwrap()
            .insert(user.to_string(), secret.to_string());
        Ok(())
    }
    fn delete(&self, _: &str, user: &str) -> Result<(), KeyStoreError> {
        self.tokens.lock().unwrap().remove(user);
        Ok(())
    }
}

pub fn temp_dirs(root: &Path) -> Dirs {
    let root = root.to_path_buf();
    Dirs::resolve(|name| match name {
        "IMGCLOUD_CONFIG_DIR" => Some(root.join("config")),
        "IMGCLOUD_DATA_DIR" => Some(root.join("data")),
        "IMGCLOUD_RUNTIME_DIR" => Some(root.join("run")),
        _ => None,
    })
    .unwrap()
}

pub fn free_ports() -> EmbeddedPorts {
    EmbeddedPorts {
        api: "127.0.0.1:0".parse().unwrap(),
        s3: "127.0.0.1:0".parse().unwrap(),
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub app: App<MockRuntime>,
    pub window: WebviewWindow<MockRuntime>,
    /// A cloud the test started (not the app), stopped with the fixture.
    pub cloud: Option<EmbeddedCloud>,
}

impl Fixture {
    /// An app whose settings live in a fresh temp dir; `env` stands in for the process
    /// environment and `keys` for the OS keyring.
    pub fn new(env: &[(&str, &str)], keys: TestKeys) -> Self {
        Self::in_dir(tempfile::tempdir().unwrap(), env, keys)
    }

    /// The app started again over the same settings and data (as after quitting it), with
    /// no keyring reachable; a cloud the test started stays up.
    pub fn restart(mut self) -> Self {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let cloud = self.cloud.take();
        drop(self);
        let mut fx = Self::in_dir(dir, &[], TestKeys::unreachable());
        fx.cloud = cloud;
        fx
    }

    fn in_dir(dir: tempfile::TempDir, env: &[(&str, &str)], keys: TestKeys) -> Self {
        let dirs = temp_dirs(dir.path());
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let connection = Connection::with_sources(
            dirs,
            Box::new(move |name| env.get(name).cloned()),
            Box::new(keys),
        )
        .with_embedded_ports(free_ports());
        let app = crate::app(mock_builder(), connection)
            .build(mock_context(noop_assets()))
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        Self {
            dir,
            app,
            window,
            cloud: None,
        }
    }

    pub fn unconfigured() -> Self {
        Self::new(&[], TestKeys::unreachable())
    }

    /// An app configured for a real embedded cloud (SQLite + S3 store on free loopback
    /// ports) that the test started in the same temp dir: it wrote the configuration and the
    /// token (credentials file) as it does for a new user.
    pub fn with_cloud() -> Self {
        let mut fx = Self::unconfigured();
        fx.cloud = Some(fx.start_cloud());
        fx
    }

    pub fn dirs(&self) -> Dirs {
        temp_dirs(self.dir.path())
    }

    pub fn start_cloud(&self) -> EmbeddedCloud {
        let mut options = EmbeddedOptions::new(self.dirs());
        options.listen = "127.0.0.1:0".parse().unwrap();
        options.s3_listen = "127.0.0.1:0".parse().unwrap();
        options.username = Some("tester".into());
        tauri::async_runtime::block_on(EmbeddedCloud::start(options)).unwrap()
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config/config.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.dir.path().join("config")).unwrap();
        std::fs::write(self.config_file(), text).unwrap();
    }

    pub fn save_token(&self, server: &str, token: &str) {
        let mut credentials = Credentials::default();
        credentials.set_token(server, token);
        credentials
            .save(&self.dir.path().join("config/credentials.toml"))
            .unwrap();
    }

    fn request(
        &self,
        cmd: &str,
        body: InvokeBody,
        headers: &[(&str, &str)],
    ) -> Result<Value, Value> {
        let mut map = tauri::http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                tauri::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                tauri::http::HeaderValue::from_str(value).unwrap(),
            );
        }
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body,
            headers: map,
            invoke_key: INVOKE_KEY.to_string(),
        };
        tauri::test::get_ipc_response(&self.window, request)
            .map(|body| body.deserialize::<Value>().unwrap())
    }

    /// Invokes `cmd` as the frontend would; `Ok(answer)` or `Err(serialised error)`.
    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.request(cmd, InvokeBody::Json(args), &[])
    }

    /// Invokes `cmd` with a raw body and headers (as `invoke(cmd, Uint8Array, {headers})`).
    pub fn invoke_raw(
        &self,
        cmd: &str,
        bytes: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Value, Value> {
        self.request(cmd, InvokeBody::Raw(bytes), headers)
    }

    /// Collects the payloads of `event` from now on.
    pub fn collect(&self, event: &str) -> Arc<Mutex<Vec<Value>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        self.app.listen_any(event, move |e| {
            sink.lock()
                .unwrap()
                .push(serde_json::from_str(e.payload()).unwrap());
        });
        seen
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(cloud) = self.cloud.take() {
            let _ = tauri::async_runtime::block_on(cloud.shutdown());
        }
    }
}

pub fn code(err: &Value) -> &str {
    err["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not a CommandError: {err}"))
}

pub fn message(err: &Value) -> &str {
    err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not a CommandError: {err}"))
}

/// A small PNG of `width`×`height` whose pixels depend on `seed` (distinct bytes per seed).
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([seed, (x * 7) as u8 ^ seed, (y * 13) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG of `width`×`height` with an APP1 `Exif` segment giving Make, Model and
/// DateTimeOriginal (`date` as EXIF writes it, "YYYY:MM:DD HH:MM:SS").
pub fn jpeg_with_camera(width: u32, height: u32, make: &str, model: &str, date: &str) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, (x ^ y) as u8])
    });
    let mut jpeg = std::io::Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    imgcloud_tests::images::insert_exif_camera(&jpeg.into_inner(), make, model, date)
}
