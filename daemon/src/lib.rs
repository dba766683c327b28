//! imgcloudd, the background sync daemon: watched folders to the cloud, a verified local backup
//! copy, and nothing ever lost. See `docs/daemon.md`.
//!
//! - [`watch`], [`filter`], [`scan`]: what is in the folders and what changed;
//! - [`queue`]: the persistent SQLite queue every step is recorded in;
//! - [`engine`]: takes files from the queue through hashing, upload and backup;
//! - [`control`], [`ipc`], [`picgo`]: the local socket API and the PicGo-compatible endpoint;
//! - [`cloud`]: the cloud to sync to (remote, or the embedded all-in-one cloud in-process);
//! - [`run`]: the whole daemon as `imgcloudd` runs it (engine, socket, PicGo, signals);
//! - [`logging`], [`service`], [`notify_desktop`]: logs, the systemd unit, desktop comfort.

pub mod cloud;
pub mod control;
pub mod engine;
pub mod filter;
pub mod ipc;
pub mod logging;
pub mod notify_desktop;
pub mod peer_owner;
pub mod picgo;
pub mod queue;
pub mod run;
pub mod scan;
pub mod service;
pub mod watch;
