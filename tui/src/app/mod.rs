//! The full-screen TUI (`imgcloud` with no subcommand on a terminal).
//!
//! [`state`] holds what is shown, [`action`] changes it and returns side effects as data,
//! [`keys`] maps keys to actions, [`view`] draws the state, [`backend`] talks to the cloud, the
//! daemon and the clipboard, [`local`] keeps the local catalog, and [`run`] ties them to the
//! terminal ([`timings`] measures it for the benchmark). [`preview`] and [`preview_loader`]
//! draw the selected image in the terminal ([`graphics`] picks the protocol).

pub mod action;
pub mod backend;
pub mod complete;
pub mod graphics;
pub mod input;
pub mod keys;
pub mod local;
pub mod path_list;
pub mod preview;
pub mod preview_loader;
pub mod prompts;
pub mod run;
pub mod state;
pub mod sync;
pub mod timings;
pub mod uploads;
pub mod view;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub mod tests_actions;
