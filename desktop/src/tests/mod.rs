//! The commands through Tauri's IPC (mock runtime, no display) against real parts: an
//! embedded cloud (SQLite + S3 store on loopback) and, for sync, the real daemon engine on its
//! socket.

mod images;
mod library;
#[cfg(unix)]
mod opener;
mod photo;
mod settings;
mod sync;
mod upload;
