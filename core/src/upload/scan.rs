//! The scan stage: read each file once, hash it (whole and per part), probe it, and make sure
//! it did not change while being read.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::UploadError;
use crate::api::{Limits, multipart_part_size};
use crate::probe::{self, Probe};

/// The whole-file and per-part hashes of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    pub size: u64,
    pub sha256: String,
    /// Present when `size >= multipart_cutoff`: hex SHA-256 of each part.
    pub parts: Option<Vec<String>>,
    pub part_size: Option<u64>,
}

/// Hashes `len` bytes from `reader`: the whole, and per part when `part_size` is given.
fn hash_stream<R: Read>(
    mut reader: R,
    part_size: Option<u64>,
) -> io::Result<(u64, String, Option<Vec<String>>)> {
    let mut whole = Sha256::new();
    let mut part = Sha256::new();
    let mut in_part = 0u64;
    let mut parts = part_size.map(|_| Vec::new());
    let mut total = 0u64;
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        let mut chunk = &buf[..n];
        whole.update(chunk);
        if let (Some(size), Some(parts)) = (part_size, parts.as_mut()) {
            while !chunk.is_empty() {
                let take = (size - in_part).min(chunk.len() as u64) as usize;
                part.update(&chunk[..take]);
                in_part += take as u64;
                chunk = &chunk[take..];
                if in_part == size {
                    parts.push(hex::encode(part.finalize_reset()));
                    in_part = 0;
                }
            }
        }
    }
    if let Some(parts) = parts.as_mut()
        && (in_part > 0 || parts.is_empty())
    {
        parts.push(hex::encode(part.finalize()));
    }
    Ok((total, hex::encode(whole.finalize()), parts))
}

/// Hashes the file at `path` for an upload under `limits` (per-part hashes at or above the
/// multipart cutoff, cut at [`multipart_part_size`]).
pub fn hash_file(path: &Path, limits: &Limits) -> io::Result<FileHashes> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let part_size =
        (size >= limits.multipart_cutoff).then(|| multipart_part_size(size, limits.min_part_size));
    let (read, sha256, parts) = hash_stream(file, part_size)?;
    Ok(FileHashes {
        size: read,
        sha256,
        parts,
        part_size,
    })
}

/// A file read, hashed and probed.
pub(super) struct Scanned {
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) modified: Option<SystemTime>,
    pub(super) hashes: FileHashes,
    pub(super) probe: Probe,
    /// The bytes, when the file is small enough to keep.
    pub(super) data: Option<Bytes>,
}

pub(super) fn stat(path: &Path) -> Result<(u64, Option<SystemTime>), UploadError> {
    let meta = std::fs::metadata(path).map_err(|e| UploadError::from_io(path, e))?;
    if !meta.is_file() {
        return Err(UploadError::Unreadable {
            path: path.to_path_buf(),
            source: io::Error::other("not a regular file"),
        });
    }
    Ok((meta.len(), meta.modified().ok()))
}

