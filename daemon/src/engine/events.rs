//! The event broadcast and the in-memory part of the status (what is not in the queue:
//! paused, online, files in flight, scan and watch state).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use imgcloud_core::daemon_api::{Event, InFlight};
use time::OffsetDateTime;
use tokio::sync::broadcast;

/// Events kept for slow subscribers before they lag.
const EVENT_CAPACITY: usize = 16_384;
/// Progress events of one file at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Why the daemon is offline and what to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offline {
    pub reason: String,
    /// URLs (without query) whose origin must answer again.
    pub targets: Vec<String>,
}

/// The in-memory status.
#[derive(Debug, Default)]
pub struct Book {
    pub paused: bool,
    pub offline: Option<Offline>,
    /// By queue id.
    pub in_flight: BTreeMap<i64, Flight>,
    pub watch_warning: Option<String>,
    pub last_scan_at: Option<OffsetDateTime>,
    /// Scans running now (no `Idle` while one runs).
    pub scans_running: usize,
    /// `Idle` was sent and nothing happened since.
    pub idle_announced: bool,
}

/// A file being worked on.
#[derive(Debug, Clone)]
pub struct Flight {
    pub path: PathBuf,
    pub bytes_done: u64,
    pub bytes_total: u64,
    last_progress_event: Option<Instant>,
}

/// Broadcasts events and prints `<path>\t<link>` lines on stdout when asked.
pub struct Events {
    tx: broadcast::Sender<Event>,
    print_links: bool,
    book: Mutex<Book>,
}

impl Events {
    pub fn new(print_links: bool) -> Self {
        let (tx, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            tx,
            print_links,
            book: Mutex::new(Book::default()),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Sends an event to every subscriber (and prints the link line of an upload).
    pub fn send(&self, event: Event) {
        if let Event::Uploaded { path, link, .. } = &event
            && self.print_links
        {
            print_link_line(path, link);
        }
        if !matches!(event, Event::Idle | Event::Progress { .. }) {
            self.book().idle_announced = false;
        }
        let _ = self.tx.send(event);
    }

    /// The in-memory status (short critical sections only).
    pub fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A file starts its attempt.
    pub fn flight_started(&self, id: i64, path: &Path, size: u64) {
        self.book().in_flight.insert(
            id,
            Flight {
                path: path.to_path_buf(),
                bytes_done: 0,
                bytes_total: size,
                last_progress_event: None,
            },
        );
    }

    /// Bytes sent; a `Progress` event at most every 200 ms per file (and at the end).
    pub fn flight_progress(&self, id: i64, done: u64, total: u64) {
        let event = {
            let mut book = self.book();
            let Some(flight) = book.in_flight.get_mut(&id) else {
                return;
            };
            flight.bytes_done = done;
            flight.bytes_total = total;
            let now = Instant::now();
            let due = flight
                .last_progress_event
                .is_none_or(|at| now.duration_since(at) >= PROGRESS_EVERY);
            if due || done >= total {
                flight.last_progress_event = Some(now);
                Some(Event::Progress {
                    path: flight.path.clone(),
                    bytes_done: done,
                    bytes_total: total,
                })
            } else {
                None
            }
        };
        if let Some(event) = event {
            let _ = self.tx.send(event);
        }
    }

    pub fn flight_finished(&self, id: i64) {
        self.book().in_flight.remove(&id);
    }

    /// Files in flight, for the status.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.book()
            .in_flight
            .values()
            .map(|f| InFlight {
                path: f.path.clone(),
                bytes_done: f.bytes_done,
                bytes_total: f.bytes_total,
            })
            .collect()
    }
}

/// One `<path>\t<link>` line on stdout (tabs and line breaks in the link become spaces, so
/// one upload is always one line).
fn print_link_line(path: &Path, link: &str) {
    let link: String = link
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}\t{link}", path.display());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_throttled_but_the_last_one_always_goes_out() {
        let events = Events::new(false);
        let mut rx = events.subscribe();
        events.flight_started(1, Path::new("/p/a.png"), 100);
        events.flight_progress(1, 10, 100);
        events.flight_progress(1, 20, 100);
        events.flight_progress(1, 100, 100);
        let mut seen = Vec::new();
        while let Ok(Event::Progress { bytes_done, .. }) = rx.try_recv() {
            seen.push(bytes_done);
        }
        assert_eq!(seen, vec![10, 100]);
        assert_eq!(events.in_flight()[0].bytes_done, 100);
        events.flight_finished(1);
        assert!(events.in_flight().is_empty());
    }

    #[test]
    fn any_real_event_clears_the_idle_mark() {
        let events = Events::new(false);
        events.book().idle_announced = true;
        events.send(Event::Idle);
        assert!(events.book().idle_announced);
        events.send(Event::Paused);
        assert!(!events.book().idle_announced);
    }
}
