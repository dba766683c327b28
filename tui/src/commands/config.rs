//! `imgcloud config path|show` and `imgcloud completions SHELL`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ConfigAction};
use crate::context::Context;
use crate::output;

pub fn config(ctx: &Context, action: ConfigAction) -> anyhow::Result<ExitCode> {
    match action {
        ConfigAction::Path => output::print_lines(&[ctx.dirs.config_file().display().to_string()])?,
        ConfigAction::Show => {
            // The effective configuration; tokens never live here, so nothing is hidden.
            let text =
                toml::to_string_pretty(&ctx.config).context("cannot encode the configuration")?;
            output::print_lines(&[text.trim_end()])?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "imgcloud", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
