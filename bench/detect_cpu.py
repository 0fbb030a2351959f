#!/usr/bin/env python3
"""vigil's own motion detection: its CPU per camera versus ffmpeg decoding the same stream, same
machine, same run (docs/PERFORMANCE.md, "Motion detection").

The stream: 640x360 15 fps H.264 (GOP 1 s, no B-frames, ~500 kbit/s, a scene with sensor noise
and an object crossing it for 4 s every 30 s), what a camera's sub-stream is. For N cameras (default 4):
  - `vigil run` with N `file:` cameras playing it, measured with `detect = false` and then with
    `detect = true`: the detector's cost is the difference (the same reading, buffering and
    recording on both sides);
  - N `ffmpeg -re -i STREAM -f null -` (decode only, real-time rate): what a peer that decodes
    the detect stream with ffmpeg pays before any analysis;
  - CPU % of one core per camera over a window (schedstat), RSS per camera.

Usage: bench/detect_cpu.py [--cameras 4] [--window 30] [--vigil target/release/vigil]
Needs ffmpeg and a release build (cargo build --release -p vigil).
"""
import argparse, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtsp_load import api, measure, wait_log  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_stream(path, every, secs=60):
    # The box crosses once every `every` s (4 s in the picture; never with 0): a camera is quiet
    # most of the time, and the detector's cost depends on it (docs/detection.md).
    x = f"mod(t,{every})*160-100" if every else "-200"
    graph = (f"color=c=0x707070:s=640x360:r=15:d={secs},format=yuv420p,noise=alls=6:allf=t[bg];"
             f"color=c=white:s=60x60:r=15:d={secs},format=yuv420p[box];"
             f"[bg][box]overlay=x='{x}':y=150[out]")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-filter_complex", graph, "-map", "[out]",
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "500k", "-g", "15", "-bf", "0", "-sc_threshold", "0",
                    "-pix_fmt", "yuv420p", path], check=True)


def run_vigil(binary, stream, n, window, tmp, detect):
    tag = "detect" if detect else "plain"
    data = os.path.join(tmp, f"vigil-{tag}")
    cfg = os.path.join(tmp, f"vigil-{tag}.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:0"\ndata_dir = "{data}"\n'
                '[defaults]\npre_buffer_secs = 3\npost_buffer_secs = 1\n')
        for i in range(n):
            f.write(f'[[camera]]\nname = "cam{i}"\nurl = "file:{stream}"\ndetect = {str(detect).lower()}\n')
    log = os.path.join(tmp, f"vigil-{tag}.log")
    proc = subprocess.Popen([binary, "run", "--config", cfg], stderr=open(log, "w"), stdout=subprocess.DEVNULL,
                            env={**os.environ, "RUST_LOG": "warn,vigil::cli=info"})
    try:
        addr = wait_log(proc, log, r"status page on http://(\S+)").group(1)
        time.sleep(5)  # warm up: streams up, pre-buffers full, decoders started
        cpu, rss, _ = measure([proc.pid], window)
        cams = api(addr, "GET", "/api/cameras")["cameras"]
        analysed = sum((c.get("detect") or {}).get("frames_analyzed", 0) for c in cams)
        events = sum((c.get("detect") or {}).get("events", 0) for c in cams)
        errors = sum((c.get("detect") or {}).get("decode_errors", 0) for c in cams)
        return cpu, rss, analysed, events, errors
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_ffmpeg(stream, n, window):
    procs = [subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i", stream,
                               "-f", "null", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(n)]
    try:
        time.sleep(3)
        cpu, rss, _ = measure([p.pid for p in procs], window)
        return cpu, rss
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--vigil", default=os.path.join(ROOT, "target/release/vigil"))
    ap.add_argument("--motion-every", type=float, default=30,
                    help="an object crosses every this many seconds (0: never; 4: always)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stream = os.path.join(tmp, "sub.mp4")
        make_stream(stream, a.motion_every)
        n = a.cameras
        plain, plain_rss, _, _, _ = run_vigil(a.vigil, stream, n, a.window, tmp, False)
        det, det_rss, analysed, events, errors = run_vigil(a.vigil, stream, n, a.window, tmp, True)
        ff, ff_rss = run_ffmpeg(stream, n, a.window)
        per = (det - plain) / n
        every = f"an object crossing 4 s of every {a.motion_every:g} s" if a.motion_every else "nothing moving"
        print(f"{n} cameras, 640x360 15 fps H.264, {every}, {a.window:.0f} s window")
        print(f"  vigil detect=false : {plain / n:6.2f} % CPU/camera, RSS {plain_rss / n / 1024:6.1f} MiB/camera")
        print(f"  vigil detect=true  : {det / n:6.2f} % CPU/camera, RSS {det_rss / n / 1024:6.1f} MiB/camera"
              f" ({analysed} frames analysed, {events} events, {errors} decode errors)")
        print(f"  the detector       : {per:6.2f} % CPU/camera, +{(det_rss - plain_rss) / n / 1024:.1f} MiB/camera")
        print(f"  ffmpeg -f null     : {ff / n:6.2f} % CPU/camera, RSS {ff_rss / n / 1024:6.1f} MiB/camera")
        print(f"  detector / ffmpeg decode = {per / (ff / n):.2f}x")


if __name__ == "__main__":
    main()