pub(super) fn scan_file(
    path: &Path,
    limits: &Limits,
    in_memory_max: u64,
) -> Result<Scanned, UploadError> {
    let (size, modified) = stat(path)?;
    if size == 0 {
        return Err(UploadError::Empty {
            path: path.to_path_buf(),
        });
    }
    if size > limits.max_upload_bytes {
        return Err(UploadError::TooLarge {
            path: path.to_path_buf(),
            detail: format!(
                "{size} bytes, the server accepts at most {}",
                limits.max_upload_bytes
            ),
        });
    }
    let io_err = |e| UploadError::from_io(path, e);
    let part_size =
        (size >= limits.multipart_cutoff).then(|| multipart_part_size(size, limits.min_part_size));
    let (hashes, data) = if size <= in_memory_max && part_size.is_none() {
        let mut data = Vec::with_capacity(size as usize + 1);
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_err)?;
        // Hashed where it lies (no copy through a read buffer).
        (
            FileHashes {
                size: data.len() as u64,
                sha256: hex::encode(Sha256::digest(&data)),
                parts: None,
                part_size,
            },
            Some(Bytes::from(data)),
        )
    } else {
        let file = File::open(path).map_err(io_err)?;
        let (read, sha256, parts) = hash_stream(file, part_size).map_err(io_err)?;
        (
            FileHashes {
                size: read,
                sha256,
                parts,
                part_size,
            },
            None,
        )
    };
    let probed = match &data {
        Some(bytes) => probe::probe_bytes(bytes),
        None => probe::probe_file(path),
    };
    if hashes.size != size || stat(path)? != (size, modified) {
        return Err(UploadError::Changed {
            path: path.to_path_buf(),
        });
    }
    let probe = probed.map_err(|e| UploadError::from_probe(path, e))?;
    if probe.pixels() > limits.max_pixels {
        return Err(UploadError::TooLarge {
            path: path.to_path_buf(),
            detail: format!(
                "{}×{} is {} pixels, the server accepts at most {}",
                probe.width,
                probe.height,
                probe.pixels(),
                limits.max_pixels
            ),
        });
    }
    Ok(Scanned {
        path: path.to_path_buf(),
        size,
        modified,
        hashes,
        probe,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::jpeg_bytes;

    fn limits() -> Limits {
        Limits {
            max_upload_bytes: 1 << 30,
            multipart_cutoff: 64 << 20,
            min_part_size: 8 << 20,
            max_filename_bytes: 255,
            max_pixels: 100_000_000,
            max_batch: 100,
        }
    }

    #[test]
    fn part_hashes_match_independent_slices() {
        let data: Vec<u8> = (0..2_500_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, &data).unwrap();
        let limits = Limits {
            multipart_cutoff: 1_000_000,
            min_part_size: 1_000_000,
            ..limits()
        };
        let hashes = hash_file(&path, &limits).unwrap();
        assert_eq!(hashes.part_size, Some(1_000_000));
        let expected: Vec<String> = data
            .chunks(1_000_000)
            .map(|c| hex::encode(Sha256::digest(c)))
            .collect();
        assert_eq!(hashes.parts.as_ref().unwrap(), &expected);
        assert_eq!(expected.len(), 3);
        assert_eq!(hashes.sha256, hex::encode(Sha256::digest(&data)));

        // Below the cutoff: no parts.
        let small = hash_file(
            &path,
            &Limits {
                multipart_cutoff: 3_000_000,
                ..limits
            },
        )
        .unwrap();
        assert_eq!((small.parts, small.part_size), (None, None));
    }

    #[test]
    fn exact_multiple_of_the_part_size_has_no_empty_last_part() {
        let data = vec![5u8; 2 * 4096];
        let (_, _, parts) = hash_stream(data.as_slice(), Some(4096)).unwrap();
        let parts = parts.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], hex::encode(Sha256::digest(&data[4096..])));
    }

    #[test]
    fn scan_rejects_bad_files_with_named_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, Vec<u8>, &str); 3] = [
            ("empty.jpg", vec![], "empty"),
            ("text.jpg", b"just some text".to_vec(), "not_an_image"),
            ("cut.jpg", jpeg_bytes(64, 64)[..300].to_vec(), "truncated"),
        ];
        for (name, bytes, code) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let err = scan_file(&path, &limits(), 1 << 20).err().unwrap();
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(name), "{err}");
        }
        let big = dir.path().join("big.jpg");
        std::fs::write(&big, jpeg_bytes(100, 100)).unwrap();
        let err = scan_file(
            &big,
            &Limits {
                max_pixels: 9_999,
                ..limits()
            },
            1 << 20,
        )
        .err()
        .unwrap();
        assert_eq!(err.code(), "too_large", "{err}");
        let ok = scan_file(&big, &limits(), 1 << 20).unwrap();
        assert_eq!((ok.probe.width, ok.probe.height), (100, 100));
        assert!(ok.data.is_some());
        let streamed = scan_file(&big, &limits(), 10).unwrap();
        assert!(streamed.data.is_none());
        assert_eq!(streamed.hashes, ok.hashes);
    }
}
