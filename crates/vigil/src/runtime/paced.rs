//! Paced reading, one runtime per camera: what lets a watched camera be read at once while the
//! others stay paced.
//!
//! Every RTSP-over-TCP camera gets a small single-threaded tokio runtime of its own (a
//! [`Slot`]), and one thread, `ingest`, drives them all: it sleeps [`super::live::READ_EVERY`],
//! then runs each slot's runtime just long enough to look at its sockets without blocking and
//! let its task take what arrived, and sleeps again. Asleep, the thread waits in no `epoll`, so
//! arriving segments don't wake it: one wake reads every camera's 500 ms at once, exactly as a
//! single paced runtime did (docs/PERFORMANCE.md, "Paced ingest"); the rounds only cost one
//! non-blocking `epoll_wait` per camera more.
//!
//! Two things break the pace, for one camera only:
//! - **Watched** ([`Slot::set_watched`]): while someone watches the camera live, a thread of its
//!   own (`live-NAME`) drives its runtime and waits in its `epoll`, so each frame is read as it
//!   arrives; the paced thread skips the slot meanwhile. When the last viewer leaves, the thread
//!   ends and the slot is paced again. The other cameras never notice.
//! - **Kicked** ([`Slot::kick`]): a motion event asks for the camera's waiting bytes now
//!   (`ingest::rtsp::Freshen`); the paced thread wakes at once and drives that one slot.
//!
//! A slot's runtime is behind a mutex that whoever drives it holds: the paced thread only
//! `try_lock`s (a watched slot is skipped, never waited for).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::warn;

/// One camera's runtime (module docs).
pub struct Slot {
    name: String,
    handle: tokio::runtime::Handle,
    /// The runtime, held by whoever drives it; taken at removal.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    watch: Mutex<Watch>,
    group: Arc<Inner>,
}

#[derive(Default)]
struct Watch {
    on: bool,
    /// Tells the watching thread to stop.
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Slot {
    /// The runtime's handle, to spawn the camera's task on.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    pub fn is_watched(&self) -> bool {
        lock(&self.watch).on
    }

    /// Drives the runtime once if nobody else does: its sockets are looked at (not waited
    /// for) and every task that got something runs. Returns whether it did.
    fn drive_once(&self) -> bool {
        let Ok(rt) = self.runtime.try_lock() else {
            return false;
        };
        let Some(rt) = rt.as_ref() else {
            return false;
        };
        // The first yield resumes after the driver polled the sockets and timers; the tasks
        // that made ready run before the second one resumes.
        rt.block_on(async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        });
        true
    }

    /// Has the paced thread drive this slot now (module docs).
    pub fn kick(self: &Arc<Self>) {
        let mut st = lock(&self.group.state);
        if !st.kicked.iter().any(|s| Arc::ptr_eq(s, self)) {
            st.kicked.push(self.clone());
        }
        self.group.wake.notify_one();
    }

    /// Reads the camera at once while `on` (module docs). Starting the watching thread can
    /// fail (no threads left): the camera then stays paced, and that is logged.
    pub fn set_watched(self: &Arc<Self>, on: bool) {
        let mut w = lock(&self.watch);
        if w.on == on {
            return;
        }
        w.on = on;
        if !on {
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(true);
            }
            return;
        }
        // A previous watching thread may still be on its way out; it releases the runtime
        // before this one can take it.
        let previous = w.thread.take();
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let slot = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("live-{}", self.name))
            .spawn(move || {
                if let Some(p) = previous {
                    let _ = p.join();
                }
                let rt = lock(&slot.runtime);
                if let Some(rt) = rt.as_ref() {
                    rt.block_on(async {
                        let _ = stop_rx.wait_for(|stop| *stop).await;
                    });
                }
            });
        match spawned {
            Ok(t) => {
                w.stop = Some(stop_tx);
                w.thread = Some(t);
            }
            Err(e) => {
                w.on = false;
                warn!(camera = %self.name, "cannot read the camera at once for its viewers: {e}");
            }
        }
    }
}

struct State {
    slots: Vec<Arc<Slot>>,
    kicked: Vec<Arc<Slot>>,
    stop: bool,
}

struct Inner {
    state: Mutex<State>,
    wake: Condvar,
}

