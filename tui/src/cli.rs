//! Command-line syntax (clap derive). Parsing only: the commands live in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// imgcloud: upload images and share their links from the terminal.
///
/// Results (links, JSON) go to stdout; progress, warnings and errors go to stderr, so
/// `imgcloud upload *.png | xargs …` and `imgcloud ls --json | jq` work as expected.
#[derive(Debug, Parser)]
#[command(name = "imgcloud", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Server base URL (overrides the configuration file).
    #[arg(long, global = true, env = "IMGCLOUD_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Log what happens on stderr (-v info, -vv debug); `RUST_LOG` also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload files and directories; prints one link per image, in input order.
    Upload(UploadArgs),
    /// List your images (newest first).
    Ls(LsArgs),
    /// Print the link of images in any format.
    Link(LinkArgs),
    /// Move images to the trash (`imgcloud restore` brings them back).
    Rm(IdsArgs),
    /// Bring images back from the trash.
    Restore(IdsArgs),
    /// Make images public (a permanent link, for documents) or private (no public link).
    Visibility(VisibilityArgs),
    /// Make a share link to images or an album (expiry, password, view limit), or revoke one.
    Share(ShareArgs),
    /// List your share links with their views and visitors.
    Shares(SharesArgs),
    /// Albums: list, create, show, rename, describe, add, remove, reorder, set a cover, delete.
    Album(AlbumArgs),
    /// Show or change your account's defaults: visibility of uploads, share-link expiry.
    Defaults(DefaultsArgs),
    /// Log in to a server (user name and password, or an API token) and remember it.
    Login(LoginArgs),
    /// List your API tokens (one per logged-in device), or revoke one.
    Tokens(TokensArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Show the client configuration.
    Config(ConfigArgs),
    /// Show what the sync daemon (imgcloudd) is doing, or follow its events live.
    Status(StatusArgs),
    /// Manage the folders the sync daemon watches (works whether it runs or not).
    Watch(WatchArgs),
    /// Pause the sync daemon's uploads (files are still noticed and queued).
    Pause,
    /// Resume the sync daemon's uploads.
    Resume,
    /// Make the sync daemon rescan every watched folder now.
    Rescan,
    /// Check or restore the local backup copies the sync daemon keeps.
    Backup(BackupArgs),
    /// The sync daemon's PicGo endpoint (Typora, Obsidian): its key.
    Picgo(PicgoArgs),
}

#[derive(Debug, Args)]
pub struct PicgoArgs {
    #[command(subcommand)]
    pub action: PicgoAction,
}

#[derive(Debug, Subcommand)]
pub enum PicgoAction {
    /// Print the key PicGo clients must send (`/upload?key=KEY`), making one first if there
    /// is none. Once a key exists, requests without it are refused. It lives in the OS
    /// keyring, never in daemon.toml or a log.
    Key {
        /// Replace the key with a new one (clients with the old one are refused).
        #[arg(long, conflicts_with = "off")]
        new: bool,
        /// Forget the key: the endpoint no longer asks for one.
        #[arg(long)]
        off: bool,
    },
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Image files, or directories to upload recursively.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub format: FormatArg,
    /// Also copy the links (newline-separated) to the clipboard.
    #[arg(long)]
    pub copy: bool,
    /// Print one JSON document with an entry per file (failures included) instead of links.
    #[arg(long)]
    pub json: bool,
    /// Files uploaded at the same time (default from the configuration: 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// Upload as private images: no public link (share them with `imgcloud share`).
    #[arg(long, conflicts_with = "public")]
    pub private: bool,
    /// Upload as public images (a permanent link), whatever the account's default.
    #[arg(long)]
    pub public: bool,
}

