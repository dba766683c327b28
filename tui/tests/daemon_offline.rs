//! The daemon commands with no daemon running: `watch add|ls|rm` edit `daemon.toml` directly,
//! the others fail clearly with exit code 1.

use std::path::Path;
use std::process::{Command, Output};

struct Instance {
    root: tempfile::TempDir,
}

impl Instance {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn config_dir(&self) -> std::path::PathBuf {
        self.root.path().join("config")
    }

    fn run(&self, args: &[&str], cwd: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_imgcloud"))
            .args(args)
            .current_dir(cwd)
            .env("IMGCLOUD_CONFIG_DIR", self.config_dir())
            .env("IMGCLOUD_DATA_DIR", self.root.path().join("data"))
            .env("IMGCLOUD_RUNTIME_DIR", self.root.path().join("run"))
            .env_remove("IMGCLOUD_SERVER")
            .env_remove("IMGCLOUD_TOKEN")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn watch_add_ls_rm_edit_daemon_toml_without_a_daemon() {
    let instance = Instance::new();
    let pictures = instance.root.path().join("Pictures");
    std::fs::create_dir_all(pictures.join("sub")).unwrap();
    let canonical = pictures.canonicalize().unwrap();

    // A relative path with `..` in it is stored canonical.
    let out = instance.run(
        &[
            "watch",
            "add",
            "sub/..",
            "--album",
            "Holidays",
            "--exclude",
            "drafts/",
            "--include",
            "*.png",
            "--include",
            "*.jpg",
        ],
        &pictures,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "results only on stdout");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not running") && stderr.contains("daemon.toml"),
        "{stderr}"
    );
    let toml = std::fs::read_to_string(instance.config_dir().join("daemon.toml")).unwrap();
    assert!(toml.contains(&canonical.display().to_string()), "{toml}");

    let out = instance.run(&["watch", "ls"], instance.root.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim_end(),
        format!(
            "{}  (album Holidays, include *.png *.jpg, exclude drafts/)",
            canonical.display()
        )
    );

    let out = instance.run(&["watch", "ls", "--json"], instance.root.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["path"], canonical.display().to_string());
    assert_eq!(json[0]["recursive"], true);
    assert_eq!(json[0]["include"], serde_json::json!(["*.png", "*.jpg"]));

    // Adding it again updates it, never duplicates it.
    let out = instance.run(
        &[
            "watch",
            "add",
            canonical.to_str().unwrap(),
            "--no-recursive",
        ],
        instance.root.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = instance.run(&["watch", "ls", "--json"], instance.root.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["recursive"], false);

    // A folder that vanished can still be removed.
    std::fs::remove_dir_all(&pictures).unwrap();
    let out = instance.run(
        &["watch", "rm", canonical.to_str().unwrap()],
        instance.root.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = instance.run(&["watch", "ls", "--json"], instance.root.path());
    assert_eq!(text(&out.stdout).trim(), "[]");

    let out = instance.run(
        &["watch", "rm", canonical.to_str().unwrap()],
        instance.root.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a watched folder"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn watch_add_needs_an_existing_folder() {
    let instance = Instance::new();
    let out = instance.run(&["watch", "add", "no-such-dir"], instance.root.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no-such-dir") && stderr.contains("no such folder"),
        "{stderr}"
    );
    assert!(!instance.config_dir().join("daemon.toml").exists());
}

#[test]
fn daemon_verbs_fail_clearly_without_a_daemon() {
    let instance = Instance::new();
    for args in [
        &["pause"][..],
        &["resume"],
        &["rescan"],
        &["status"],
        &["status", "--json"],
        &["status", "--follow"],
    ] {
        let out = instance.run(args, instance.root.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("daemon is not running") && stderr.contains("imgcloudd"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn backup_commands_say_when_there_is_no_backup() {
    let instance = Instance::new();
    let out = instance.run(&["backup", "verify"], instance.root.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no backup store"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn backup_verify_and_restore_report_and_exit_1_on_damage() {
    use sha2::Digest as _;
    let instance = Instance::new();
    let store_root = instance.root.path().join("data").join("backup");
    let sources = instance.root.path().join("src");
    std::fs::create_dir_all(&sources).unwrap();
    let mut hashes = Vec::new();
    {
        let store = imgcloud_core::backup::BackupStore::open(&store_root).unwrap();
        for (name, bytes) in [("a.png", &b"first image"[..]), ("b.jpg", b"second image")] {
            let path = sources.join(name);
            std::fs::write(&path, bytes).unwrap();
            let sha = hex::encode(sha2::Sha256::digest(bytes));
            store.put(&path, &sha).unwrap();
            hashes.push(sha);
        }
    }

    let out = instance.run(&["backup", "verify", "--json"], instance.root.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["checked"].as_u64(), json["ok"].as_u64()),
        (Some(2), Some(2)),
        "{json}"
    );

    let out_dir = instance.root.path().join("restored");
    let out = instance.run(
        &["backup", "restore", "--to", out_dir.to_str().unwrap()],
        instance.root.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(out_dir.join("a.png")).unwrap(),
        b"first image"
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stdout)
    );

    // Damage one copy: verify names it on stdout and exits 1.
    let object = imgcloud_core::backup::BackupStore::open(&store_root)
        .unwrap()
        .object_path(&hashes[1]);
    let mut perms = std::fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&object, perms).unwrap();
    std::fs::write(&object, b"bit rot").unwrap();
    let out = instance.run(&["backup", "verify"], instance.root.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("corrupt") && stdout.contains(&hashes[1]) && stdout.contains("b.jpg"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("1 ok, 1 corrupt, 0 missing"),
        "{}",
        text(&out.stderr)
    );
}
