//! `imgcloud-server`: the imgcloud API server.
//!
//! With no configuration it runs the embedded all-in-one cloud; with `--config FILE` (or
//! `IMGCLOUD_SERVER_CONFIG`) it runs in production mode from that file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use imgcloud_server::embedded::{self, EmbeddedOptions};
use imgcloud_server::store::Store;
use imgcloud_server::{ServerConfig, backup, users};

#[derive(Debug, Parser)]
#[command(
    name = "imgcloud-server",
    version,
    about = "imgcloud's API server (embedded all-in-one cloud by default)"
)]
struct Cli {
    /// Production configuration file (TOML). Without it the embedded cloud runs.
    #[arg(long, env = "IMGCLOUD_SERVER_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// API address (default 127.0.0.1:8420 embedded, or `listen` from the file).
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Embedded S3 store address (embedded mode; default 127.0.0.1:8421).
    #[arg(long, global = true)]
    s3_listen: Option<SocketAddr>,
    /// URL the API and clients use to reach the embedded store, when a proxy sits in front of
    /// it (default: the address it listens on).
    #[arg(long, global = true, value_name = "URL")]
    s3_endpoint: Option<url::Url>,
    /// Files of at least this many bytes are uploaded in parts.
    #[arg(long, env = "IMGCLOUD_MULTIPART_CUTOFF", global = true)]
    multipart_cutoff: Option<u64>,
    /// Smallest multipart part, in bytes.
    #[arg(long, env = "IMGCLOUD_MIN_PART_SIZE", global = true)]
    min_part_size: Option<u64>,
    /// On SIGTERM, keep serving this long with /readyz answering 503 before no longer
    /// accepting connections (production mode), e.g. `5s` behind a balancer probing /readyz.
    #[arg(long, env = "IMGCLOUD_DRAIN_DELAY", global = true, value_name = "DURATION",
          value_parser = imgcloud_server::config::parse_duration, default_value = "0s")]
    drain_delay: std::time::Duration,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Back up the database into a new file of DIR: a consistent, compressed snapshot taken
    /// while the server runs (SQLite or PostgreSQL). Prints the file's path on stdout, then removes backups beyond the retention (newest per day for 7 days,
    /// per week for 4 weeks).
    Backup(BackupArgs),
    /// Restore a backup file as the database, after verifying it. Stop the server first.
    /// Refuses a database that holds anything unless --force.
    Restore {
        file: PathBuf,
        /// Replace a database that is not empty.
        #[arg(long)]
        force: bool,
    },
    /// A standby PostgreSQL that follows the primary (logical replication): set it up, see how
    /// far behind it is, promote it when the primary is lost.
    Standby {
        #[command(subcommand)]
        command: StandbyCommand,
    },
    /// Objects in the bucket that no database row points at (e.g. uploaded after the backup
    /// a database was restored from). Lists them; --delete removes them.
    Orphans {
        /// Delete them (never an object a row points at, nor one younger than --min-age).
        #[arg(long)]
        delete: bool,
        /// Leave alone objects younger than this (uploads still being registered).
        #[arg(long, value_name = "DURATION", default_value = "24h",
              value_parser = imgcloud_server::config::parse_duration)]
        min_age: std::time::Duration,
        /// JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Run the S3-compatible object store on its own (signed writes, anonymous GET/HEAD of
    /// objects) on --listen (default 127.0.0.1:8421). Its key pair comes from
    /// IMGCLOUD_S3_ACCESS_KEY and IMGCLOUD_S3_SECRET_KEY. Prints `ready http://ADDR`.
    S3 {
        /// Directory holding the buckets, one sub-directory each (created if missing).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Bucket to create at start.
        #[arg(long, default_value = "imgcloud")]
        bucket: String,
    },
}

