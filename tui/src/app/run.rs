//! The terminal side: raw mode and the alternate screen (restored on exit and on panic), the
//! event loop that feeds keys and effect results to [`update`], and redraws when something
//! changed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event,
};
use imgcloud_core::daemon_client::DaemonClient;
use imgcloud_core::preview_cache::{self, PreviewCache};
use ratatui::DefaultTerminal;
use ratatui_image::picker::Picker;
use tokio::sync::mpsc;

use super::action::{self, Action, Effect, update};
use super::backend::{Backend, Live, follow_daemon, perform, upload};
use super::keys::{action_for, mouse_action};
use super::local::Local;
use super::preview_loader::Loader;
use super::state::{AppState, Loading};
use super::timings::{Measure, Timings};
use super::view;
use super::{graphics, preview};
use crate::context::Context;

/// How often the sync daemon is asked how it is.
const DAEMON_EVERY: Duration = Duration::from_secs(5);
/// How often the library is refreshed from the change feed in the background.
const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How soon the daemon's event stream is tried again after it ended or could not open.
const FOLLOW_RETRY: Duration = Duration::from_secs(2);

/// Size limit of the preview cache: `IMGCLOUD_PREVIEW_CACHE_MB`, else 200 MiB.
fn preview_cache_limit() -> u64 {
    std::env::var("IMGCLOUD_PREVIEW_CACHE_MB")
        .ok()
        .and_then(|mb| mb.trim().parse::<u64>().ok())
        .map_or(preview_cache::DEFAULT_MAX_BYTES, |mb| mb * 1024 * 1024)
}

/// Opens the TUI and returns when the user quits.
pub async fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    // Configuration problems are reported before the screen is taken over.
    let client = ctx.client()?;
    let format = ctx.link_format(None)?;
    let timings = Timings::from_env()?;
    let (local, problem) = Local::open(&ctx.dirs, &ctx.server()?);
    let backend = Arc::new(Live {
        client,
        local,
        daemon: DaemonClient::from_dirs(&ctx.dirs),
        concurrency: ctx.config.concurrency,
    });
    let (choice, warning) = graphics::Choice::from_env();
    let cache = PreviewCache::new(ctx.dirs.previews(), preview_cache_limit());
    // Raw mode + alternate screen + mouse reports, and a panic hook that restores the
    // terminal before the panic message is printed.
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let ratatui_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(
            std::io::stdout(),
            DisableBracketedPaste,
            DisableMouseCapture
        );
        ratatui_hook(info);
    }));
    // Asked once, before mouse reports and the input reader start (the answers arrive as
    // input).
    let picker = graphics::detect(choice);
    let mut state = AppState::new(format).with_template(ctx.config.template.as_deref());
    state.preview.protocol = picker.as_ref().map(|p| p.protocol_type());
    let preview = match cache {
        Ok(cache) => Some((Arc::new(cache), picker)),
        Err(e) => {
            state.preview.protocol = None;
            state.set_error(format!("no previews: {e}"));
            None
        }
    };
    if let Some(warning) = warning {
        state.set_error(warning);
    }
    let pending = first_screen(&terminal, &backend.local, &mut state, problem);
    let result =
        match crossterm::execute!(std::io::stdout(), EnableMouseCapture, EnableBracketedPaste) {
            Ok(()) => {
                let measure = Measure::new(timings);
                event_loop(&mut terminal, backend, state, preview, pending, measure).await
            }
            Err(e) => {
                Err(anyhow::Error::new(e)
                    .context("cannot turn on mouse reports and bracketed paste"))
            }
        };
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture
    );
    ratatui::restore();
    result.map(|()| ExitCode::SUCCESS)
}

/// Puts what fits on the first screen from the local catalog into `state` (one indexed query,
/// so the first frame does not wait for the network or for the whole catalog); returns what to
/// load next.
fn first_screen(
    terminal: &DefaultTerminal,
    local: &Local,
    state: &mut AppState,
    problem: Option<String>,
) -> Vec<Effect> {
    let rows = terminal
        .size()
        .map_or(100, |size| view::list_rows(size.width, size.height, state));
    let pending = match local.first_screen(rows) {
        Ok(Some(first)) => action::show_catalog(state, first),
        Ok(None) => vec![Effect::Load { since: 0 }],
        Err(reason) => {
            state.set_error(format!("cannot read the local catalog: {reason}"));
            vec![Effect::Load { since: 0 }]
        }
    };
    if let Some(problem) = problem {
        state.set_error(problem);
    }
    pending
}

