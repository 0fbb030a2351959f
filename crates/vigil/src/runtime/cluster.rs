//! One node of a cluster (`[cluster]`, docs/cluster.md): which cameras this node records.
//!
//! Every node lists the same cameras (the config file and the shared catalog). A camera is
//! recorded by the node holding its lease row (`camera_lease`), which it renews every tick;
//! the times in the rows are the catalog's clock, so nodes' clocks don't matter there.
//!
//! **Fencing**: a node counts its own lease valid until `lease_secs - margin` after the moment
//! it *asked* for the renewal that succeeded (its monotonic clock); past that, without a newer
//! renewal, it stops the camera, whatever the catalog says, and before the lease can lapse in
//! the catalog. Another node takes a camera only once its row has lapsed by the catalog's
//! clock. So the old holder has stopped writing (by `margin` at least, with clocks that run at
//! the same rate) before the new one starts.
//!
//! Each node aims at an even share: with `N` cameras and `L` live nodes (sorted by name), node
//! `i` wants `N / L`, plus one when `i < N % L`. It takes free or lapsed cameras in the order of
//! a hash of (node, camera) (rendezvous hashing: nodes prefer different cameras) and hands
//! back its extras (stop, then delete the row) when nodes join. A node stopping cleanly stops
//! its cameras and deletes its rows: the others take them at their next tick.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{info, warn};
use vigil_core::time::Time;

use super::RuntimeHandle;
use crate::catalog::LeaseRow;

/// A lease this node holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Held {
    pub epoch: i64,
    /// Monotonic: past this, without a renewal, the camera stops (fencing).
    pub valid_until: Time,
}

/// What one tick decides.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Held cameras to stop and give back (gone from the list, or more than this node's share).
    pub hand_back: Vec<String>,
    /// Cameras to try to take, best first.
    pub take: Vec<String>,
}

/// The (node, camera) preference: higher is preferred.
fn score(node: &str, camera: &str) -> u64 {
    crate::util::fnv1a(format!("{node}\u{0}{camera}").as_bytes())
}

/// How many cameras node `me` should record.
pub fn share(me: &str, live: &[String], cameras: usize) -> usize {
    let mut nodes: Vec<&str> = live.iter().map(String::as_str).collect();
    if !nodes.contains(&me) {
        nodes.push(me);
    }
    nodes.sort_unstable();
    nodes.dedup();
    let n = nodes.len();
    let rank = nodes.iter().position(|x| *x == me).unwrap_or(0);
    cameras / n + usize::from(rank < cameras % n)
}

/// The decisions of one tick (pure: tested with made-up leases and times).
pub fn plan(
    me: &str,
    cameras: &[String],
    held: &BTreeMap<String, Held>,
    leases: &[LeaseRow],
    live: &[String],
    db_now: i64,
) -> Plan {
    let want = share(me, live, cameras.len());
    let mut out = Plan::default();
    for name in held.keys() {
        if !cameras.contains(name) {
            out.hand_back.push(name.clone());
        }
    }
    let mut kept: Vec<&String> = held.keys().filter(|n| cameras.contains(n)).collect();
    if kept.len() > want {
        kept.sort_by_key(|c| std::cmp::Reverse(score(me, c)));
        for extra in kept.split_off(want) {
            out.hand_back.push(extra.clone());
        }
    }
    if kept.len() < want {
        let mut free: Vec<&String> = cameras
            .iter()
            .filter(|c| !held.contains_key(*c))
            .filter(|c| {
                leases
                    .iter()
                    .find(|l| &l.camera == *c)
                    .is_none_or(|l| l.expires_at < db_now)
            })
            .collect();
        free.sort_by_key(|c| std::cmp::Reverse(score(me, c)));
        out.take = free.into_iter().take(want - kept.len()).cloned().collect();
    }
    out
}

/// The node's lease keeper: a thread ticking every `lease_secs / 5` (0.2–3 s).
pub struct Cluster {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What `/api/cameras` and forwarding need: who records what, and where the nodes are.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub leases: Vec<LeaseRow>,
    pub nodes: Vec<crate::catalog::NodeRow>,
}

