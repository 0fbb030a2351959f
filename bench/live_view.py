#!/usr/bin/env python3
"""Live view's costs and latency, on the RTSP test bed (the 720p30 ~2 Mbit/s stream of
bench/rtsp_load.py, GOP 1 s).

For each N (default 1 and 16 cameras), with `vigil run` and a 5 s memory pre-buffer:
  - CPU % of a core per camera (vigil's process only, /proc schedstat over a window) with nobody
    watching (the paced reads), with one live viewer per camera (`live.mp4` read over HTTP by a
    thread of this script: that camera is read as its bytes arrive), and with four viewers per
    camera; from which the cost of watching a camera and of each further viewer;
  - for N = 1, in headless Chromium (bench/live_browser.mjs, Debian's /usr/bin/chromium and the
    playwright-core of crates/vigil/tests/browser): time to first frame of the camera page's live
    view (navigation start -> first requestVideoFrameCallback) over 20 page loads, and the
    glass-to-glass lag over 20 s: each presented frame's presentation time minus its packet's camera
    time (`live.ws?prft=1`, docs/API.md).
Prints a table; docs/PERFORMANCE.md has the figures of a run.

Usage: bench/live_view.py [--cameras 1,16] [--window 20] [--vigil target/release/vigil]
Needs the test bed and the browser tests' packages (scripts/setup) and a release build.
"""
import argparse, os, signal, statistics, subprocess, sys, tempfile, threading, time, urllib.request, json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rtsp_load as rl  # noqa: E402

ROOT = rl.ROOT


class Viewer(threading.Thread):
    """Reads a camera's live.mp4 to the end (or until stopped), as a player would."""

    def __init__(self, addr, cam):
        super().__init__(daemon=True)
        self.url = f"http://{addr}/api/cameras/{cam}/live.mp4"
        self.bytes = 0
        self.stop = False

    def run(self):
        with urllib.request.urlopen(self.url, timeout=30) as r:
            while not self.stop:
                b = r.read(65536)
                if not b:
                    return
                self.bytes += len(b)


def viewers_of(addr):
    return {c["name"]: c["live"]["viewers"] for c in rl.api(addr, "GET", "/api/cameras")["cameras"]}


def watch(addr, n, per_camera):
    vs = [Viewer(addr, f"cam{i}") for i in range(n) for _ in range(per_camera)]
    for v in vs:
        v.start()
    end = time.monotonic() + 20
    while time.monotonic() < end and not all(x == per_camera for x in viewers_of(addr).values()):
        time.sleep(0.1)
    time.sleep(2)  # past the GOP each viewer starts with
    return vs


def unwatch(addr, vs):
    for v in vs:
        v.stop = True
    end = time.monotonic() + 20
    while time.monotonic() < end and any(viewers_of(addr).values()):
        time.sleep(0.1)


def browser(addr, cam):
    node = subprocess.run(["node", os.path.join(ROOT, "bench/live_browser.mjs"), f"http://{addr}", cam],
                          capture_output=True, text=True, timeout=300)
    if node.returncode != 0:
        sys.exit(f"live_browser.mjs failed:\n{node.stderr}")
    return json.loads(node.stdout.strip().splitlines()[-1])


def pct(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(round((len(s) - 1) * q)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", default="1,16")
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--vigil", default=os.path.join(ROOT, "target/release/vigil"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vigil-live-")
    ns = [int(x) for x in a.cameras.split(",")]
    servers, urls, holders = rl.start_test_bed(max(ns), tmp)
    print(f"stream: 1280x720 30 fps ~2 Mbit/s H.264, GOP 1 s; window {a.window:.0f} s, {os.cpu_count()} cores\n")
    print(f"{'N':>3} {'viewers':<22} {'CPU %/cam':>10} {'RSS MiB/cam':>12}")
    try:
        for n in ns:
            proc, addr, log = rl.start_vigil(a.vigil, urls, n, tmp)
            rows = []
            for label, per in [("none (paced reads)", 0), ("1 per camera", 1), ("4 per camera", 4)]:
                vs = watch(addr, n, per) if per else []
                cpu, rss, _ = rl.measure([proc.pid], a.window)
                skips = sum(c["live"]["skips"] for c in rl.api(addr, "GET", "/api/cameras")["cameras"])
                got = sum(v.bytes for v in vs)
                unwatch(addr, vs)
                rows.append((per, cpu / n))
                extra = f"  ({got / 2**20:.0f} MiB read, {skips} skips)" if per else ""
                print(f"{n:>3} {label:<22} {cpu / n:10.3f} {rss / n / 1024:12.1f}{extra}", flush=True)
            none, one, four = (c for _, c in rows)
            print(f"    watching a camera: +{one - none:.3f} % of a core; each further viewer: "
                  f"+{(four - one) / 3:.3f} %\n", flush=True)
            if n == 1:
                b = browser(addr, "cam0")
                ff = b["first_frame_ms"]
                lag = b["lag_ms"]
                print(f"    browser, time to first frame over {len(ff)} page loads: p50 {pct(ff, .5):.0f} ms, "
                      f"p90 {pct(ff, .9):.0f} ms, max {max(ff):.0f} ms")
                print(f"    browser, glass-to-glass lag over {len(lag)} frames ({b['lag_secs']:.0f} s): "
                      f"p50 {pct(lag, .5):.0f} ms, p99 {pct(lag, .99):.0f} ms, max {max(lag):.0f} ms; "
                      f"mean {statistics.mean(lag):.0f} ms\n", flush=True)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    finally:
        rl.stop_test_bed(servers, holders)


if __name__ == "__main__":
    main()