/// How long a production server waits at start-up for its database to become reachable.
const DB_STARTUP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user and print its first API token (only the token) to stdout.
    Add {
        name: String,
        /// Name of the token.
        #[arg(long, default_value = "cli")]
        token_name: String,
        /// Also set a password (so `imgcloud login` works), read as one line from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List every user: status, whether it has a password, live tokens.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: its tokens stop working and it cannot log in (nothing is deleted).
    Disable { name: String },
    /// Enable a disabled user again (its unrevoked tokens work again).
    Enable { name: String },
    /// Set a user's password (prompted twice on a terminal, hidden) and revoke all its tokens.
    ResetPassword {
        name: String,
        /// Read the password as one line from stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// Directory for the new backup (created if missing, private to its owner).
    #[arg(long, value_name = "DIR", required = true)]
    to: Option<PathBuf>,
    /// Keep the newest backup of each of the last N days that have one.
    #[arg(long, value_name = "N", default_value_t = 7)]
    keep_daily: usize,
    /// Keep the newest backup of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", default_value_t = 4)]
    keep_weekly: usize,
    /// Remove no older backup.
    #[arg(long)]
    keep_all: bool,
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Read a backup file back completely and check it: framing and SHA-256 of every part,
    /// the database's integrity, its schema version, the rows of every table.
    Verify { file: PathBuf },
    /// The backups in DIR, newest first.
    List { dir: PathBuf },
}

/// The two databases of `standby …`. URLs hold passwords: prefer the environment variables
/// to the flags (which other local users can see in the process list).
#[derive(Debug, clap::Args)]
struct StandbyUrls {
    /// The primary's URL, as the standby's PostgreSQL server reaches it too (default: the
    /// database_url of --config).
    #[arg(
        long,
        env = "IMGCLOUD_PRIMARY_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    primary: Option<String>,
    /// The standby's URL (a self-managed PostgreSQL).
    #[arg(
        long,
        env = "IMGCLOUD_STANDBY_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    standby: String,
}

#[derive(Debug, Subcommand)]
enum StandbyCommand {
    /// Publish every table on the primary and subscribe the standby to it (its schema from
    /// our migrations), then wait for the first copy. Run it again after an upgrade.
    Setup {
        #[command(flatten)]
        urls: StandbyUrls,
    },
    /// Lag (bytes and seconds), the last change applied, and whether every table holds as
    /// many rows on both sides.
    Status {
        #[command(flatten)]
        urls: StandbyUrls,
        #[arg(long)]
        json: bool,
    },
    /// Make the standby the primary: it stops following and its sequences move past the last
    /// value used. Then point the replicas' database_url at it and restart them. Refused while
    /// its first copy of a table is unfinished, unless --force.
    Promote {
        #[command(flatten)]
        urls: StandbyUrls,
        #[arg(long)]
        json: bool,
        /// Promote even though the first copy of some table is unfinished (its rows are lost).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create another API token for an existing user and print it to stdout.
    Add {
        user: String,
        /// Name of the token (e.g. the device it is for).
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke every token of a user with this name.
    Revoke { user: String, name: String },
}

fn init_tracing() {
    let filter = std::env::var("IMGCLOUD_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".to_string());
    // s3s logs whole requests (presigned signatures included) at debug: never let them through.
    let filter = format!("{filter},s3s=info,s3s_fs=info");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, never in files or CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn production_config(cli: &Cli, path: &std::path::Path) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::load(path)?;
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if let Some(cutoff) = cli.multipart_cutoff {
        config.limits.multipart_cutoff = cutoff;
    }
    if let Some(min_part) = cli.min_part_size {
        config.limits.min_part_size = min_part;
    }
    config.validate()?;
    Ok(config)
}

async fn open_store(cli: &Cli) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    match &cli.config {
        Some(path) => {
            let config = production_config(cli, path)?;
            let store = imgcloud_server::store::open(&config.database_url).await?;
            // Through the replicas' shared cache (memcached) when there is one, so what the
            // admin changes (a revoked token, a disabled user) is invalidated there at once.
            imgcloud_server::cache::shared_cache_around(
                store,
                &config.cache,
                config.s3.secret_key.as_bytes(),
            )
        }
        None => {
            let options = EmbeddedOptions::from_env()?;
            Ok(std::sync::Arc::new(
                embedded::open_store(&options.dirs).await?,
            ))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        None | Some(Command::Serve) => match &cli.config {
            Some(path) => {
                let config = production_config(&cli, path)?;
                // The database may still be starting (a stack coming up, a failover): wait
                // for it before listening, so a balancer never queues requests on a replica
                // that cannot serve them.
                let store =
                    imgcloud_server::open_store_with_retry(&config.database_url, DB_STARTUP_WAIT)
                        .await?;
                let listen = config.listen;
                let (app, state) = imgcloud_server::build_app_with_store(config, store)?;
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let addr = listener.local_addr()?;
                tracing::info!(%addr, "imgcloud API ready (production mode)");
                {
                    use std::io::Write;
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "ready http://{addr}")?;
                    stdout.flush()?;
                }
                imgcloud_server::serve_with_drain(
                    app,
                    state,
                    listener,
                    imgcloud_server::shutdown_signal(),
                    cli.drain_delay,
                )
                .await
            }
            None => {
                let mut options = EmbeddedOptions::from_env()?;
                if let Some(listen) = cli.listen {
                    options.listen = listen;
                }
                if let Some(s3_listen) = cli.s3_listen {
                    options.s3_listen = s3_listen;
                }
                if cli.s3_endpoint.is_some() {
                    options.s3_endpoint = cli.s3_endpoint.clone();
                }
                if cli.multipart_cutoff.is_some() {
                    options.multipart_cutoff = cli.multipart_cutoff;
                }
                if cli.min_part_size.is_some() {
                    options.min_part_size = cli.min_part_size;
                }
                embedded::run(options, imgcloud_server::shutdown_signal()).await
            }
        },
        Some(Command::S3 { data, bucket }) => {
            let options = imgcloud_server::s3_standalone::StandaloneS3Options::from_env(
                cli.listen.unwrap_or(embedded::DEFAULT_S3_LISTEN),
                data.clone(),
                bucket.clone(),
            )?;
            imgcloud_server::s3_standalone::run(options, imgcloud_server::shutdown_signal()).await
        }
        Some(Command::User { command }) => user_command(&cli, command).await,
        Some(Command::Standby { command }) => standby_command(&cli, command).await,
        Some(Command::Orphans {
            delete,
            min_age,
            json,
        }) => orphans_command(&cli, *delete, *min_age, *json).await,
        Some(Command::Backup(args)) => backup_command(&cli, args).await,
        Some(Command::Restore { file, force }) => {
            let url = database_url(&cli)?;
            eprintln!("verifying {} …", file.display());
            let manifest =
                backup::restore(file, &url, *force, &|line| eprintln!("  {line}")).await?;
            eprintln!(
                "restored the {} backup of {} (schema {}): {}",
                manifest.backend,
                manifest.created_at,
                manifest.schema_version,
                backup::summary(&manifest)
            );
            Ok(())
        }
        Some(Command::Token {
            command: TokenCommand::Add { user, name },
        }) => {
            let store = open_store(&cli).await?;
            println!("{}", users::add_token(store.as_ref(), user, name).await?);
            Ok(())
        }
        Some(Command::Token {
            command: TokenCommand::Revoke { user, name },
        }) => {
            let store = open_store(&cli).await?;
            let account = store
                .user_by_name(user)
                .await
                .with_context(|| format!("no user named {user:?}"))?;
            let revoked = store.revoke_tokens(&account.id, name).await?;
            eprintln!(
                "revoked {} token(s) named {name:?} of {user}",
                revoked.len()
            );
            Ok(())
        }
    }
}

/// The database the server uses: the configuration's `database_url`, or the embedded
/// cloud's SQLite file.
fn database_url(cli: &Cli) -> anyhow::Result<String> {
    match &cli.config {
        Some(path) => Ok(production_config(cli, path)?.database_url),
        None => {
            let options = EmbeddedOptions::from_env()?;
            let db = options.dirs.embedded_cloud().join("imgcloud.db");
            Ok(format!("sqlite://{}", db.display()))
        }
    }
}

/// `imgcloud-server backup …` (the work is in `backup`).
async fn backup_command(cli: &Cli, args: &BackupArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(BackupCommand::Verify { file }) => {
            eprintln!("verifying {} …", file.display());
            let manifest = backup::verify(file).await?;
            println!(
                "ok: {} backup of {}, schema {}: {}",
                manifest.backend,
                manifest.created_at,
                manifest.schema_version,
                backup::summary(&manifest)
            );
        }
        Some(BackupCommand::List { dir }) => {
            for found in backup::list(dir)? {
                println!(
                    "{}  {:>10}  {}",
                    found
                        .created_at
                        .format(&time::format_description::well_known::Rfc3339)?,
                    imgcloud_core::human::human_size(found.bytes),
                    found.path.display()
                );
            }
        }
        None => {
            let dir = args.to.as_deref().context("--to DIR is required")?;
            let url = database_url(cli)?;
            eprintln!("backing up the database into {} …", dir.display());
            let created = backup::create(&url, dir, &|line| eprintln!("  {line}")).await?;
            eprintln!(
                "{} of database compressed to {} in {:.1} s: {}",
                imgcloud_core::human::human_size(created.raw_bytes),
                imgcloud_core::human::human_size(created.file_bytes),
                created.elapsed.as_secs_f64(),
                backup::summary(&created.manifest)
            );
            println!("{}", created.path.display());
            if !args.keep_all {
                let retention = backup::retention::Retention {
                    daily: args.keep_daily,
                    weekly: args.keep_weekly,
                };
                for old in backup::retention::expired(&backup::list(dir)?, retention) {
                    std::fs::remove_file(&old.path)
                        .with_context(|| format!("cannot remove {}", old.path.display()))?;
                    eprintln!("removed {} (beyond the retention)", old.path.display());
                }
            }
        }
    }
    Ok(())
}

/// `imgcloud-server orphans [--delete]` (the work is in `orphans`).
async fn orphans_command(
    cli: &Cli,
    delete: bool,
    min_age: std::time::Duration,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    let (objects, embedded_s3) = match &cli.config {
        Some(path) => {
            let config = production_config(cli, path)?;
            (imgcloud_server::objects::ObjectStore::new(config.s3)?, None)
        }
        None => {
            let (objects, s3) = embedded::object_store(&EmbeddedOptions::from_env()?).await?;
            (objects, Some(s3))
        }
    };
    let report = imgcloud_server::orphans::scan(store.as_ref(), &objects, min_age, delete, &|l| {
        eprintln!("  {l}")
    })
    .await;
    if let Some(s3) = embedded_s3 {
        s3.shutdown().await;
    }
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for orphan in &report.orphans {
        println!("{}\t{}", orphan.key, orphan.bytes);
    }
    let bytes: u64 = report.orphans.iter().map(|o| o.bytes).sum();
    eprintln!(
        "{} objects: {} pointed at by a row, {} orphans ({}){}, {} younger than {} left alone, {} not imgcloud's keys left alone",
        report.scanned,
        report.referenced,
        report.orphans.len(),
        imgcloud_core::human::human_size(bytes),
        if delete {
            format!(", {} deleted", report.deleted)
        } else if report.orphans.is_empty() {
            String::new()
        } else {
            " (--delete removes them)".into()
        },
        report.too_recent,
        humantime_short(min_age),
        report.unrecognised
    );
    Ok(())
}

fn humantime_short(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else {
        format!("{s}s")
    }
}

/// The primary's URL: `--primary`, else the configuration's database.
fn primary_url(cli: &Cli, urls: &StandbyUrls) -> anyhow::Result<String> {
    match &urls.primary {
        Some(url) => Ok(url.clone()),
        None if cli.config.is_some() => database_url(cli),
        None => anyhow::bail!(
            "which primary? pass --primary URL (or IMGCLOUD_PRIMARY_DATABASE_URL), or --config FILE"
        ),
    }
}

/// `imgcloud-server standby …` (the work is in `standby`).
async fn standby_command(cli: &Cli, command: &StandbyCommand) -> anyhow::Result<()> {
    use imgcloud_server::standby;
    match command {
        StandbyCommand::Setup { urls } => {
            let primary = primary_url(cli, urls)?;
            let report = standby::setup(&primary, &urls.standby, &|l| eprintln!("  {l}")).await?;
            println!(
                "standby {} follows the primary: {} tables {} in {:.1} s",
                backup::postgres::describe_url(&urls.standby),
                report.tables.len(),
                if report.refreshed {
                    "(refreshed)"
                } else {
                    "copied"
                },
                report.elapsed.as_secs_f64()
            );
        }
        StandbyCommand::Status { urls, json } => {
            let primary = primary_url(cli, urls).ok();
            let status = standby::status(primary.as_deref(), &urls.standby).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&status)?);
                return Ok(());
            }
            println!(
                "standby: {}",
                match (status.following, status.enabled) {
                    (true, true) => "following the primary",
                    (true, false) => "subscription disabled (not following)",
                    (false, _) => "not following any primary (promoted, or never set up)",
                }
            );
            if let Some(lsn) = &status.last_applied_lsn {
                println!(
                    "last applied: {lsn} at {}",
                    status.last_applied_at.as_deref().unwrap_or("?")
                );
            }
            match (&status.lag, &status.primary_error) {
                (Some(lag), _) => println!(
                    "lag: {} bytes, {} ({})",
                    lag.bytes,
                    lag.seconds
                        .map_or("replay time not measured lately".into(), |s| {
                            format!("{s:.3} s")
                        }),
                    if lag.connected {
                        "connected"
                    } else {
                        "NOT connected"
                    }
                ),
                (None, Some(e)) => println!("lag: unknown, the primary did not answer: {e}"),
                (None, None) if primary.is_some() => {
                    println!("lag: the primary has no standby slot")
                }
                (None, None) => {}
            }
            for t in &status.tables {
                println!(
                    "  {:<18} primary {:>9}  standby {:>9}  {}",
                    t.table,
                    t.primary.map_or("?".into(), |n| n.to_string()),
                    t.standby,
                    match t.matches {
                        Some(true) => "ok",
                        Some(false) => "DIFFERS",
                        None => "",
                    }
                );
            }
            if let Some(ok) = status.rows_match {
                println!("rows match: {}", if ok { "yes" } else { "no" });
            }
        }
        StandbyCommand::Promote { urls, json, force } => {
            let primary = primary_url(cli, urls).ok();
            let promoted = standby::promote(&urls.standby, primary.as_deref(), *force).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&promoted)?);
                return Ok(());
            }
            if !promoted.was_following {
                eprintln!("note: the standby followed no primary (promoted before?)");
            }
            for (sequence, next) in &promoted.sequences {
                eprintln!("  {sequence}: next value {next}");
            }
            println!(
                "promoted {}: {}. Point the replicas' database_url at it and restart them.",
                backup::postgres::describe_url(&urls.standby),
                backup::summarize(&promoted.rows)
            );
            if !promoted.dropped_primary_slot {
                eprintln!(
                    "note: if the old primary comes back, drop its slot there before reusing it: \
                     SELECT pg_drop_replication_slot('{}')",
                    standby::NAME
                );
            }
        }
    }
    Ok(())
}

