//! On the production stack (2 replicas, PostgreSQL, nginx as CDN): a cold derivative asked for
//! 20 times at once, on both replicas, is made once; the CDN serves it from the store or, on a
//! miss, from a replica, and caches it.

use imgcloud_core::upload::{UploadOptions, upload_paths};
use imgcloud_tests::{Stack, fetch, jpeg};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn twenty_concurrent_requests_on_two_replicas_make_one_derivative() {
    let stack = Stack::up().expect("stack up");
    assert_eq!(stack.replicas.len(), 2);
    let client = stack.client().unwrap();
    let path = stack.write_file("cold.jpg", &jpeg(2400, 1600, 77));
    let outcomes = upload_paths(&client, &[path], &UploadOptions::default(), |_| {}).await;
    let image = outcomes
        .into_iter()
        .next()
        .unwrap()
        .result
        .expect("upload through the stack")
        .image;
    // (The background queue may reach the thumbnail first: it takes the same claim, so one
    // generation is still all there may be.)
    // Straight to the replicas (the CDN would fold concurrent misses into one request).
    let requests = (0..20).map(|i| {
        let replica = stack.replicas[i % 2].clone();
        let url = format!("{replica}/t/{}/320.jpg", image.id);
        tokio::spawn(async move { fetch(&url).await.unwrap() })
    });
    let answers = futures::future::join_all(requests).await;
    let first = answers[0].as_ref().unwrap().body.clone();
    for answer in &answers {
        let answer = answer.as_ref().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.body, first, "every request gets the same derivative");
        assert_eq!(answer.header("cache-control"), Some("public, max-age=60"));
    }
    assert_eq!(image::load_from_memory(&first).unwrap().width(), 320);
    let made = stack
        .metric_per_replica(
            "imgcloud_derivatives_generated_total",
            &["preset=\"thumb\""],
        )
        .await
        .unwrap();
    assert_eq!(
        made.iter().sum::<f64>(),
        1.0,
        "one generation across both replicas: {made:?}"
    );

    // Through the CDN: the stored thumbnail, then a cache HIT; the preview, made by the queue or
    // on this miss, likewise.
    for url in [&image.thumb_url, &image.preview_url] {
        assert!(url.starts_with(&stack.cdn), "{url}");
        let cold = fetch(url).await.unwrap();
        assert_eq!(cold.status, 200, "{url}: {}", cold.text());
        let warm = fetch(url).await.unwrap();
        assert_eq!(warm.header("x-cache-status"), Some("HIT"), "{url}");
        assert_eq!(warm.body, cold.body);
    }
    // Unknown presets stay 404 through the CDN too.
    let unknown = image.thumb_url.replace("/320.jpg", "/640.jpg");
    assert_eq!(fetch(&unknown).await.unwrap().status, 404);
}
