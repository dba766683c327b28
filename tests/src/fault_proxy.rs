//! A TCP proxy in front of a service that a test can make refuse or drop connections, to play
//! an outage of the object store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::net::{TcpListener, TcpStream};

/// How the proxy treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward bytes both ways.
    Pass = 0,
    /// Accept, then close at once without a byte (a dropped connection).
    Drop = 1,
    /// Answer nothing and reset: the listener is gone (connection refused).
    Refuse = 2,
}

/// A running proxy on 127.0.0.1 (its own tokio runtime on a thread).
pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    _runtime: tokio::runtime::Runtime,
}

impl FaultProxy {
    /// Listens on `listen` (use port 0 for a free one) and forwards to `upstream`.
    pub fn start(listen: SocketAddr, upstream: SocketAddr) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let listener = runtime.block_on(TcpListener::bind(listen))?;
        let addr = listener.local_addr()?;
        let shared = mode.clone();
        runtime.spawn(async move {
            let mut listener = Some(listener);
            loop {
                let current = shared.load(Ordering::SeqCst);
                if current == Mode::Refuse as u8 {
                    // Close the listening socket so connects are refused; reopen on Pass/Drop.
                    listener = None;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                let l = match &listener {
                    Some(l) => l,
                    None => match TcpListener::bind(addr).await {
                        Ok(l) => listener.insert(l),
                        Err(_) => {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            continue;
                        }
                    },
                };
                let accepted = tokio::select! {
                    a = l.accept() => a,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => continue,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                if shared.load(Ordering::SeqCst) != Mode::Pass as u8 {
                    drop(inbound);
                    continue;
                }
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    // Forward until either side closes or the mode leaves Pass.
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let watch = async {
                        loop {
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            if shared.load(Ordering::SeqCst) != Mode::Pass as u8 {
                                break;
                            }
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        _ = watch => {}
                    }
                });
            }
        });
        Ok(Self {
            addr,
            mode,
            _runtime: runtime,
        })
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}
