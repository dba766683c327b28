//! Which files an upload covers ([`expand_inputs`]) and the filename each is sent under.

use std::io;
use std::path::{Path, PathBuf};

use super::UploadError;
use crate::probe::has_image_extension;

/// Expands inputs into the files to upload, in order: a file stands for itself (always tried,
/// whatever its extension); a directory for the image files under it (by extension, sorted by
/// path, hidden entries skipped); a missing path for an error.
pub fn expand_inputs(inputs: &[PathBuf]) -> Vec<Result<PathBuf, UploadError>> {
    let mut out = Vec::new();
    for input in inputs {
        match std::fs::metadata(input) {
            Err(e) => out.push(Err(UploadError::from_io(input, e))),
            Ok(meta) if meta.is_dir() => {
                let walker = walkdir::WalkDir::new(input)
                    .follow_links(true)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));
                for entry in walker {
                    match entry {
                        Ok(entry)
                            if entry.file_type().is_file() && has_image_extension(entry.path()) =>
                        {
                            out.push(Ok(entry.into_path()))
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let path = e.path().map_or_else(|| input.clone(), Path::to_path_buf);
                            let source = e
                                .into_io_error()
                                .unwrap_or_else(|| io::Error::other("symbolic link loop"));
                            out.push(Err(UploadError::Unreadable { path, source }));
                        }
                    }
                }
            }
            Ok(_) => out.push(Ok(input.clone())),
        }
    }
    out
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.'))
}

/// The filename to send: the path's last component, shortened (keeping the extension) to fit
/// `max_bytes`.
pub(super) fn upload_filename(path: &Path, max_bytes: usize) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "image".to_string(), |n| n.to_string_lossy().into_owned());
    if max_bytes == 0 || name.len() <= max_bytes {
        return name;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => (&name[..dot], &name[dot..]),
        _ => (name.as_str(), ""),
    };
    let mut cut = max_bytes.saturating_sub(ext.len()).min(stem.len());
    while cut > 0 && !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_directories_sorted_images_only_and_keeps_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "b/2.JPG",
            "a.png",
            "c.txt",
            "b/1.jpeg",
            ".x.jpg",
            ".hidden/h.jpg",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let named = dir.path().join("notes.txt");
        std::fs::write(&named, b"x").unwrap();
        let missing = dir.path().join("nope.jpg");
        let out = expand_inputs(&[named.clone(), root.clone(), missing.clone()]);
        let shown: Vec<String> = out
            .iter()
            .map(|r| match r {
                Ok(p) => p.strip_prefix(dir.path()).unwrap().display().to_string(),
                Err(e) => format!("error:{}", e.code()),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "notes.txt",
                "photos/a.png",
                "photos/b/1.jpeg",
                "photos/b/2.JPG",
                "error:missing"
            ]
        );
    }

    #[test]
    fn long_filenames_are_shortened_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(200));
        let name = upload_filename(Path::new(&long), 255);
        assert!(name.len() <= 255 && name.ends_with(".jpeg"), "{name}");
        assert_eq!(upload_filename(Path::new("dir/a.png"), 255), "a.png");
    }
}