/// `imgcloud-server user …` (the work is in `users`). Passwords come from stdin or a hidden
/// prompt, never from the command line.
async fn user_command(cli: &Cli, command: &UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            token_name,
            password_stdin,
        } => {
            users::validate_username(name)?;
            let password = if *password_stdin {
                Some(users::read_new_password(name, true)?)
            } else {
                None
            };
            let store = open_store(cli).await?;
            let (_, token) = users::add_user_with_password(
                store.as_ref(),
                name,
                token_name,
                password.as_deref(),
            )
            .await?;
            println!("{token}");
        }
        UserCommand::List { json } => {
            let store = open_store(cli).await?;
            print!("{}", users::format_users(&store.list_users().await?, *json));
        }
        UserCommand::Disable { name } | UserCommand::Enable { name } => {
            let disable = matches!(command, UserCommand::Disable { .. });
            let store = open_store(cli).await?;
            users::set_disabled(store.as_ref(), name, disable).await?;
            eprintln!(
                "user {name} {}",
                if disable { "disabled" } else { "enabled" }
            );
        }
        UserCommand::ResetPassword {
            name,
            password_stdin,
        } => {
            let store = open_store(cli).await?;
            users::find_user(store.as_ref(), name).await?;
            let password = users::read_new_password(name, *password_stdin)?;
            let revoked = users::reset_password(store.as_ref(), name, &password).await?;
            eprintln!("password of {name} set; {revoked} token(s) revoked");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgcloud-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