impl UploadArgs {
    /// The visibility asked for, if any (else the account's default applies).
    pub fn visibility(&self) -> Option<imgcloud_core::api::Visibility> {
        use imgcloud_core::api::Visibility;
        match (self.private, self.public) {
            (true, _) => Some(Visibility::Private),
            (_, true) => Some(Visibility::Public),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ShareArgs {
    #[command(subcommand)]
    pub action: Option<ShareAction>,
    /// Image ids to share (as shown by `imgcloud ls`).
    #[arg(value_name = "ID", required_unless_present = "album")]
    pub ids: Vec<String>,
    /// Share an album (by name or id) instead of images.
    #[arg(long, value_name = "NAME", conflicts_with = "ids")]
    pub album: Option<String>,
    /// When the link stops working: a duration (`12h`, `7d`, `2w`), a date (`2027-01-31`: the
    /// end of that day, UTC), an RFC 3339 time, or `never`. Default: the account's (30 days).
    #[arg(long, value_name = "7d|2027-01-31|never")]
    pub expires: Option<String>,
    /// Read a password for the link from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Page views until the link stops working (bots and you are not counted).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_views: Option<i64>,
    /// Show the pictures only: no original to download.
    #[arg(long)]
    pub no_download: bool,
    /// Keep the originals' metadata (EXIF, GPS included); by default it is removed.
    #[arg(long)]
    pub with_metadata: bool,
    /// Who the link is for (only you see it), e.g. "for Alice".
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Also copy the link to the clipboard.
    #[arg(long)]
    pub copy: bool,
    /// Print the new link as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ShareAction {
    /// Revoke a link (its page answers 410 at once): by its URL, token or id, or every link
    /// with a label.
    Revoke {
        #[arg(value_name = "URL|TOKEN|ID", required_unless_present = "label")]
        target: Option<String>,
        /// Revoke every active link with this label.
        #[arg(long, value_name = "TEXT", conflicts_with = "target")]
        label: Option<String>,
        /// Print the revoked links as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct DefaultsArgs {
    /// Visibility of uploads that name none (the daemon's folders and the PicGo endpoint
    /// included): `public` or `private`.
    #[arg(long, value_name = "public|private")]
    pub visibility: Option<String>,
    /// Days until a new share link expires when `--expires` is not given (1 to 3650).
    #[arg(long, value_name = "DAYS")]
    pub share_expiry_days: Option<u32>,
    /// Print the defaults as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SharesArgs {
    /// Print the links as JSON (with every count).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AlbumArgs {
    #[command(subcommand)]
    pub action: AlbumAction,
}

#[derive(Debug, Subcommand)]
pub enum AlbumAction {
    /// List your albums.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Create an album.
    Create {
        name: String,
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show an album's images, in order.
    Show {
        #[arg(value_name = "NAME")]
        album: String,
        #[arg(long)]
        json: bool,
    },
    /// Rename an album.
    Rename {
        #[arg(value_name = "NAME")]
        album: String,
        new_name: String,
    },
    /// Set an album's description.
    Describe {
        #[arg(value_name = "NAME")]
        album: String,
        text: String,
    },
    /// Set an album's cover (one of its images).
    Cover {
        #[arg(value_name = "NAME")]
        album: String,
        #[arg(value_name = "ID")]
        image: String,
    },
    /// Add images to an album (at its end).
    Add {
        #[arg(value_name = "NAME")]
        album: String,
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Remove images from an album (they stay in your library).
    Remove {
        #[arg(value_name = "NAME")]
        album: String,
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Put these images first, in this order.
    Order {
        #[arg(value_name = "NAME")]
        album: String,
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Delete an album (its images stay; its share links end).
    Rm {
        #[arg(value_name = "NAME")]
        album: String,
    },
}

#[derive(Debug, Args)]
pub struct VisibilityArgs {
    /// Image ids, then `public` or `private`.
    #[arg(required = true, num_args = 2.., value_name = "ID… public|private")]
    pub words: Vec<String>,
    /// Print the changed images as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--format`: `url`, `markdown`, `html`, `bbcode`, or a custom template such as
/// `'<a href="{url}">{name}</a>'` (placeholders: {url} {filename} {name} {ext} {width} {height} {id}).
#[derive(Debug, Args)]
pub struct FormatArg {
    /// Link format: url, markdown, html, bbcode, or a template with {url} {name} … placeholders.
    #[arg(long, short = 'f', value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print a JSON array of images instead of a table.
    #[arg(long)]
    pub json: bool,
    /// List the trash instead of the library.
    #[arg(long)]
    pub trash: bool,
    /// Only images whose name contains this text (case-insensitive).
    #[arg(long, short = 's', value_name = "TEXT")]
    pub search: Option<String>,
    /// Show at most this many images (default: all).
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Image ids (as shown by `imgcloud ls`).
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub format: FormatArg,
    /// Also copy the links to the clipboard.
    #[arg(long)]
    pub copy: bool,
}

#[derive(Debug, Args)]
pub struct IdsArgs {
    /// Image ids (as shown by `imgcloud ls`).
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Print the changed images as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server base URL, e.g. https://img.example.com
    #[arg(value_name = "URL")]
    pub url: String,
    /// User name (prompted for on a terminal otherwise).
    #[arg(long, short, value_name = "NAME")]
    pub username: Option<String>,
    /// Read the password as one line from stdin instead of prompting (for scripts).
    #[arg(long, conflicts_with = "token_stdin")]
    pub password_stdin: bool,
    /// Log in with an existing API token read from stdin instead of a password.
    #[arg(long, conflicts_with = "username")]
    pub token_stdin: bool,
    /// Name of the token the server creates for this device (default: this machine's name).
    #[arg(long, value_name = "NAME", conflicts_with = "token_stdin")]
    pub device: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub action: Option<TokensAction>,
    /// Print the tokens as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokensAction {
    /// Revoke a token by its id (from `imgcloud tokens`); it stops working at once.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[arg(value_enum)]
    pub action: ConfigAction,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfigAction {
    /// Print the path of the configuration file.
    Path,
    /// Print the effective configuration (file, environment and flags merged).
    Show,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the daemon's status as JSON (with --follow: one JSON event per line).
    #[arg(long)]
    pub json: bool,
    /// Print the daemon's events as they happen, one line each, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(subcommand)]
    pub action: WatchAction,
}

#[derive(Debug, Subcommand)]
pub enum WatchAction {
    /// Watch a folder: upload the images in it now and whenever they appear or change.
    Add(WatchAddArgs),
    /// Stop watching a folder (nothing is deleted, in the cloud or on disk).
    Rm(WatchRmArgs),
    /// List the watched folders.
    Ls(WatchLsArgs),
}

#[derive(Debug, Args)]
pub struct WatchAddArgs {
    /// The folder (must exist; stored as an absolute path without symbolic links).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Put every image from this folder in this album (created when missing; the images are
    /// also tagged with its name).
    #[arg(long, value_name = "ALBUM")]
    pub album: Option<String>,
    /// Upload this folder's images as private (no public link); default: the account's.
    #[arg(long, conflicts_with = "public")]
    pub private: bool,
    /// Upload this folder's images as public, whatever the account's default.
    #[arg(long)]
    pub public: bool,
    /// Only the folder itself, not its sub-folders.
    #[arg(long)]
    pub no_recursive: bool,
    /// Only files matching this glob (relative to the folder, e.g. `'*.png'`); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Never files matching this glob (gitignore syntax, e.g. `'drafts/'`); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WatchRmArgs {
    /// The folder, as given to `watch add` (it may no longer exist).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct WatchLsArgs {
    /// Print a JSON array of folders instead of one line per folder.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: BackupAction,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Re-hash every backup copy and report the corrupt and missing ones.
    Verify(BackupVerifyArgs),
    /// Write the backed-up originals back: to where they came from, or into a folder.
    Restore(BackupRestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupVerifyArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    /// Put every original into this folder (by file name) instead of its original path.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn upload_needs_a_path_and_accepts_flags_after_paths() {
        assert!(Cli::try_parse_from(["imgcloud", "upload"]).is_err());
        let cli = Cli::try_parse_from([
            "imgcloud", "upload", "a.jpg", "dir", "--format", "markdown", "--json",
        ])
        .unwrap();
        let Some(Command::Upload(args)) = cli.command else {
            panic!("not upload")
        };
        assert_eq!(args.paths, [PathBuf::from("a.jpg"), PathBuf::from("dir")]);
        assert_eq!(args.format.format.as_deref(), Some("markdown"));
        assert!(args.json && !args.copy);
    }

    #[test]
    fn concurrency_zero_is_a_usage_error() {
        let err =
            Cli::try_parse_from(["imgcloud", "upload", "a.jpg", "--concurrency", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn global_server_flag_works_after_the_subcommand() {
        let cli = Cli::try_parse_from(["imgcloud", "ls", "--server", "http://h:1"]).unwrap();
        assert_eq!(cli.global.server.as_deref(), Some("http://h:1"));
    }

    #[test]
    fn status_flags() {
        let cli = Cli::try_parse_from(["imgcloud", "status", "--follow", "--json"]).unwrap();
        let Some(Command::Status(args)) = cli.command else {
            panic!("not status")
        };
        assert!(args.follow && args.json);
        let cli = Cli::try_parse_from(["imgcloud", "status"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Status(StatusArgs {
                json: false,
                follow: false
            }))
        ));
    }

    #[test]
    fn watch_add_takes_repeatable_globs_and_options() {
        let cli = Cli::try_parse_from([
            "imgcloud",
            "watch",
            "add",
            "shots",
            "--album",
            "Screens",
            "--no-recursive",
            "--include",
            "*.png",
            "--include",
            "*.jpg",
            "--exclude",
            "drafts/",
        ])
        .unwrap();
        let Some(Command::Watch(WatchArgs {
            action: WatchAction::Add(args),
        })) = cli.command
        else {
            panic!("not watch add")
        };
        assert_eq!(args.dir, PathBuf::from("shots"));
        assert_eq!(args.album.as_deref(), Some("Screens"));
        assert!(args.no_recursive);
        assert_eq!(args.include, ["*.png", "*.jpg"]);
        assert_eq!(args.exclude, ["drafts/"]);
    }

    #[test]
    fn watch_needs_an_action_and_a_dir() {
        for args in [
            &["imgcloud", "watch"][..],
            &["imgcloud", "watch", "add"],
            &["imgcloud", "watch", "rm"],
        ] {
            assert_eq!(
                Cli::try_parse_from(args).unwrap_err().exit_code(),
                2,
                "{args:?}"
            );
        }
        let cli = Cli::try_parse_from(["imgcloud", "watch", "ls", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Watch(WatchArgs {
                action: WatchAction::Ls(WatchLsArgs { json: true })
            }))
        ));
    }

    #[test]
    fn daemon_verbs_take_no_arguments() {
        for verb in ["pause", "resume", "rescan"] {
            assert!(Cli::try_parse_from(["imgcloud", verb]).is_ok(), "{verb}");
            assert!(
                Cli::try_parse_from(["imgcloud", verb, "x"]).is_err(),
                "{verb}"
            );
        }
    }

    #[test]
    fn backup_subcommands() {
        let cli = Cli::try_parse_from(["imgcloud", "backup", "restore", "--to", "out", "--json"])
            .unwrap();
        let Some(Command::Backup(BackupArgs {
            action: BackupAction::Restore(args),
        })) = cli.command
        else {
            panic!("not backup restore")
        };
        assert_eq!(args.to, Some(PathBuf::from("out")));
        assert!(args.json);
        let cli = Cli::try_parse_from(["imgcloud", "backup", "verify"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Backup(BackupArgs {
                action: BackupAction::Verify(BackupVerifyArgs { json: false })
            }))
        ));
        assert!(Cli::try_parse_from(["imgcloud", "backup"]).is_err());
    }
}
