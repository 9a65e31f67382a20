//! Sending runs on a thread of its own, with a single-threaded async runtime.
//!
//! A send is eight (or `concurrency`) SMTP conversations and a thread that commits their
//! delivery states: little computing, much waiting. On tokio's multi-threaded runtime its tasks
//! moved between worker threads at every reply and every commit, and those thread switches cost
//! more than the work (`benches/send_ab.sh`, 20,000 recipients into `smtp-sink`: 145 µs of CPU
//! per message with two workers, 129 with one). On one thread of its own the send also leaves
//! the daemon's runtime to the HTTP requests. The store's blocking work still goes to tokio's
//! blocking threads, and a stop request still reaches the send through its watch channel.

use std::future::Future;

use tokio::sync::oneshot;

/// Runs the future `make` returns to completion on a new thread with a single-threaded runtime
/// and returns its output; a panic there is resumed here.
pub async fn run_on_own_thread<T, F>(make: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let (done, output) = oneshot::channel();
    std::thread::Builder::new()
        .name("kurier-send".to_owned())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a single-threaded runtime can be built");
                runtime.block_on(make())
            }));
            let _ = done.send(result);
        })
        .expect("a thread can be started");
    match output.await.expect("the sending thread answers before it ends") {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_output_comes_back_and_a_panic_is_resumed_in_the_caller() {
        let thread = run_on_own_thread(|| async { std::thread::current().name().map(str::to_owned) }).await;
        assert_eq!(thread.as_deref(), Some("kurier-send"));
        let panicked = tokio::spawn(run_on_own_thread(|| async { panic!("in the send") })).await.unwrap_err();
        assert!(panicked.is_panic());
    }
}
