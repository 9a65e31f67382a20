//! Confirmation e-mails, sent in the background by one worker task.
//!
//! `POST /subscribe` updates the store, puts the confirmation on this queue and answers at once.
//! When the answer waited for the SMTP exchange it took 210 ms for a new address and 2 ms for
//! one already subscribed (which gets no mail), and so told anyone who asked whether an address
//! was on the list (§10). The handler reserves a place in the queue ([`Confirmations::reserve`])
//! before it looks the address up, so that a full queue answers every address alike.
//!
//! The worker renders the message (with the mailer and transport of the moment the address was
//! submitted), sends it, and retries transient failures twice, a few seconds apart; it logs the
//! outcome by subscriber id, the address masked. On a stop, [`Confirmations::close`] takes no
//! more, lets the worker send what is queued (without retry waits) for a few seconds, and logs
//! what is left unsent: those subscribers stay `pending` and can submit the form again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::digest::Mailer;
use crate::mail::{Masked, Transport, mask_addresses};

/// Confirmations waiting to be sent, at most.
pub const CAPACITY: usize = 1024;
/// How long a stop waits for the queue to be sent.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(3);
/// The waits before the retries of a confirmation that failed transiently.
const RETRY_WAITS: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(8)];

/// One confirmation to send.
pub struct Job {
    pub subscriber: i64,
    /// The subscriber's version, which the link is signed with.
    pub version: i64,
    pub email: String,
    pub name: Option<String>,
    pub at: DateTime<Utc>,
    pub mailer: Arc<Mailer>,
    pub transport: Arc<Transport>,
}

/// The queue and its worker.
pub struct Confirmations {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    stopping: watch::Sender<bool>,
    /// Jobs handed over and not yet done.
    queued: Arc<AtomicUsize>,
}

/// A reserved place in the queue.
pub struct Slot {
    permit: mpsc::OwnedPermit<Job>,
    queued: Arc<AtomicUsize>,
}

impl Slot {
    pub fn send(self, job: Job) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.permit.send(job);
    }
}

impl Confirmations {
    /// Starts the worker on the current tokio runtime.
    pub fn start() -> Confirmations {
        let (sender, jobs) = mpsc::channel(CAPACITY);
        let (stopping, stop) = watch::channel(false);
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = tokio::spawn(work(jobs, stop, Arc::clone(&queued)));
        Confirmations { sender: Mutex::new(Some(sender)), worker: Mutex::new(Some(worker)), stopping, queued }
    }

    /// A place in the queue; none when it is full or closed.
    pub fn reserve(&self) -> Option<Slot> {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        let permit = sender.try_reserve_owned().ok()?;
        Some(Slot { permit, queued: Arc::clone(&self.queued) })
    }

    /// Takes no more confirmations and waits at most `deadline` for the queued ones to be sent.
    pub async fn close(&self, deadline: Duration) {
        // The worker ends when the queue is empty and every sender is gone.
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let _ = self.stopping.send(true);
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(worker) = worker else { return };
        if tokio::time::timeout(deadline, worker).await.is_err() {
            let unsent = self.queued.load(Ordering::Relaxed);
            tracing::warn!(unsent, "stopping with confirmation e-mails unsent; those addresses stay pending");
        }
    }
}

async fn work(mut jobs: mpsc::Receiver<Job>, stop: watch::Receiver<bool>, queued: Arc<AtomicUsize>) {
    while let Some(job) = jobs.recv().await {
        send(&job, stop.clone()).await;
        queued.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn send(job: &Job, mut stop: watch::Receiver<bool>) {
    let message = match job.mailer.confirmation(job.subscriber, job.version, &job.email, job.name.as_deref(), job.at) {
        Ok(message) => message,
        Err(e) => {
            let told = crate::errors::each_cause_once(&e);
            let error = mask_addresses(&told);
            tracing::error!(subscriber = job.subscriber, %error, "cannot make a confirmation e-mail");
            return;
        }
    };
    let mut session = job.transport.session();
    let mut waits = RETRY_WAITS.iter();
    loop {
        let error = match session.send(&message).await {
            Ok(_) => {
                tracing::info!(subscriber = job.subscriber, "confirmation e-mail sent");
                break;
            }
            Err(error) => error,
        };
        let reply = mask_addresses(&error.reply);
        let wait = if error.permanent || *stop.borrow() { None } else { waits.next() };
        let Some(wait) = wait else {
            tracing::error!(
                subscriber = job.subscriber,
                recipient = %Masked(&job.email),
                %reply,
                "cannot send a confirmation e-mail"
            );
            break;
        };
        tracing::info!(subscriber = job.subscriber, %reply, "confirmation e-mail deferred; retrying");
        // A stop cuts the wait short: the queue gets one more try, then the worker ends.
        tokio::select! {
            _ = tokio::time::sleep(*wait) => {}
            _ = stop.wait_for(|stopping| *stopping) => {}
        }
    }
    session.close().await;
}
