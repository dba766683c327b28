//! `imgcloudd`, the background sync daemon: watched folders to the cloud, with a verified
//! local backup copy. The logic lives in the library (`imgcloud_daemon::run`); this is the
//! command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use imgcloud_core::paths::Dirs;
use imgcloud_daemon::cloud::CloudOptions;
use imgcloud_daemon::run::RunOptions;

/// imgcloudd: watches folders and uploads new images to imgcloud, keeping a verified backup
/// copy. With no cloud configured it hosts the embedded all-in-one cloud itself.
#[derive(Debug, Parser)]
#[command(name = "imgcloudd", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// API address of the embedded cloud (default 127.0.0.1:8420; 127.0.0.1:0 picks a port).
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Address of the embedded S3 store (default 127.0.0.1:8421).
    #[arg(long, global = true, value_name = "ADDR")]
    s3_listen: Option<SocketAddr>,
    /// URL clients use to reach the embedded store, when a proxy sits in front of it.
    #[arg(long, global = true, value_name = "URL")]
    s3_endpoint: Option<url::Url>,
    /// Embedded cloud: files of at least this many bytes go up in parts.
    #[arg(
        long,
        global = true,
        env = "IMGCLOUD_MULTIPART_CUTOFF",
        value_name = "BYTES"
    )]
    multipart_cutoff: Option<u64>,
    /// Embedded cloud: smallest multipart part, in bytes.
    #[arg(
        long,
        global = true,
        env = "IMGCLOUD_MIN_PART_SIZE",
        value_name = "BYTES"
    )]
    min_part_size: Option<u64>,
    /// Do not serve the PicGo-compatible endpoint.
    #[arg(long, global = true)]
    no_picgo: bool,
    /// Address of the PicGo-compatible endpoint (loopback only; default 127.0.0.1:36677).
    #[arg(long, global = true, value_name = "ADDR", conflicts_with = "no_picgo")]
    picgo_listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sync the folders of daemon.toml (the default).
    Run,
    /// Add these folders to daemon.toml and sync; prints `<path>\t<link>` per new upload.
    Watch {
        /// Folders to watch (they must exist).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
    /// Write a systemd user unit (~/.config/systemd/user/imgcloudd.service) for this binary.
    InstallService {
        /// Print the unit on stdout instead of writing it.
        #[arg(long)]
        print: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::InstallService { print }) = &cli.command {
        return report(imgcloud_daemon::service::install(*print));
    }
    let dirs = match Dirs::from_env() {
        Ok(dirs) => dirs,
        Err(e) => return report(Err(e.into())),
    };
    let log = imgcloud_daemon::logging::init(&dirs.daemon_state().join("logs"));
    let (add_folders, print_links) = match cli.command {
        Some(Command::Watch { dirs }) => (dirs, true),
        _ => (Vec::new(), false),
    };
    let options = RunOptions {
        dirs,
        cloud: CloudOptions {
            listen: cli.listen,
            s3_listen: cli.s3_listen,
            s3_endpoint: cli.s3_endpoint,
            multipart_cutoff: cli.multipart_cutoff,
            min_part_size: cli.min_part_size,
        },
        add_folders,
        print_links,
        no_picgo: cli.no_picgo,
        picgo_listen: cli.picgo_listen,
        log_dir: log.dir.clone(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return report(Err(e.into())),
    };
    let result = runtime.block_on(imgcloud_daemon::run::run(options));
    // Blocking tasks still running (a hash of a big file) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    drop(log);
    report(result)
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgcloudd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_go_before_or_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "imgcloudd",
            "--no-picgo",
            "watch",
            "/a",
            "/b",
            "--listen",
            "127.0.0.1:0",
            "--s3-listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert!(cli.no_picgo);
        assert_eq!(cli.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert!(matches!(cli.command, Some(Command::Watch { ref dirs }) if dirs.len() == 2));
        assert!(Cli::try_parse_from(["imgcloudd", "watch"]).is_err());
        let cli = Cli::try_parse_from(["imgcloudd", "install-service", "--print"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::InstallService { print: true })
        ));
        assert!(
            Cli::try_parse_from(["imgcloudd"])
                .unwrap()
                .command
                .is_none()
        );
    }
}
