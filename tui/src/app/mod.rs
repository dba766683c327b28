//! The full-screen TUI (`imgcloud` with no subcommand on a terminal).
//!
//! [`state`] holds what is shown, [`action`] changes it and returns side effects as data,
//! [`keys`] maps keys to actions, [`view`] draws the state, [`backend`] talks to the cloud, the
//! daemon and the clipboard, [`local`] keeps the local catalog, and [`run`] ties them to the
//! terminal ([`timings`] measures it for the benchmark).

pub mod action;
pub mod backend;
pub mod keys;
pub mod local;
pub mod run;
pub mod state;
pub mod timings;
pub mod view;

#[cfg(test)]
mod tests;
