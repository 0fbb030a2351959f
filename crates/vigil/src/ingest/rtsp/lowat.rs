//! Waking the ingest thread about every [`BATCH`] of a camera's data instead of once per frame.
//!
//! A camera sends a frame every 33 ms, and every frame woke the ingest thread: with one camera
//! that wake, not the work done with the frame, was most of vigil's CPU (docs/PERFORMANCE.md).
//! Linux's `SO_RCVLOWAT` makes a TCP socket readable only once that many bytes wait in it (or
//! the peer closed), so the kernel batches frames for us. It is set to about [`BATCH`] worth of
//! the stream's measured rate, and follows the rate as it changes (cameras' bitrate varies with
//! the scene).
//!
//! retina owns the socket and exposes neither it nor its local address. So once a session
//! plays, [`Claim::find`] looks for it among the process's file descriptors: a TCP socket
//! connected to the camera's address that no other session has claimed. Sessions to the same
//! address open one at a time ([`open_lock`]), so at most one unclaimed candidate can be ours;
//! with none or several (an old session's socket still closing), nothing is claimed and the
//! session just runs without the low-water mark. Each candidate is `dup`ed before it is
//! checked, so the check and the setting apply to the same socket even if its number is closed
//! and reused meanwhile. A setting on the wrong socket could only delay that socket's reads, never
//! lose data; the claim rules make it not happen. Linux only; elsewhere nothing is done.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How much of a stream the kernel gathers before it wakes the reader.
pub const BATCH: Duration = Duration::from_millis(100);
/// Bounds of the low-water mark: below the minimum the wakes saved are few; above the maximum a
/// stream whose rate drops (a still scene) would wait too long for its next wake.
pub const MIN_LOWAT: usize = 2 * 1024;
pub const MAX_LOWAT: usize = 64 * 1024;
/// How often the stream's rate is measured and the mark adjusted.
const MEASURE_EVERY: Duration = Duration::from_secs(2);

/// Sessions opening to one address take this lock first (see the module docs).
pub async fn open_lock(key: &str) -> tokio::sync::OwnedMutexGuard<()> {
    type Locks = HashMap<String, Arc<tokio::sync::Mutex<()>>>;
    static LOCKS: LazyLock<Mutex<Locks>> = LazyLock::new(Default::default);
    let lock = {
        let mut map = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
        // Forget addresses nobody holds or waits for, so the map stays as small as the camera list.
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(key.to_owned()).or_default().clone()
    };
    lock.lock_owned().await
}

/// Socket inodes claimed by live sessions.
fn claimed() -> std::sync::MutexGuard<'static, HashSet<u64>> {
    static CLAIMED: LazyLock<Mutex<HashSet<u64>>> = LazyLock::new(Default::default);
    CLAIMED.lock().unwrap_or_else(|p| p.into_inner())
}

/// One session's claim on its socket: a duplicate of its descriptor (closed on drop) and the
/// low-water mark currently set.
#[derive(Debug)]
pub struct Claim {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
    inode: u64,
    lowat: usize,
}

impl Drop for Claim {
    fn drop(&mut self) {
        claimed().remove(&self.inode);
    }
}

impl Claim {
    /// The one unclaimed TCP socket of this process connected to one of `peers`, claimed; `None`
    /// when there isn't exactly one.
    #[cfg(target_os = "linux")]
    pub fn find(peers: &[SocketAddr]) -> Option<Claim> {
        // The listing first: the `dup`s below get numbers of their own, which a listing read
        // while they are made would show too. Several numbers can also share one socket.
        let sockets: Vec<i32> = std::fs::read_dir("/proc/self/fd")
            .ok()?
            .flatten()
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
            })
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        let mut found: Vec<(std::os::fd::OwnedFd, u64)> = Vec::new();
        let mut claimed = claimed();
        for fd in sockets {
            let Some(dup) = sys::dup(fd) else { continue };
            let Some((inode, peer)) = sys::tcp_peer(&dup) else {
                continue;
            };
            if peers.contains(&peer)
                && !claimed.contains(&inode)
                && !found.iter().any(|(_, i)| *i == inode)
            {
                found.push((dup, inode));
            }
        }
        if found.len() != 1 {
            tracing::debug!(
                ?peers,
                candidates = found.len(),
                "no one unclaimed socket to the camera"
            );
            return None;
        }
        let (fd, inode) = found.pop()?;
        claimed.insert(inode);
        Some(Claim {
            fd,
            inode,
            lowat: 1,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn find(_peers: &[SocketAddr]) -> Option<Claim> {
        None
    }

    /// The low-water mark now set, in bytes (1: the kernel's default, wake on any data).
    pub fn lowat(&self) -> usize {
        self.lowat
    }

    /// Sets the low-water mark to `bytes`.
    pub fn set_lowat(&mut self, bytes: usize) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        sys::set_lowat(&self.fd, bytes)?;
        self.lowat = bytes;
        Ok(())
    }
}