/// The paced thread and its slots (module docs).
pub struct Paced {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Paced {
    /// Starts the paced thread, called `name`, driving its slots every `every`.
    pub fn start(name: &str, every: Duration) -> std::io::Result<Paced> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                slots: Vec::new(),
                kicked: Vec::new(),
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let i = inner.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || pace(&i, every))?;
        Ok(Paced {
            inner,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A new slot for camera `name`.
    pub fn add(&self, name: &str) -> std::io::Result<Arc<Slot>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let slot = Arc::new(Slot {
            name: name.to_owned(),
            handle: rt.handle().clone(),
            runtime: Mutex::new(Some(rt)),
            watch: Mutex::new(Watch::default()),
            group: self.inner.clone(),
        });
        lock(&self.inner.state).slots.push(slot.clone());
        Ok(slot)
    }

    /// Removes `slot`: its watching thread ends, and its runtime is shut down (a task still on
    /// it is cancelled). Blocks until nobody drives it.
    pub fn remove(&self, slot: &Arc<Slot>) {
        {
            let mut st = lock(&self.inner.state);
            st.slots.retain(|s| !Arc::ptr_eq(s, slot));
            st.kicked.retain(|s| !Arc::ptr_eq(s, slot));
        }
        slot.set_watched(false);
        let thread = lock(&slot.watch).thread.take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        if let Some(rt) = lock(&slot.runtime).take() {
            rt.shutdown_background();
        }
    }

    /// Cameras that have a slot.
    pub fn len(&self) -> usize {
        lock(&self.inner.state).slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends the paced thread and removes every slot. Blocks; a second call returns at once.
    pub fn stop(&self) {
        lock(&self.inner.state).stop = true;
        self.inner.wake.notify_one();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        let slots = std::mem::take(&mut lock(&self.inner.state).slots);
        for s in &slots {
            self.remove(s);
        }
    }
}

impl Drop for Paced {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The paced thread: a round every `every`, kicked slots at once.
fn pace(inner: &Inner, every: Duration) {
    let mut next_round = Instant::now() + every;
    loop {
        let (round, targets) = {
            let mut st = lock(&inner.state);
            loop {
                if st.stop {
                    return;
                }
                let now = Instant::now();
                if now >= next_round {
                    st.kicked.clear();
                    break (true, st.slots.clone());
                }
                if !st.kicked.is_empty() {
                    break (false, std::mem::take(&mut st.kicked));
                }
                st = inner
                    .wake
                    .wait_timeout(st, next_round - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        for s in &targets {
            s.drive_once();
        }
        if round {
            // A round that ran long doesn't make the next ones come faster to catch up.
            next_round = (next_round + every).max(Instant::now() + every / 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::SocketAddr;
    use std::sync::mpsc::Receiver;
    use tokio::io::AsyncReadExt;

    /// A task on `slot` that accepts one connection on the address returned, sends it one
    /// byte, then reads it; it sends (bytes, reads) when the peer closes, and an instant at
    /// each read.
    type Reads = (SocketAddr, Receiver<(Vec<u8>, usize)>, Receiver<Instant>);

    fn read_all_on(slot: &Slot) -> Reads {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let (done, result) = std::sync::mpsc::channel();
        let (read_tx, reads_rx) = std::sync::mpsc::channel();
        slot.handle().spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (mut conn, _) = listener.accept().await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut conn, b"!")
                .await
                .unwrap();
            let (mut all, mut reads) = (Vec::new(), 0);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                let _ = read_tx.send(Instant::now());
                reads += 1;
                all.extend_from_slice(&buf[..n]);
            }
            done.send((all, reads)).unwrap();
        });
        (addr, result, reads_rx)
    }

    fn connect(addr: SocketAddr) -> std::net::TcpStream {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        std::io::Read::read_exact(&mut conn, &mut [0u8]).unwrap();
        conn.set_nodelay(true).unwrap();
        conn
    }

    #[test]
    fn slots_are_read_in_rounds_and_a_watched_one_at_once() {
        let every = Duration::from_millis(200);
        let paced = Paced::start("paced-test", every).unwrap();
        let a = paced.add("a").unwrap();
        let b = paced.add("b").unwrap();
        let (addr_a, result_a, _) = read_all_on(&a);
        let (addr_b, result_b, _) = read_all_on(&b);
        let mut ca = connect(addr_a);
        let mut cb = connect(addr_b);
        b.set_watched(true);
        assert!(b.is_watched() && !a.is_watched());
        // Both get the same trickle: 60 small writes, 5 ms apart, each its own segment.
        for i in 0..60u32 {
            ca.write_all(&i.to_be_bytes()).unwrap();
            cb.write_all(&i.to_be_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        b.set_watched(false);
        drop((ca, cb));
        let (got_a, reads_a) = result_a.recv_timeout(Duration::from_secs(10)).unwrap();
        let (got_b, reads_b) = result_b.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got_a.len(), 240, "every byte");
        assert_eq!(got_b.len(), 240, "every byte");
        // Paced: ~0.3 s of writes are read in a few rounds; watched: as they come.
        assert!(reads_a <= 6, "the unwatched slot read {reads_a} times");
        assert!(reads_b >= 30, "the watched slot read only {reads_b} times");
        paced.stop();
    }

    #[test]
    fn a_kick_reads_one_slot_without_waiting_for_the_round() {
        // A round so long the test would time out waiting for it.
        let paced = Paced::start("paced-test", Duration::from_secs(3600)).unwrap();
        let a = paced.add("a").unwrap();
        let (addr, _result, reads) = read_all_on(&a);
        // The handshake completes in the kernel; the accept and the "!" need a drive.
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        // A drive takes one step of each task (accept, then the write once the new socket is
        // known writable): kick until the "!" comes.
        let greeted = (0..100).any(|_| {
            a.kick();
            std::io::Read::read_exact(&mut c, &mut [0u8]).is_ok()
        });
        assert!(greeted, "kicks drive the slot");
        c.write_all(b"data").unwrap();
        a.kick();
        reads
            .recv_timeout(Duration::from_secs(5))
            .expect("read after the kick");
        assert_eq!(paced.len(), 1);
        paced.remove(&a);
        assert!(paced.is_empty());
        paced.stop();
    }
}
