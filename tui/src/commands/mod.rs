//! One module per group of subcommands.

pub mod album;
pub mod backup;
pub mod config;
pub mod daemon;
pub mod images;
pub mod login;
pub mod picgo;
pub mod share;
pub mod upload;
