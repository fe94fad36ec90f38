//! The scraper runs on a thread of its own, with its own single-threaded async runtime, apart
//! from the runtime that serves the API.
//!
//! A cycle is a burst: thousands of TLS reads, then a decode and a store apply per node, all
//! synchronous stretches. On the serving runtime's workers they queued requests behind them
//! (at 5,000 nodes, list p99 in the hundreds of milliseconds while a cycle ran, gets over
//! 2 ms); on a thread of their own the operating system shares the cores between the burst and
//! the requests, and the scraper's tasks never wake the serving workers.

use std::future::Future;

use tokio::sync::oneshot;

use super::Scraper;

/// Starts `scraper` on its own thread. The returned future completes when the scraper stops;
/// dropping it (aborting the task that polls it) stops the scraper and its thread.
pub fn start(scraper: Scraper) -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (done, finished) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("scraper".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = scraper.run() => {}
                    _ = stopped => {}
                }
            });
            // The runtime (and the fetches still in flight) goes before the stop is reported.
            drop(runtime);
            let _ = done.send(());
        })?;
    Ok(async move {
        // Held until this future completes or is dropped; dropping it stops the scraper.
        let _stop = stop;
        let _ = finished.await;
    })
}