async fn event_loop<B: Backend>(
    terminal: &mut DefaultTerminal,
    backend: Arc<B>,
    mut state: AppState,
    preview: Option<(Arc<PreviewCache>, Option<Picker>)>,
    mut pending: Vec<Effect>,
    mut measure: Measure,
) -> anyhow::Result<()> {
    let (input_tx, mut input) = mpsc::unbounded_channel();
    // crossterm's reader blocks; it gets a thread of its own. It ends with the process.
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if input_tx.send((event, Instant::now())).is_err() {
                break;
            }
        }
    });
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let mut daemon_tick = tokio::time::interval(DAEMON_EVERY);
    daemon_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut refresh_tick = tokio::time::interval(REFRESH_EVERY);
    refresh_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    refresh_tick.tick().await;
    // The daemon's event stream feeds the sync panel; it reconnects by itself.
    {
        let backend = Arc::clone(&backend);
        let tx = results_tx.clone();
        tokio::spawn(async move {
            follow_daemon(
                &*backend,
                move |action| drop(tx.send(Ok(action))),
                FOLLOW_RETRY,
            )
            .await
        });
    }
    let loader = preview.map(|(cache, picker)| {
        let results = results_tx.clone();
        Loader::start(cache, picker, move |action| {
            let _ = results.send(Ok(action));
        })
    });

    let mut dirty = true;
    loop {
        for effect in pending.drain(..) {
            if let Some(action) = spawn(&backend, effect, &results_tx) {
                let more = update(&mut state, action);
                debug_assert!(more.is_empty());
            }
        }
        if state.quit {
            return Ok(());
        }
        if dirty {
            let size = terminal.size().context("cannot read the terminal size")?;
            state.set_page(view::list_rows(size.width, size.height, &state));
            if let Some(loader) = &loader {
                let pane = view::picture_area(size.width, size.height, &state);
                loader.want(preview::wanted(&state, pane));
            }
            terminal
                .draw(|frame| view::draw(frame, &state))
                .context("cannot draw on the terminal")?;
            measure.drawn(&state);
            dirty = false;
        }
        let screen = terminal.size().context("cannot read the terminal size")?;
        let first = tokio::select! {
            Some((event, at)) = input.recv() => Some(Input::Event(event, at)),
            Some(outcome) = results.recv() => Some(Input::Done(Box::new(ended(outcome)?))),
            _ = daemon_tick.tick() => {
                let backend = Arc::clone(&backend);
                let tx = results_tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(Ok(Action::DaemonChecked(backend.daemon().await)));
                });
                None
            }
            _ = refresh_tick.tick() => {
                if state.loading == Loading::Idle {
                    state.loading = Loading::Refreshing;
                    pending.push(Effect::Load { since: state.since });
                    dirty = true;
                }
                None
            }
        };
        // Apply everything that is already waiting before drawing once. Each key is read in
        // the state the keys before it left (`/` then `a` types an `a` into the search), so a
        // burst of keys — typed ahead, pasted, sent by a script — means what it would one at
        // a time.
        let mut batch: Vec<Input> = first.into_iter().collect();
        while let Ok((event, at)) = input.try_recv() {
            batch.push(Input::Event(event, at));
        }
        while let Ok(outcome) = results.try_recv() {
            batch.push(Input::Done(Box::new(ended(outcome)?)));
        }
        for input in batch {
            let action = match input {
                Input::Event(event, at) => from_event(&state, event, at, screen, &mut measure),
                Input::Done(action) => Some(*action),
            };
            if let Some(action) = action {
                pending.extend(update(&mut state, action));
                dirty = true;
            }
        }
    }
}

/// What woke the event loop: a terminal event, or a background effect that ended.
enum Input {
    /// An event and when it was read (for the benchmark's timings).
    Event(Event, Instant),
    /// Boxed: actions are large, events small.
    Done(Box<Action>),
}

/// What came of a background effect: its action, or `Err(true)` when it panicked (the panic
/// hook has then already restored the terminal, so the TUI must end).
type Outcome = Result<Action, bool>;

fn ended(outcome: Outcome) -> anyhow::Result<Action> {
    outcome.map_err(|panicked| {
        if panicked {
            anyhow::anyhow!(
                "an internal task of the TUI panicked (message above); please report it"
            )
        } else {
            anyhow::anyhow!("an internal task of the TUI was cancelled")
        }
    })
}

/// A terminal event (read at `at`) as an action (a resize just redraws).
fn from_event(
    state: &AppState,
    event: Event,
    at: Instant,
    screen: ratatui::layout::Size,
    measure: &mut Measure,
) -> Option<Action> {
    match event {
        Event::Key(key) => {
            let action = action_for(state, key);
            if action.is_some() {
                measure.key(state.searching, at);
            }
            action
        }
        Event::Mouse(mouse) => mouse_action(
            state,
            mouse,
            view::list_area(screen.width, screen.height, state),
        ),
        Event::Paste(text) => Some(Action::Paste(text)),
        Event::Resize(..) => Some(Action::Resize {
            list_rows: state.page,
        }),
        _ => None,
    }
}

/// Starts `effect` in the background, its result coming back on `results`. The clipboard is
/// handled here at once (OSC 52 writes to the terminal, which must not race a draw): its
/// result is returned.
fn spawn<B: Backend>(
    backend: &Arc<B>,
    effect: Effect,
    results: &mpsc::UnboundedSender<Outcome>,
) -> Option<Action> {
    if let Effect::Copy { text, what } = effect {
        return Some(Action::Copied {
            what,
            result: backend.copy(&text),
        });
    }
    let backend = Arc::clone(backend);
    let results = results.clone();
    tokio::spawn(async move {
        let progress = results.clone();
        let task = tokio::spawn(async move {
            match effect {
                // Progress comes back while the upload runs.
                Effect::Upload { text } => {
                    let report = move |action| drop(progress.send(Ok(action)));
                    upload(&*backend, &text, report).await
                }
                effect => perform(&*backend, effect).await,
            }
        });
        let _ = results.send(task.await.map_err(|e| e.is_panic()));
    });
    None
}
