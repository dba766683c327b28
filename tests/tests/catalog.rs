//! The local catalog against the real server: filled from the change feed, following trash and
//! purge, asking only for what changed after a reopen, one file per user.

use imgcloud_core::catalog::{Applied, Counts, Query, location, sync};
use imgcloud_core::paths::Dirs;
use imgcloud_tests::{EmbeddedCloud, jpeg};

fn dirs(cloud: &EmbeddedCloud) -> Dirs {
    let root = cloud.work_dir.join("client");
    Dirs::resolve(|name| match name {
        "IMGCLOUD_CONFIG_DIR" => Some(root.join("config")),
        "IMGCLOUD_DATA_DIR" => Some(root.join("data")),
        _ => None,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_follows_the_change_feed_of_the_logged_in_user() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    for (i, name) in ["beach.jpg", "cat.jpg", "dog.jpg"].into_iter().enumerate() {
        cloud.write_file(name, &jpeg(320, 240, i as u64 + 1));
    }
    cloud
        .run_cli(&["upload", "beach.jpg", "cat.jpg", "dog.jpg"])
        .assert_success();
    let client = cloud.client().unwrap();
    let dirs = dirs(&cloud);

    let (catalog, me) = sync::open_for(&dirs, &client).await.unwrap();
    assert_eq!(
        location::last_user(&dirs, client.server()).as_deref(),
        Some(me.user_id.as_str())
    );
    assert!(catalog.path().starts_with(dirs.catalogs()));
    assert_eq!(catalog.since().unwrap(), 0);
    let applied = catalog.sync(&client).await.unwrap();
    assert_eq!(applied.upserts, 3);
    assert_eq!(
        catalog.counts().unwrap(),
        Counts {
            library: 3,
            trash: 0
        }
    );
    let found = catalog
        .images(&Query {
            search: "CAT".to_string(),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(found.len(), 1);
    let cat = found[0].clone();
    assert_eq!(cat.filename, "cat.jpg");
    assert_eq!(catalog.get(&cat.id).unwrap().unwrap(), cat);
    let position = catalog.since().unwrap();
    assert!(position > 0);

    // Trash: the image moves to the trash view, the position moves on.
    client.trash(&cat.id).await.unwrap();
    assert_eq!(
        catalog.sync(&client).await.unwrap(),
        Applied {
            upserts: 1,
            purges: 0
        }
    );
    assert_eq!(
        catalog.counts().unwrap(),
        Counts {
            library: 2,
            trash: 1
        }
    );
    assert!(catalog.since().unwrap() > position);

    // Reopened (a restart): the position is kept, and the feed has nothing new to send.
    let position = catalog.since().unwrap();
    drop(catalog);
    let (catalog, _) = sync::open_for(&dirs, &client).await.unwrap();
    assert_eq!(catalog.since().unwrap(), position);
    assert_eq!(catalog.sync(&client).await.unwrap(), Applied::default());
    assert_eq!(catalog.counts().unwrap().trash, 1);

    // Purge: gone for good.
    client.purge(&cat.id).await.unwrap();
    assert_eq!(catalog.sync(&client).await.unwrap().purges, 1);
    assert_eq!(catalog.get(&cat.id).unwrap(), None);
    assert_eq!(
        catalog.counts().unwrap(),
        Counts {
            library: 2,
            trash: 0
        }
    );

    // Another user on the same server gets a catalog of their own.
    let other = cloud.client_for(&cloud.add_user("other").unwrap()).unwrap();
    let (theirs, them) = sync::open_for(&dirs, &other).await.unwrap();
    assert_ne!(theirs.path(), catalog.path());
    theirs.sync(&other).await.unwrap();
    assert_eq!(theirs.counts().unwrap(), Counts::default());
    assert_eq!(
        location::last_user(&dirs, client.server()).as_deref(),
        Some(them.user_id.as_str())
    );
    assert_eq!(
        catalog.counts().unwrap().library,
        2,
        "the first user's catalog is untouched"
    );
}