/// The low-water mark for a stream of `bytes_per_sec`: [`BATCH`] of it, within bounds.
pub fn lowat_for(bytes_per_sec: f64) -> usize {
    let want = bytes_per_sec * BATCH.as_secs_f64();
    (want as usize).clamp(MIN_LOWAT, MAX_LOWAT)
}

/// Measures a session's byte rate and keeps its socket's low-water mark in step.
#[derive(Debug)]
pub struct Tuner {
    claim: Claim,
    since: Instant,
    bytes: usize,
}

impl Tuner {
    pub fn new(claim: Claim, now: Instant) -> Tuner {
        Tuner {
            claim,
            since: now,
            bytes: 0,
        }
    }

    /// Counts `bytes` received at `now`; about every [`MEASURE_EVERY`] sets the mark from the
    /// rate measured since the last time, when it moved by more than a quarter.
    pub fn received(&mut self, bytes: usize, now: Instant) {
        self.bytes += bytes;
        let elapsed = now.duration_since(self.since);
        if elapsed < MEASURE_EVERY {
            return;
        }
        let want = lowat_for(self.bytes as f64 / elapsed.as_secs_f64());
        let have = self.claim.lowat();
        if want.abs_diff(have) * 4 > have {
            if let Err(e) = self.claim.set_lowat(want) {
                tracing::debug!("SO_RCVLOWAT {want}: {e}");
            }
        }
        self.since = now;
        self.bytes = 0;
    }

