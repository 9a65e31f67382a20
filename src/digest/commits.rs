//! Group commit of delivery states. Every message moves its delivery twice — to `sending` before
//! the SMTP transaction, to `sent` (or another end) after it — and each move must be committed
//! before the worker goes on, so that a crash re-sends at most the messages in flight. Committed
//! one by one, those moves were a third of a send's own cost. Here one thread takes the moves of
//! every worker and commits all that are waiting in one transaction; each worker still waits for
//! the commit of its own move, so the order of commits and SMTP transactions is the same as
//! before. The store's queries leave the async workers too: they run on this thread.
//!
//! A worker may also hand over two moves at once — the `sent` of the message it has just sent
//! with the `sending` of its next one — which are committed in one transaction before the next
//! SMTP transaction starts: half the commits and half the waits of one move at a time, and the
//! same guarantee (a crash before that commit re-sends the one message whose `sent` was not yet
//! committed, as a crash just after its SMTP transaction always did).

use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::store::{DeliveryChange, Store, StoreError};

/// Moves committed in one transaction at most.
const BATCH: usize = 256;

type Request = (Vec<DeliveryChange>, oneshot::Sender<Result<(), StoreError>>);

/// The sending side: cheap to share among workers; the thread ends when it is dropped.
pub struct Committer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Committer {
    /// Starts the committing thread on `store`.
    pub fn start(store: Arc<Mutex<Store>>) -> Committer {
        let (requests, mut waiting) = mpsc::unbounded_channel::<Request>();
        std::thread::Builder::new()
            .name("kurier-commits".to_owned())
            .spawn(move || {
                while let Some(first) = waiting.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match waiting.try_recv() {
                            Ok(request) => batch.push(request),
                            Err(_) => break,
                        }
                    }
                    commit(&store, batch);
                }
            })
            .expect("a thread can be started");
        Committer { requests }
    }

    /// Commits `changes`, in their order, in one transaction (with others waiting at the same
    /// time) and returns once they are committed.
    pub async fn set(&self, changes: Vec<DeliveryChange>) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        self.requests.send((changes, done)).map_err(|_| StoreError::Unavailable)?;
        committed.await.unwrap_or(Err(StoreError::Unavailable))
    }
}

/// One transaction for the batch; if it fails, each request alone, so that each waiter gets the
/// error of its own moves.
fn commit(store: &Mutex<Store>, batch: Vec<Request>) {
    let mut store = store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Utc::now();
    let changes: Vec<&DeliveryChange> = batch.iter().flat_map(|(changes, _)| changes).collect();
    if store.set_deliveries(&changes, now).is_ok() {
        for (_, done) in batch {
            let _ = done.send(Ok(()));
        }
        return;
    }
    for (changes, done) in batch {
        let _ = done.send(store.set_deliveries(&changes.iter().collect::<Vec<_>>(), now));
    }
}
