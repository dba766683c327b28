//! A watched folder can feed an album and choose its images' visibility:
//! `imgcloud watch add DIR --album Screens --private` puts every new image of DIR in the album
//! "Screens" (created on the first one) as a private image, while the daemon's other folder
//! keeps the account's default (public).

use std::time::Duration;

use imgcloud_core::api::Visibility;
use imgcloud_tests::{SyncDaemon, jpeg, png};

#[tokio::test(flavor = "multi_thread")]
async fn a_watched_folder_feeds_an_album_with_private_images() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    daemon.start().unwrap();
    let screens = daemon.outside_dir.join("Screens");
    std::fs::create_dir_all(&screens).unwrap();
    let out = daemon.cli(&[
        "watch",
        "add",
        screens.to_str().unwrap(),
        "--album",
        "Screens",
        "--private",
    ]);
    out.assert_success();
    let listed = daemon.cli(&["watch", "ls"]);
    assert!(
        listed.stdout.contains("private") && listed.stdout.contains("album Screens"),
        "{}",
        listed.stdout
    );

    std::fs::write(screens.join("shot-1.png"), png(300, 200, 1)).unwrap();
    std::fs::write(screens.join("shot-2.png"), png(300, 200, 2)).unwrap();
    std::fs::write(daemon.watch_dir.join("photo.jpg"), jpeg(300, 200, 3)).unwrap();
    daemon.wait_synced(3, Duration::from_secs(60)).unwrap();

    let client = daemon.client().unwrap();
    let albums = client.albums().await.unwrap().albums;
    assert_eq!(albums.len(), 1, "{albums:?}");
    assert_eq!(
        (albums[0].name.as_str(), albums[0].image_count),
        ("Screens", 2)
    );
    let detail = client.album(&albums[0].id).await.unwrap();
    let mut names: Vec<&str> = detail.images.iter().map(|i| i.filename.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["shot-1.png", "shot-2.png"]);
    assert!(
        detail
            .images
            .iter()
            .all(|i| i.visibility == Visibility::Private),
        "the folder's images are private"
    );
    let page = client.list_images(&Default::default()).await.unwrap();
    let photo = page
        .items
        .iter()
        .find(|i| i.filename == "photo.jpg")
        .unwrap();
    assert_eq!(
        photo.visibility,
        Visibility::Public,
        "the other folder keeps the default"
    );
    daemon.stop().unwrap();
}