struct Keeper {
    rt: RuntimeHandle,
    me: String,
    url: String,
    lease: Duration,
    margin: Duration,
    tick: Duration,
    held: BTreeMap<String, Held>,
}

impl Cluster {
    pub fn start(rt: RuntimeHandle) -> std::io::Result<Cluster> {
        let c = rt.config().cluster.clone().expect("cluster configured");
        let lease = Duration::from_secs(c.lease_secs.into());
        let tick = (lease / 5).clamp(Duration::from_millis(200), Duration::from_secs(3));
        let margin = (lease / 5).max(Duration::from_secs(1));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let mut k = Keeper {
            url: rt.config().public_url(),
            me: c.node,
            rt,
            lease,
            margin,
            tick,
            held: BTreeMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("cluster".into())
            .spawn(move || {
                use std::sync::mpsc::RecvTimeoutError;
                loop {
                    k.tick();
                    match stopped.recv_timeout(k.tick) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                k.leave();
            })?;
        Ok(Cluster {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops this node's cameras and gives their leases back (the others take them at once).
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Keeper {
    fn tick(&mut self) {
        let clock = self.rt.clock().clone();
        let asked = clock.monotonic();
        let cat = self.rt.catalog().clone();
        let lease_us = self.lease.as_micros() as i64;
        let valid_until = asked.plus(self.lease.saturating_sub(self.margin));
        match cat.db_now() {
            Ok(now) => {
                // Renew first: the catalog's `until` counts from before we asked.
                let held: Vec<(String, Held)> =
                    self.held.iter().map(|(k, v)| (k.clone(), *v)).collect();
                for (name, h) in held {
                    match cat.renew_lease(&name, h.epoch, now + lease_us) {
                        Ok(true) => {
                            if let Some(x) = self.held.get_mut(&name) {
                                x.valid_until = valid_until;
                            }
                        }
                        Ok(false) => {
                            warn!(camera = %name, node = %self.me, "another node holds the camera now; stopping it here");
                            self.stop_camera(&name);
                            self.held.remove(&name);
                        }
                        Err(e) => warn!(camera = %name, "cannot renew the camera's lease: {e}"),
                    }
                }
                self.fence();
                if let Err(e) = self.balance(now, lease_us, valid_until) {
                    warn!(node = %self.me, "cluster: {e}");
                }
            }
            Err(e) => {
                warn!(node = %self.me, "cluster: the catalog doesn't answer: {e}");
                self.fence();
            }
        }
    }

    /// Stops every camera whose lease this node can't count on any more.
    fn fence(&mut self) {
        let now = self.rt.clock().monotonic();
        let lapsed: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| now >= h.valid_until)
            .map(|(n, _)| n.clone())
            .collect();
        for name in lapsed {
            warn!(camera = %name, node = %self.me, "the camera's lease could not be renewed in time; stopping it here (another node may take it)");
            self.stop_camera(&name);
            self.held.remove(&name);
        }
    }

    fn balance(
        &mut self,
        now: i64,
        lease_us: i64,
        valid_until: Time,
    ) -> crate::catalog::Result<()> {
        let cat = self.rt.catalog().clone();
        let live: Vec<String> = cat
            .heartbeat(&self.url, now, now - lease_us)?
            .into_iter()
            .map(|n| n.name)
            .collect();
        let leases = cat.leases()?;
        let configs = super::with_stored_cameras(self.rt.config(), &cat);
        let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        let p = plan(&self.me, &names, &self.held, &leases, &live, now);
        for name in p.hand_back {
            if let Some(h) = self.held.remove(&name) {
                info!(camera = %name, node = %self.me, "handing the camera over");
                self.stop_camera(&name);
                cat.release_lease(&name, h.epoch)?;
            }
        }
        for name in p.take {
            let Some(epoch) = cat.try_lease(&name, now, now + lease_us)? else {
                continue;
            };
            let Some(cfg) = configs.iter().find(|c| c.name == name).cloned() else {
                continue;
            };
            info!(camera = %name, node = %self.me, epoch, "recording the camera here");
            match self.rt.cameras().start(cfg) {
                Ok(()) => {
                    self.held.insert(name, Held { epoch, valid_until });
                }
                Err(e) => {
                    warn!(camera = %name, "cannot start the camera: {e}; giving it back");
                    cat.release_lease(&name, epoch)?;
                }
            }
        }
        Ok(())
    }

    fn stop_camera(&self, name: &str) {
        if let Err(e) = self.rt.cameras().stop(name) {
            warn!(camera = %name, "stopping: {e}");
        }
    }

    /// A clean stop: cameras stopped (their clips closed), then the leases given back.
    fn leave(&mut self) {
        let held = std::mem::take(&mut self.held);
        for name in held.keys() {
            self.stop_camera(name);
        }
        if let Err(e) = self.rt.catalog().leave_cluster() {
            warn!(node = %self.me, "cannot give the leases back ({e}); the others take the cameras when they lapse");
        } else if !held.is_empty() {
            info!(node = %self.me, cameras = held.len(), "handed the cameras over");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("cam{i}")).collect()
    }

    fn lease(camera: &str, node: &str, expires_at: i64) -> LeaseRow {
        LeaseRow {
            camera: camera.into(),
            node: node.into(),
            expires_at,
            epoch: 1,
        }
    }

    #[test]
    fn shares_are_even_and_add_up() {
        for (cams, nodes) in [(4, 2), (4, 3), (5, 2), (1, 3), (0, 2), (64, 5)] {
            let live: Vec<String> = (0..nodes).map(|i| format!("n{i}")).collect();
            let total: usize = live.iter().map(|n| share(n, &live, cams)).sum();
            assert_eq!(total, cams, "{cams} cameras on {nodes} nodes");
            let most = live.iter().map(|n| share(n, &live, cams)).max().unwrap();
            let least = live.iter().map(|n| share(n, &live, cams)).min().unwrap();
            assert!(most - least <= 1);
        }
        assert_eq!(share("alone", &[], 4), 4, "a node counts itself");
    }

    #[test]
    fn two_nodes_split_four_cameras_and_take_over_lapsed_ones() {
        let cams = names(4);
        let live = vec!["a".to_owned(), "b".to_owned()];
        let none = BTreeMap::new();
        let pa = plan("a", &cams, &none, &[], &live, 100);
        let pb = plan("b", &cams, &none, &[], &live, 100);
        assert_eq!((pa.take.len(), pb.take.len()), (2, 2));
        // b holds two; a may take only the other two, and b's once they lapse.
        let held_b = [&pb.take[0], &pb.take[1]];
        let leases: Vec<LeaseRow> = held_b.iter().map(|c| lease(c, "b", 200)).collect();
        let p = plan("a", &cams, &none, &leases, &live, 150);
        assert!(p.take.iter().all(|c| !held_b.contains(&c)), "{p:?}");
        let alone = vec!["a".to_owned()];
        let p = plan("a", &cams, &none, &leases, &alone, 150);
        assert_eq!(p.take.len(), 2, "b's leases have not lapsed yet: {p:?}");
        let p = plan("a", &cams, &none, &leases, &alone, 201);
        assert_eq!(p.take.len(), 4, "b's lapsed: a takes all: {p:?}");
    }

    #[test]
    fn extras_and_removed_cameras_are_handed_back() {
        let cams = names(4);
        let t = Time::from_secs(1);
        let held: BTreeMap<String, Held> = names(5)
            .into_iter()
            .map(|c| {
                (
                    c,
                    Held {
                        epoch: 1,
                        valid_until: t,
                    },
                )
            })
            .collect();
        let live = vec!["a".to_owned(), "b".to_owned()];
        let p = plan("a", &cams, &held, &[], &live, 0);
        // cam4 is gone from the list; of the four left, two go to b.
        assert!(p.hand_back.contains(&"cam4".to_owned()));
        assert_eq!(p.hand_back.len(), 3, "{p:?}");
        assert!(p.take.is_empty());
    }
}
