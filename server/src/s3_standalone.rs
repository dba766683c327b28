//! `imgcloud-server s3`: the embedded S3-compatible store on its own, as a service of the
//! production-like local stack (`scripts/stack.sh`) and of tests.
//!
//! It is the same store as the embedded mode's ([`crate::embedded_s3`]): SigV4 required for
//! every request but anonymous `GetObject`/`HeadObject` of public image objects (`i/`, `t/`:
//! a public-read bucket behind a CDN).
//! The one key pair comes from `IMGCLOUD_S3_ACCESS_KEY` / `IMGCLOUD_S3_SECRET_KEY` (never from
//! the command line, where `ps` would show it, and never logged). The bucket is a directory
//! under the data directory, created at start.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::embedded_s3;

/// Environment variable holding the access key id.
pub const ACCESS_KEY_VAR: &str = "IMGCLOUD_S3_ACCESS_KEY";
/// Environment variable holding the secret key.
pub const SECRET_KEY_VAR: &str = "IMGCLOUD_S3_SECRET_KEY";

/// What `imgcloud-server s3` runs.
#[derive(Clone)]
pub struct StandaloneS3Options {
    pub listen: SocketAddr,
    /// Root directory: one sub-directory per bucket.
    pub data: PathBuf,
    /// Bucket created at start (if missing).
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for StandaloneS3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandaloneS3Options")
            .field("listen", &self.listen)
            .field("data", &self.data)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"** redacted **")
            .finish()
    }
}

impl StandaloneS3Options {
    /// Options with the key pair read from the environment; fails naming the missing variable.
    pub fn from_env(listen: SocketAddr, data: PathBuf, bucket: String) -> anyhow::Result<Self> {
        Self::from_vars(listen, data, bucket, |name| std::env::var(name).ok())
    }

    /// Same as [`StandaloneS3Options::from_env`] with an explicit lookup (for tests).
    pub fn from_vars(
        listen: SocketAddr,
        data: PathBuf,
        bucket: String,
        var: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .with_context(|| {
                    format!(
                        "{name} is not set: the S3 store needs a key pair from \
                         {ACCESS_KEY_VAR} and {SECRET_KEY_VAR} (never on the command line)"
                    )
                })
        };
        let access_key = get(ACCESS_KEY_VAR)?;
        let secret_key = get(SECRET_KEY_VAR)?;
        if !is_valid_bucket_dir(&bucket) {
            anyhow::bail!(
                "--bucket {bucket:?}: a bucket name is 3-63 lower-case letters, digits, `-` or \
                 `.`, starting and ending with a letter or digit"
            );
        }
        Ok(Self {
            listen,
            data,
            bucket,
            access_key,
            secret_key,
        })
    }
}

fn is_valid_bucket_dir(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

/// Starts the store, prints exactly one line `ready http://ADDR` to stdout once it accepts
/// connections, and serves until `shutdown` resolves (then closes its connections and returns).
pub async fn run(
    options: StandaloneS3Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let bucket_dir = options.data.join(&options.bucket);
    tokio::fs::create_dir_all(&bucket_dir)
        .await
        .with_context(|| {
            format!(
                "cannot create the bucket directory {}",
                bucket_dir.display()
            )
        })?;
    let store = embedded_s3::start(
        &options.data,
        options.listen,
        &options.access_key,
        &options.secret_key,
    )
    .await?;
    tracing::info!(
        endpoint = %store.endpoint(),
        bucket = %options.bucket,
        data = %options.data.display(),
        "S3 store ready (signed writes, anonymous GET/HEAD of i/ and t/ objects)"
    );
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready http://{}", store.addr)?;
        stdout.flush()?;
    }
    shutdown.await;
    store.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<StandaloneS3Options> {
        StandaloneS3Options::from_vars(
            "127.0.0.1:0".parse().unwrap(),
            PathBuf::from("data"),
            "imgcloud".into(),
            var,
        )
    }

    #[test]
    fn credentials_come_from_the_environment_and_are_never_printed() {
        let err = opts(|_| None).unwrap_err().to_string();
        assert!(err.contains(ACCESS_KEY_VAR), "{err}");
        let err = opts(|n| (n == ACCESS_KEY_VAR).then(|| "AK".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(SECRET_KEY_VAR), "{err}");
        let o = opts(|n| match n {
            ACCESS_KEY_VAR => Some("AK".into()),
            SECRET_KEY_VAR => Some("very-secret-value".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(o.secret_key, "very-secret-value");
        assert!(!format!("{o:?}").contains("very-secret-value"));
    }

    #[test]
    fn bucket_names_that_are_no_s3_bucket_are_refused() {
        let var = |n: &str| Some(format!("{n}-value"));
        for bad in ["ab", "Images", "../x", "a..b", "-abc", "abc/def"] {
            let err = StandaloneS3Options::from_vars(
                "127.0.0.1:0".parse().unwrap(),
                PathBuf::from("data"),
                bad.into(),
                var,
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("--bucket"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn serves_anonymous_reads_and_refuses_anonymous_writes() {
        let dir = tempfile::tempdir().unwrap();
        let options = StandaloneS3Options {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: dir.path().to_path_buf(),
            bucket: "imgcloud".into(),
            access_key: "AKSTANDALONE".into(),
            secret_key: "secret-standalone".into(),
        };
        std::fs::create_dir_all(dir.path().join("imgcloud/i/abc")).unwrap();
        std::fs::write(dir.path().join("imgcloud/i/abc/hello.txt"), b"hi").unwrap();
        std::fs::create_dir_all(dir.path().join("imgcloud/p/i/abc")).unwrap();
        std::fs::write(dir.path().join("imgcloud/p/i/abc/secret.txt"), b"no").unwrap();
        let store = embedded_s3::start(
            &options.data,
            options.listen,
            &options.access_key,
            &options.secret_key,
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}imgcloud/i/abc/hello.txt", store.endpoint());
        let got = http.get(&url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), b"hi");
        let put = http.put(&url).body("evil").send().await.unwrap();
        assert_eq!(put.status(), 403, "anonymous PUT must be refused");
        assert_eq!(
            std::fs::read(dir.path().join("imgcloud/i/abc/hello.txt")).unwrap(),
            b"hi"
        );
        // Private objects (p/) and anything outside i/ and t/ need a signature.
        let private = format!("{}imgcloud/p/i/abc/secret.txt", store.endpoint());
        assert_eq!(http.get(&private).send().await.unwrap().status(), 403);
        store.shutdown().await;
    }
}
