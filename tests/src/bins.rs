//! Finding the workspace's binaries from a test executable.

use std::path::PathBuf;

/// `target/<profile>/NAME`: test executables live in `target/<profile>/deps/`. The environment
/// variable `IMGCLOUD_BIN_DIR` overrides the directory.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("IMGCLOUD_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe()?;
            let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        path.is_file(),
        "{} not found: build it first with `cargo build -p imgcloud-server -p imgcloud-tui` \
         (same profile as the tests) or point IMGCLOUD_BIN_DIR at it",
        path.display()
    );
    Ok(path)
}
