//! One module per group of subcommands.

pub mod config;
pub mod images;
pub mod login;
pub mod upload;
