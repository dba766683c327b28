//! `imgcloud link/ls/rm/restore/login/config/completions` against a real cloud.

use imgcloud_tests::{EmbeddedCloud, jpeg, png};

#[test]
fn link_formats_rm_restore_round_trip_and_json_parses() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    cloud.write_file("sunset.jpg", &jpeg(640, 400, 61));
    cloud.write_file("chart.png", &png(300, 200, 62));
    let up = cloud.run_cli(&["upload", "sunset.jpg", "chart.png", "--format", "markdown"]);
    up.assert_success();
    let lines = up.lines();
    assert!(
        lines[0].starts_with("![sunset](") && lines[0].ends_with("/sunset.jpg)"),
        "{up}"
    );
    assert!(
        lines[1].starts_with("![chart](") && lines[1].ends_with("/chart.png)"),
        "{up}"
    );

    let images = cloud.run_cli(&["ls", "--json"]).json();
    let images = images.as_array().unwrap().clone();
    assert_eq!(images.len(), 2);
    // Newest first (RFC 3339 UTC strings of one format sort like the times they name).
    let created: Vec<&str> = images
        .iter()
        .map(|i| i["created_at"].as_str().unwrap())
        .collect();
    assert!(created[0] >= created[1], "newest first: {created:?}");
    let sunset = images
        .iter()
        .find(|i| i["filename"] == "sunset.jpg")
        .unwrap();
    let id = sunset["id"].as_str().unwrap();
    let url = sunset["url"].as_str().unwrap();

    for (format, expected) in [
        ("url", url.to_string()),
        ("markdown", format!("![sunset]({url})")),
        ("html", format!("<img src=\"{url}\" alt=\"sunset\">")),
        ("bbcode", format!("[img]{url}[/img]")),
        (
            "{name}.{ext} {width}x{height} {id}",
            format!("sunset.jpg 640x400 {id}"),
        ),
    ] {
        let out = cloud.run_cli(&["link", id, "--format", format]);
        out.assert_success();
        assert_eq!(out.stdout.trim_end(), expected, "--format {format}");
    }
    // Many ids: links in argument order.
    let chart = images
        .iter()
        .find(|i| i["filename"] == "chart.png")
        .unwrap();
    let chart_id = chart["id"].as_str().unwrap();
    let both = cloud.run_cli(&["link", chart_id, id]);
    both.assert_success();
    assert_eq!(both.lines(), [chart["url"].as_str().unwrap(), url]);

    // The table names every image.
    let table = cloud.run_cli(&["ls"]);
    table.assert_success();
    assert!(table.stdout.starts_with("ID"), "{table}");
    assert!(
        table.stdout.contains("sunset.jpg") && table.stdout.contains("640×400"),
        "{table}"
    );
    let search = cloud.run_cli(&["ls", "--json", "--search", "SUN"]).json();
    assert_eq!(search.as_array().map(Vec::len), Some(1), "{search}");
    let limited = cloud.run_cli(&["ls", "--json", "--limit", "1"]).json();
    assert_eq!(limited.as_array().map(Vec::len), Some(1));

    // rm → trash → restore.
    let rm = cloud.run_cli(&["rm", id, "--json"]);
    rm.assert_success();
    assert!(rm.json()[0]["deleted_at"].is_string(), "{rm}");
    let library: Vec<String> = ids(&cloud, &["ls", "--json"]);
    assert_eq!(library, [chart_id.to_string()]);
    assert_eq!(ids(&cloud, &["ls", "--json", "--trash"]), [id.to_string()]);
    let restore = cloud.run_cli(&["restore", id]);
    restore.assert_success();
    assert!(
        restore.stdout.is_empty(),
        "messages go to stderr: {restore}"
    );
    assert_eq!(ids(&cloud, &["ls", "--json"]).len(), 2);
    assert!(ids(&cloud, &["ls", "--json", "--trash"]).is_empty());

    // An unknown id fails with exit 1 and names it; the known one is still handled.
    let partial = cloud.run_cli(&["rm", "AAAAAAAAAAAAAAAA", id]);
    assert_eq!(partial.code, 1, "{partial}");
    assert!(
        partial.stderr.contains("error: AAAAAAAAAAAAAAAA: "),
        "{partial}"
    );
    assert_eq!(ids(&cloud, &["ls", "--json", "--trash"]), [id.to_string()]);

    // --copy without a clipboard warns and still succeeds.
    let copy = cloud.run_cli(&["link", chart_id, "--copy"]);
    copy.assert_success();
    assert_eq!(copy.lines().len(), 1);
    assert!(copy.stderr.contains("clipboard"), "{copy}");
}

fn ids(cloud: &EmbeddedCloud, args: &[&str]) -> Vec<String> {
    let out = cloud.run_cli(args);
    out.assert_success();
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn login_validates_and_stores_the_token_config_and_completions() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let token = cloud.token().unwrap();
    // A fresh client configuration: nothing configured yet.
    let fresh = tempfile::tempdir().unwrap();
    let dir = fresh.path().to_str().unwrap();
    let env = [("IMGCLOUD_CONFIG_DIR", dir)];

    let wrong = cloud.run_cli_with(
        &["login", &cloud.api_url, "--token-stdin"],
        &env,
        Some(b"wrong-token\n"),
    );
    assert_eq!(wrong.code, 1, "{wrong}");
    assert!(
        wrong.stderr.contains(&cloud.api_url),
        "names the server: {wrong}"
    );
    assert!(
        !fresh.path().join("config.toml").exists(),
        "nothing saved after a failed login"
    );

    let login = cloud.run_cli_with(
        &["login", &cloud.api_url, "--token-stdin"],
        &env,
        Some(format!("{token}\n").as_bytes()),
    );
    login.assert_success();
    assert!(
        !login.stderr.contains(&token) && !login.stdout.contains(&token),
        "never prints the token"
    );
    let config = std::fs::read_to_string(fresh.path().join("config.toml")).unwrap();
    assert!(config.contains(&cloud.api_url), "{config}");
    assert!(!config.contains(&token), "no secret in config.toml");

    // Logged in: the CLI works with the fresh config dir.
    let ls = cloud.run_cli_with(&["ls", "--json"], &env, None);
    ls.assert_success();

    let path = cloud.run_cli_with(&["config", "path"], &env, None);
    assert_eq!(
        path.stdout.trim(),
        fresh.path().join("config.toml").to_str().unwrap()
    );
    let show = cloud.run_cli_with(
        &["config", "show", "--server", "http://other:1"],
        &env,
        None,
    );
    show.assert_success();
    assert!(
        show.stdout.contains("http://other:1"),
        "flags win over the file: {show}"
    );

    let completions = cloud.run_cli(&["completions", "bash"]);
    completions.assert_success();
    assert!(completions.stdout.contains("imgcloud") && completions.stdout.contains("upload"));
    let help = cloud.run_cli(&[]);
    help.assert_success();
    assert!(help.stdout.contains("Usage"), "{help}");
}
