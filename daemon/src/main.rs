//! `imgcloudd`, the background sync daemon.
//!
//! Folder watching, the persistent upload queue, the backup copy, local IPC and the
//! PicGo-compatible endpoint are not built yet. Until they are, the binary says so plainly
//! instead of pretending to sync, and points at what works today.

use std::process::ExitCode;

use clap::Parser;

/// imgcloudd: watches folders and uploads new images to imgcloud (not available yet).
#[derive(Debug, Parser)]
#[command(name = "imgcloudd", version)]
struct Cli {
    /// Folders to watch.
    folders: Vec<std::path::PathBuf>,
}

const NOT_YET: &str = "imgcloudd: folder sync is not available in this version yet.\n\
    To upload now: start the embedded cloud with `imgcloud-server`, then run \
    `imgcloud upload FILES|DIRS…`.";

fn main() -> ExitCode {
    let _cli = Cli::parse();
    eprintln!("{NOT_YET}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent_and_takes_folders() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["imgcloudd", "a", "b"]).unwrap();
        assert_eq!(cli.folders.len(), 2);
    }

    #[test]
    fn the_message_points_at_what_works_today() {
        assert!(NOT_YET.contains("imgcloud-server") && NOT_YET.contains("imgcloud upload"));
    }
}