    pub fn lowat(&self) -> usize {
        self.claim.lowat()
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    pub fn dup(fd: i32) -> Option<OwnedFd> {
        // SAFETY: F_DUPFD_CLOEXEC on a number that may be closed: fails with EBADF then.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        // SAFETY: `new` is a fresh descriptor owned by nobody else.
        (new >= 0).then(|| unsafe { OwnedFd::from_raw_fd(new) })
    }

    /// (inode, peer address) of a connected TCP socket; `None` for anything else.
    pub fn tcp_peer(fd: &OwnedFd) -> Option<(u64, SocketAddr)> {
        let raw = fd.as_raw_fd();
        // SAFETY: plain syscalls on a descriptor we own, with buffers of the sizes given.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(raw, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                return None;
            }
            let mut ty: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                &mut ty as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            ) != 0
                || ty != libc::SOCK_STREAM
            {
                return None;
            }
            let mut ss: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getpeername(
                raw,
                &mut ss as *mut libc::sockaddr_storage as *mut libc::sockaddr,
                &mut len,
            ) != 0
            {
                return None;
            }
            let peer = match i32::from(ss.ss_family) {
                libc::AF_INET => {
                    let a = &*(&ss as *const libc::sockaddr_storage as *const libc::sockaddr_in);
                    SocketAddr::V4(SocketAddrV4::new(
                        Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                        u16::from_be(a.sin_port),
                    ))
                }
                libc::AF_INET6 => {
                    let a = &*(&ss as *const libc::sockaddr_storage as *const libc::sockaddr_in6);
                    SocketAddr::V6(SocketAddrV6::new(
                        Ipv6Addr::from(a.sin6_addr.s6_addr),
                        u16::from_be(a.sin6_port),
                        a.sin6_flowinfo,
                        a.sin6_scope_id,
                    ))
                }
                _ => return None,
            };
            Some((st.st_ino, peer))
        }
    }

    pub fn set_lowat(fd: &OwnedFd, bytes: usize) -> std::io::Result<()> {
        let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt with an int-sized option value.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// A connected pair on loopback: (client side as the session would own it, server side).
    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    fn readable(s: &std::net::TcpStream) -> bool {
        let mut p = libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, no wait.
        unsafe { libc::poll(&mut p, 1, 0) };
        p.revents & libc::POLLIN != 0
    }

    /// Bytes waiting in the socket's receive queue.
    fn queued(s: &std::net::TcpStream) -> i32 {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        unsafe { libc::ioctl(s.as_raw_fd(), libc::FIONREAD, &mut n) };
        n
    }

    #[test]
    fn finds_the_one_socket_to_the_peer_and_batches_its_reads() {
        let (client, mut server) = pair();
        let peer = client.peer_addr().unwrap();
        // The accepted side's peer is the client's address, not `peer`: only one candidate.
        let mut claim = Claim::find(&[peer]).expect("one candidate");
        assert!(claimed().contains(&claim.inode));
        // Claimed: a second search finds nothing.
        assert!(Claim::find(&[peer]).is_none());
        claim.set_lowat(4096).unwrap();
        server.write_all(&[0; 1000]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while queued(&client) < 1000 {
            assert!(Instant::now() < deadline, "1000 bytes never arrived");
            std::thread::yield_now();
        }
        assert!(
            !readable(&client),
            "1000 bytes < the mark: not readable yet"
        );
        server.write_all(&[0; 3096]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !readable(&client) {
            assert!(
                Instant::now() < deadline,
                "4096 bytes waiting but not readable"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let inode = claim.inode;
        drop(claim);
        assert!(!claimed().contains(&inode));
    }

    #[test]
    fn one_socket_under_several_numbers_is_one_candidate() {
        let (client, _server) = pair();
        let _again = client.try_clone().unwrap();
        assert!(Claim::find(&[client.peer_addr().unwrap()]).is_some());
    }

    #[test]
    fn two_candidates_claim_nothing() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _a = std::net::TcpStream::connect(addr).unwrap();
        let _b = std::net::TcpStream::connect(addr).unwrap();
        assert!(Claim::find(&[addr]).is_none());
    }

    #[test]
    fn a_closed_peer_is_readable_whatever_the_mark() {
        let (client, server) = pair();
        let mut claim = Claim::find(&[client.peer_addr().unwrap()]).unwrap();
        claim.set_lowat(MAX_LOWAT).unwrap();
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !readable(&client) {
            assert!(Instant::now() < deadline, "EOF must wake the reader");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_mark_follows_the_rate_within_bounds() {
        assert_eq!(lowat_for(250_000.0), 25_000); // 2 Mbit/s: 100 ms
        assert_eq!(lowat_for(1_000.0), MIN_LOWAT);
        assert_eq!(lowat_for(10_000_000.0), MAX_LOWAT);
        let (client, _server) = pair();
        let claim = Claim::find(&[client.peer_addr().unwrap()]).unwrap();
        let t0 = Instant::now();
        let mut t = Tuner::new(claim, t0);
        // 250 kB/s for 2 s, in 8 kB frames.
        for i in 1..=60 {
            t.received(8_064, t0 + Duration::from_millis(i * 33));
        }
        assert_eq!(t.lowat(), 1, "not measured before 2 s");
        t.received(8_064, t0 + Duration::from_millis(2_013));
        assert!((24_000..=26_000).contains(&t.lowat()), "{}", t.lowat());
        // The rate drops to a tenth: the mark follows at the next measurement.
        let t1 = t0 + Duration::from_millis(2_013);
        for i in 1..=61 {
            t.received(806, t1 + Duration::from_millis(i * 33));
        }
        assert!((2_300..=2_600).contains(&t.lowat()), "{}", t.lowat());
        // A small change leaves it alone (no syscall for noise).
        let t2 = t1 + Duration::from_millis(61 * 33);
        for i in 1..=61 {
            t.received(900, t2 + Duration::from_millis(i * 33));
        }
        assert!((2_300..=2_600).contains(&t.lowat()), "{}", t.lowat());
    }
}
