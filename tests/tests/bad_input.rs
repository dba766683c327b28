//! Bad input: each failing file gets an `error: PATH: reason` line, the good ones still upload
//! (odd names included), and the exit code says something failed.

use imgcloud_tests::{EmbeddedCloud, fetch, jpeg, png, sha256_hex};

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_reported_per_file_and_good_files_still_upload() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");

    // Good images with odd names.
    let good: Vec<(&str, &str, Vec<u8>)> = vec![
        ("my photo (1).jpg", "my photo (1).jpg", jpeg(300, 200, 41)),
        ("фото ü €.png", "фото ü €.png", png(120, 90, 42)),
        ("sub/../x..y.jpg", "x..y.jpg", jpeg(100, 100, 43)),
    ];
    std::fs::create_dir_all(cloud.work_dir.join("sub")).unwrap();
    for (path, _, bytes) in &good {
        cloud.write_file(path, bytes);
    }

    // Bad input.
    cloud.write_file("fake.jpg", b"this is plain text, not a JPEG at all\n");
    cloud.write_file("empty.jpg", b"");
    let whole = jpeg(640, 480, 44);
    cloud.write_file("truncated.jpg", &whole[..whole.len() / 2]);
    // Unreadable even for root: a symlink that points at itself (ELOOP on open).
    std::os::unix::fs::symlink("loop.jpg", cloud.work_dir.join("loop.jpg")).unwrap();
    let mut bad = vec![
        "fake.jpg",
        "empty.jpg",
        "truncated.jpg",
        "loop.jpg",
        "missing.jpg",
    ];
    // chmod 000 only stops non-root users; as root that file would simply upload.
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = cloud.write_file("locked.jpg", &jpeg(50, 50, 45));
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&locked).is_err() {
            bad.push("locked.jpg");
        } else {
            eprintln!(
                "running as root: chmod 000 does not stop reads, so locked.jpg is not tested as unreadable"
            );
            std::fs::remove_file(&locked).unwrap();
        }
    }

    let mut args = vec!["upload"];
    // Interleave good and bad to check order and independence.
    let mut good_iter = good.iter().map(|(path, _, _)| *path);
    for bad_path in &bad {
        if let Some(path) = good_iter.next() {
            args.push(path);
        }
        args.push(bad_path);
    }
    args.extend(good_iter);

    let out = cloud.run_cli(&args);
    assert_eq!(out.code, 1, "some files failed:\n{out}");

    // One error line per bad file, naming it and saying why.
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    for bad_path in &bad {
        let line = errors
            .iter()
            .find(|l| l.starts_with(&format!("error: {bad_path}: ")))
            .unwrap_or_else(|| panic!("no `error: {bad_path}: reason` line:\n{out}"));
        let reason = &line[format!("error: {bad_path}: ").len()..];
        assert!(reason.trim().len() > 3, "the reason is empty: {line}");
    }
    assert_eq!(
        errors.len(),
        bad.len(),
        "exactly one error line per bad file:\n{out}"
    );
    assert!(
        out.stderr.contains(&format!("{} failed", bad.len())),
        "summary:\n{out}"
    );

    // The good ones uploaded, in input order, with readable links serving the exact bytes.
    let links = out.lines();
    assert_eq!(links.len(), good.len(), "{out}");
    for (link, (path, name, bytes)) in links.iter().zip(&good) {
        let decoded = percent_decode(link);
        assert!(
            decoded.ends_with(name),
            "link {link} should end with {name:?} (decoded {decoded})"
        );
        let served = fetch(link).await.unwrap();
        assert_eq!(served.status, 200, "{path}: {link}");
        assert_eq!(sha256_hex(&served.body), sha256_hex(bytes), "{path}");
    }
    assert_eq!(
        cloud
            .run_cli(&["ls", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        good.len()
    );

    // --json has an entry per file, failures included.
    let json = cloud.run_cli(&[&args[..], &["--json"]].concat());
    assert_eq!(json.code, 1);
    let report = json.json();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), good.len() + bad.len(), "{json}");
    for file in files {
        let path = file["path"].as_str().unwrap();
        if bad.contains(&path) {
            assert_eq!(file["status"], "failed", "{file}");
            assert!(
                file["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{file}"
            );
        } else {
            assert_eq!(file["status"], "exists", "{file}");
        }
    }
}

#[test]
fn missing_server_configuration_is_a_usage_error() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    // Point the CLI at an empty config dir: no server, no token.
    let empty = tempfile::tempdir().unwrap();
    let out = cloud.run_cli_with(
        &["ls"],
        &[("IMGCLOUD_CONFIG_DIR", empty.path().to_str().unwrap())],
        None,
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("imgcloud login"),
        "says how to fix it:\n{out}"
    );
    let bad_format = cloud.run_cli(&["link", "x", "--format", "nonsense"]);
    assert_eq!(bad_format.code, 2, "{bad_format}");
}
