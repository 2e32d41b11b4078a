//! The queue of database work and the threads it runs on.
//!
//! diesel blocks, so database work runs on threads of its own: the blocking pool of a tokio
//! runtime of their own, at most one thread per pooled connection. Work beyond that waits
//! in the pool's queue, first in, first out, so that no early request starves behind later
//! ones; waiting there holds no HTTP worker and no thread. Work that has not started by its
//! deadline is given up (the request is answered 503 then) and skipped when its turn comes.
//! A thread that finishes a unit takes the next one at once: under load no thread sleeps
//! between two units, so that handing work over costs no wake-up. List bills at 64
//! connections on 2 cores, every process on every core (wrk, 10 s, the pool of 6, metrics
//! off, `make bench`'s data): 6,745 req/s and 140 µs of server CPU per request with a
//! semaphore in front of each HTTP worker's own blocking threads, 8,226 req/s and 123 µs
//! with this queue.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Instant,
};

/// Why queued work gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// It had not started by its deadline, and never will.
    #[error("not started by its deadline")]
    Expired,
    /// It panicked.
    #[error("the work panicked: {0}")]
    Panicked(String),
}

/// Database work waiting for, and running on, threads of its own.
pub struct WorkQueue {
    /// Only its blocking pool is used; it is never driven. `None` once dropped.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl WorkQueue {
    /// At most `threads` threads, each `niceness` below the process's priority
    /// (`DatabaseConfig::db_thread_niceness` says why).
    pub fn new(threads: usize, niceness: i32) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(threads)
            .thread_name("billing-db")
            .on_thread_start(move || lower_priority(niceness))
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Runs `work` on the next free thread, after the work queued before it, and waits for
    /// its answer; `Expired` at `deadline` if it has not started by then (it is then
    /// skipped). Work that started in time is waited for to its end.
    pub async fn run<T, F>(&self, deadline: Instant, work: F) -> Result<T, QueueError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let turn = Turn::queued();
        let thread_turn = turn.clone();
        let mut outcome = self
            .handle
            .spawn_blocking(move || thread_turn.start().then(work));
        let finished = match tokio::time::timeout_at(deadline.into(), &mut outcome).await {
            Ok(finished) => finished,
            Err(_) if turn.abandon() => return Err(QueueError::Expired),
            // Started in time: its answer is worth the wait.
            Err(_) => outcome.await,
        };
        match finished {
            Ok(Some(answer)) => Ok(answer),
            // Only a request that gave the work up makes the thread skip it, and that
            // request returned above.
            Ok(None) => Err(QueueError::Expired),
            Err(error) => Err(QueueError::Panicked(error.to_string())),
        }
    }
}

impl Drop for WorkQueue {
    /// A runtime must not be dropped where blocking is not allowed, as on an HTTP worker
    /// that drops the last handle of the database; work under way finishes on its own.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Where a unit of work stands, between the request that waits for it and the thread that
/// runs it: whichever moves it out of the queue first decides whether it runs or was given
/// up at the request's deadline. Shared this way, a start wakes nobody; only the answer does.
struct Turn(AtomicU8);

impl Turn {
    const QUEUED: u8 = 0;
    const STARTED: u8 = 1;
    const ABANDONED: u8 = 2;

    fn queued() -> Arc<Self> {
        Arc::new(Self(AtomicU8::new(Self::QUEUED)))
    }

    /// The thread's side: false when the request gave the work up.
    fn start(&self) -> bool {
        self.leave_queue(Self::STARTED)
    }

    /// The request's side, at its deadline: false when the work has started.
    fn abandon(&self) -> bool {
        self.leave_queue(Self::ABANDONED)
    }

    fn leave_queue(&self, next: u8) -> bool {
        self.0
            .compare_exchange(Self::QUEUED, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Raises the calling thread's nice value by `niceness` (on Linux, a thread's own). Work on
/// a thread that keeps its priority is still done, so a refusal is only logged.
fn lower_priority(niceness: i32) {
    if niceness > 0
        && let Err(error) = rustix::process::nice(niceness)
    {
        log::warn!("a database thread keeps its priority: {error}");
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Mutex,
            atomic::AtomicBool,
            mpsc::{self, Receiver},
        },
        time::Duration,
    };

    use super::*;

    /// Far enough ahead that no deadline of these tests passes by accident.
    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// Occupies the queue's only thread until the returned sender is dropped or sent to;
    /// returns once the work has started.
    async fn occupy(queue: &Arc<WorkQueue>) -> mpsc::Sender<()> {
        let (release, released): (_, Receiver<()>) = mpsc::channel();
        let (started, has_started) = tokio::sync::oneshot::channel();
        let queue_ = queue.clone();
        tokio::spawn(async move {
            queue_
                .run(later(), move || {
                    let _ = started.send(());
                    let _ = released.recv();
                })
                .await
        });
        has_started.await.expect("the blocking work starts");
        release
    }

    #[tokio::test]
    async fn work_runs_in_the_order_it_was_queued() {
        let queue = Arc::new(WorkQueue::new(1, 0).expect("queue"));
        let release = occupy(&queue).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let units = (0..8).map(|unit| {
            let order = order.clone();
            queue.run(later(), move || order.lock().expect("lock").push(unit))
        });
        // `join_all` polls each unit once, in order, before the thread is released: each
        // joins the queue on its first poll.
        let (answers, ()) = tokio::join!(futures_util::future::join_all(units), async {
            drop(release)
        });
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(*order.lock().expect("lock"), (0..8).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn work_not_started_by_its_deadline_expires_and_never_runs() {
        let queue = Arc::new(WorkQueue::new(1, 0).expect("queue"));
        let release = occupy(&queue).await;
        let ran = Arc::new(AtomicBool::new(false));
        let ran_ = ran.clone();
        let deadline = Instant::now() + Duration::from_millis(50);
        let answer = queue
            .run(deadline, move || ran_.store(true, Ordering::SeqCst))
            .await;
        assert_eq!(answer, Err(QueueError::Expired));
        // The thread is still held: the deadline, not a free thread, ended the wait.
        drop(release);
        // Work queued after the expired unit runs only once the thread has passed it.
        queue.run(later(), || ()).await.expect("the next unit runs");
        assert!(!ran.load(Ordering::SeqCst), "expired work is skipped");
    }

    #[tokio::test]
    async fn work_that_started_in_time_is_waited_for_past_its_deadline() {
        let queue = WorkQueue::new(1, 0).expect("queue");
        let deadline = Instant::now() + Duration::from_millis(20);
        let answer = queue
            .run(deadline, move || {
                // Outlasts the deadline, whatever the machine's load.
                while Instant::now() < deadline + Duration::from_millis(30) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                42
            })
            .await;
        assert_eq!(answer, Ok(42));
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_the_thread_serves_on() {
        let queue = WorkQueue::new(1, 0).expect("queue");
        let answer = queue.run(later(), || panic!("a bug")).await;
        assert!(matches!(answer, Err(QueueError::Panicked(_))), "{answer:?}");
        assert_eq!(queue.run(later(), || 7).await, Ok(7));
    }
}
