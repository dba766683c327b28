//! Harness for imgcloud's end-to-end scenarios: start the real `imgcloud-server` binary as an
//! embedded all-in-one cloud in temp dirs, run the real `imgcloud` CLI against it, make real
//! image files, and fetch what the links serve.
//!
//! The binaries must be built first (`cargo build -p imgcloud-server -p imgcloud-tui`; the
//! test script does it): they are looked up next to the test executable in the target dir, or
//! in `IMGCLOUD_BIN_DIR`.

pub mod bins;
pub mod cli;
pub mod cloud;
pub mod daemon;
pub mod fault_proxy;
pub mod http;
pub mod http_faults;
pub mod images;
pub mod metrics;
pub mod production;
pub mod protocol;
pub mod stack;
pub mod tmux;
pub mod uploads;

pub use cli::CliOutput;
pub use cloud::EmbeddedCloud;
pub use daemon::SyncDaemon;
pub use http::{Fetched, fetch, head};
pub use images::{jpeg, jpeg_with_orientation, noisy_rgb, png, sha256_hex};
pub use stack::Stack;
