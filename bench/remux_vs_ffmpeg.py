#!/usr/bin/env python3
"""Recording cost of vigil's clip writer versus `ffmpeg -c copy`, same input, same machine, same run.

Makes a test stream with ffmpeg (720p30 H.264 at ~2 Mbit/s with AAC, GOP 1 s, no B-frames: a
typical camera main stream), then repeatedly rewrites it as a fragmented MP4:
  - ffmpeg -c copy -movflags +frag_keyframe+empty_moov+default_base_moof
  - vigil remux (the recording path: MP4 reader -> ClipWriter, ~1 s fragments, each fdatasync'ed)
and prints CPU time (user+sys) per second of video, wall time and peak RSS for each.
Usage: bench/remux_vs_ffmpeg.py [--seconds 60] [--runs 5] [--vigil target/release/vigil]
"""
import argparse, os, resource, subprocess, sys, tempfile, time


def run(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = p.communicate()
    wall = time.perf_counter() - t0
    status = p.returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def rss_of(cmd):
    """Peak RSS (KiB) of one run, measured alone via wait4."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return ru.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--vigil", default="target/release/vigil")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="vigil-bench-")
    src = os.path.join(d, "in.mp4")
    print(f"making a {a.seconds} s 1280x720 30 fps H.264 ~2 Mbit/s + AAC test stream ...", file=sys.stderr)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(a.seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M",
                    "-g", "30", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "64k", src], check=True)
    size = os.path.getsize(src)
    tools = {
        "ffmpeg -c copy (fMP4)": lambda o: ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src, "-c", "copy",
                                             "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", o],
        "vigil remux (fMP4, durable)": lambda o: [a.vigil, "remux", src, o],
    }
    print(f"input: {size/1e6:.1f} MB, {a.seconds} s, {a.runs} runs each\n")
    print(f"{'tool':32} {'cpu ms/run':>11} {'cpu % of a core per stream':>27} {'wall ms/run':>12} {'peak RSS MiB':>13}")
    results = {}
    for name, mk in tools.items():
        cpus, walls = [], []
        for i in range(a.runs):
            out = os.path.join(d, f"out-{i}.mp4")
            if os.path.exists(out):
                os.remove(out)
            cpu, wall = run(mk(out))
            cpus.append(cpu)
            walls.append(wall)
        out = os.path.join(d, "rss.mp4")
        if os.path.exists(out):
            os.remove(out)
        rss = rss_of(mk(out)) / 1024
        cpus.sort(); walls.sort()
        cpu, wall = cpus[len(cpus) // 2], walls[len(walls) // 2]
        results[name] = cpu
        # CPU % of one core needed to record one real-time stream of this bitrate.
        print(f"{name:32} {cpu*1000:11.1f} {100*cpu/a.seconds:26.3f}% {wall*1000:12.1f} {rss:13.1f}")
    f, v = results.values()
    print(f"\nvigil / ffmpeg CPU: {v/f:.2f}")


if __name__ == "__main__":
    main()
