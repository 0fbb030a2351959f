#!/usr/bin/env python3
"""Can a reader that looks at its TCP socket only every 200 ms keep up with a camera? Prints figures.

vigil reads RTSP-over-TCP cameras every `live::READ_EVERY` (200 ms): the bytes wait in the kernel's
receive buffer meanwhile. This sends a steady stream over loopback at each rate (10 ms bursts, as
a camera sends frames) to a reader that sleeps, then reads everything queued, and prints whether
the sender was ever held back (its lag behind schedule), the most bytes one read round found, and
the receive buffer the kernel's autotuning grew to. Nothing is lost either way (TCP); a sender
held back is what a camera would see as a slow client.

Usage: bench/paced_read.py [--every 0.2] [--secs 6] [--rates 2,8,16,50]
"""
import argparse
import socket
import threading
import time


def run(mbit, every, secs):
    rate = mbit * 1e6 / 8
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    w = socket.create_connection(ls.getsockname())
    r, _ = ls.accept()
    r.setblocking(False)
    got = {"bytes": 0, "most": 0}
    done = threading.Event()

    def reader():
        while not done.is_set():
            time.sleep(every)
            n = 0
            while True:
                try:
                    b = r.recv(65536)  # retina's read buffer is 64 KiB too
                except BlockingIOError:
                    break
                n += len(b)
            got["bytes"] += n
            got["most"] = max(got["most"], n)

    t = threading.Thread(target=reader)
    t.start()
    burst = b"x" * int(rate / 100)
    t0 = time.monotonic()
    sent = 0
    lag = 0.0
    while time.monotonic() - t0 < secs:
        due = t0 + sent / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            lag = max(lag, now - due)
        w.sendall(burst)
        sent += len(burst)
    elapsed = time.monotonic() - t0
    done.set()
    t.join()
    rcvbuf = r.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    print(f"{mbit:5.0f} Mbit/s: sent {sent / elapsed * 8 / 1e6:5.1f} Mbit/s, sender's worst lag "
          f"{lag * 1000:4.0f} ms, most in one round {got['most'] / 1e3:6.0f} KB, "
          f"receive buffer grew to {rcvbuf / 1e3:5.0f} KB")
    for s in (w, r, ls):
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=float, default=0.2)
    ap.add_argument("--secs", type=float, default=6)
    ap.add_argument("--rates", default="2,8,16,50")
    a = ap.parse_args()
    print(f"reader every {a.every * 1000:.0f} ms, {a.secs:.0f} s per rate")
    for m in a.rates.split(","):
        run(float(m), a.every, a.secs)


if __name__ == "__main__":
    main()
