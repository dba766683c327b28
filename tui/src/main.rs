//! `imgcloud`: the terminal client. Parses the command line and hands over to a command.

mod app;
mod cli;
mod clipboard;
mod commands;
mod context;
mod exit;
mod output;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};
use commands::daemon::Verb;
use commands::images::Change;
use context::Context;

fn main() -> ExitCode {
    app::timings::mark_start();
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    let Some(command) = &cli.command else {
        // The full-screen TUI needs a terminal on both ends; anything else gets the help.
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            return block_on(tui(&cli));
        }
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    block_on(run(&cli, command))
}

/// Runs `future` on a multi-threaded runtime and turns its error into an exit code.
fn block_on(future: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return exit::report(&anyhow::Error::new(e).context("cannot start the async runtime"));
        }
    };
    match runtime.block_on(future) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}

async fn tui(cli: &Cli) -> anyhow::Result<ExitCode> {
    let ctx = Context::load(&cli.global)?;
    app::run::run(&ctx).await
}

async fn run(cli: &Cli, command: &Command) -> anyhow::Result<ExitCode> {
    if let Command::Completions(args) = command {
        return commands::config::completions(args);
    }
    let ctx = Context::load(&cli.global)?;
    match command {
        Command::Upload(args) => commands::upload::run(&ctx, args).await,
        Command::Ls(args) => commands::images::ls(&ctx, args).await,
        Command::Link(args) => commands::images::link(&ctx, args).await,
        Command::Rm(args) => commands::images::change(&ctx, args, Change::Trash).await,
        Command::Restore(args) => commands::images::change(&ctx, args, Change::Restore).await,
        Command::Visibility(args) => commands::images::visibility(&ctx, args).await,
        Command::Share(args) => commands::share::share(&ctx, args).await,
        Command::Shares(args) => commands::share::list(&ctx, args).await,
        Command::Album(args) => commands::album::run(&ctx, &args.action).await,
        Command::Defaults(args) => commands::share::defaults(&ctx, args).await,
        Command::Login(args) => commands::login::run(&ctx, args).await,
        Command::Tokens(args) => commands::login::tokens(&ctx, args).await,
        Command::Config(args) => commands::config::config(&ctx, args.action),
        Command::Completions(args) => commands::config::completions(args),
        Command::Status(args) => commands::daemon::status(&ctx, args).await,
        Command::Watch(args) => commands::daemon::watch(&ctx, args).await,
        Command::Pause => commands::daemon::verb(&ctx, Verb::Pause).await,
        Command::Resume => commands::daemon::verb(&ctx, Verb::Resume).await,
        Command::Rescan => commands::daemon::verb(&ctx, Verb::Rescan).await,
        Command::Backup(args) => commands::backup::run(&ctx, args).await,
        Command::Picgo(args) => commands::picgo::run(&ctx, &args.action),
    }
}

/// Logs go to stderr, off by default (`-v`, `-vv` or `RUST_LOG` turn them on).
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, never in files or CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}
