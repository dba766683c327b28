//! `imgcloud-server backup …` and `restore` as an operator runs them, on the embedded cloud's
//! database: what they print, their exit codes, and that a damaged file restores nothing.

use std::path::Path;
use std::process::{Command, Output};

fn run(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imgcloud-server"))
        .args(args)
        .env("IMGCLOUD_CONFIG_DIR", root.join("config"))
        .env("IMGCLOUD_DATA_DIR", root.join("data"))
        .env("IMGCLOUD_RUNTIME_DIR", root.join("run"))
        .env_remove("IMGCLOUD_SERVER_CONFIG")
        .output()
        .expect("run imgcloud-server")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn backup_verify_list_and_restore_through_the_binary() {
    let root = tempfile::tempdir().unwrap();
    let backups = root.path().join("backups");
    let backups_arg = backups.to_str().unwrap();

    // No database yet: a clear error, exit 1, no file.
    let none = run(root.path(), &["backup", "--to", backups_arg]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none.stderr));
    assert!(
        text(&none.stderr).contains("nothing to back up"),
        "{}",
        text(&none.stderr)
    );

    assert!(run(root.path(), &["user", "add", "ann"]).status.success());
    let made = run(root.path(), &["backup", "--to", backups_arg]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let file = text(&made.stdout).trim().to_string();
    assert!(
        file.ends_with(".backup") && Path::new(&file).exists(),
        "{file}"
    );
    assert!(
        text(&made.stderr).contains("1 user,"),
        "{}",
        text(&made.stderr)
    );

    let verified = run(root.path(), &["backup", "verify", &file]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(
        text(&verified.stdout).starts_with("ok: sqlite backup of "),
        "{}",
        text(&verified.stdout)
    );
    let listed = run(root.path(), &["backup", "list", backups_arg]);
    assert!(
        text(&listed.stdout).contains(&file),
        "{}",
        text(&listed.stdout)
    );

    // The live database holds ann: refused without --force, and left as it was.
    let refused = run(root.path(), &["restore", &file]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("--force"),
        "{}",
        text(&refused.stderr)
    );

    // A truncated copy: verify and restore say so by name, exit 1, the database is untouched.
    let bytes = std::fs::read(&file).unwrap();
    let cut = root.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let db = root.path().join("data/cloud/imgcloud.db");
    let before = std::fs::read(&db).unwrap();
    for args in [
        vec!["backup", "verify", cut.to_str().unwrap()],
        vec!["restore", "--force", cut.to_str().unwrap()],
    ] {
        let out = run(root.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains("cut.backup is damaged"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // Another user added after the backup is gone once it is restored with --force.
    assert!(run(root.path(), &["user", "add", "bob"]).status.success());
    let restored = run(root.path(), &["restore", "--force", &file]);
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    let users = text(&run(root.path(), &["user", "list", "--json"]).stdout);
    assert!(
        users.contains("\"ann\"") && !users.contains("\"bob\""),
        "{users}"
    );
}
