#!/usr/bin/python3
"""The test bed's RTSP server: GStreamer's gst-rtsp-server serving pre-encoded files, looped forever.

    /usr/bin/python3 testbed/rtsp_server.py --port 8554 --media cam1=testbed/media/h264.mp4 ...

Each `--media NAME=PATH` is served at rtsp://127.0.0.1:PORT/NAME. Nothing is transcoded: the file is
demuxed, parsed and payloaded (`-c copy`-style), so the server costs little CPU. Each mount is one
shared pipeline, like a camera: a client that joins mid-stream starts mid-GOP, and parameter sets are
repeated in-band before every keyframe (`config-interval=-1`) as cameras do.

Looping: the pipeline plays the file as a *segment*; at its end (SEGMENT_DONE) it seeks back to 0
without flushing, so running time, and with it the RTP timestamps, keep increasing across the seam:
the stream looks like one endless live stream.

Prints `READY <port>` on stdout once it listens (`--port 0` picks a free port). Runs until killed.
Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer plugin packages
(scripts/setup installs them); run it with /usr/bin/python3.
"""

import argparse
import faulthandler
import json
import os
import signal
import subprocess
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

VIDEO = {
    "h264": "h264parse name=vparse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1",
    "hevc": "h265parse name=vparse config-interval=-1 ! rtph265pay name=pay0 pt=96 config-interval=-1",
}
AUDIO = {
    "aac": "aacparse name=aparse ! rtpmp4gpay name=pay1 pt=97",
    # G.711, as many cameras send: not recorded by vigil, which must skip it and keep the video.
    "pcm_alaw": "identity name=aparse ! rtppcmapay name=pay1",
    "pcm_mulaw": "identity name=aparse ! rtppcmupay name=pay1",
}
# Caps on the demuxer's link pick its video or audio pad, whatever the container names them.
CAPS = {
    "h264": "video/x-h264",
    "hevc": "video/x-h265",
    "aac": "audio/mpeg",
    "pcm_alaw": "audio/x-alaw",
    "pcm_mulaw": "audio/x-mulaw",
}
# Demuxers that can loop (segment seeks); tsdemux can't, so MPEG-TS is not offered.
DEMUX = {".mp4": "qtdemux", ".mov": "qtdemux", ".mkv": "matroskademux"}


def probe(path):
    """(video codec, audio codec or None, video duration in seconds) of a file, from ffprobe."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", path],
        check=True,
        capture_output=True,
    ).stdout
    info = json.loads(out)
    streams = info["streams"]
    video = next((s for s in streams if s["codec_type"] == "video"), {})
    audio = next((s["codec_name"] for s in streams if s["codec_type"] == "audio"), None)
    # Matroska gives no per-stream duration: the container's then.
    duration = float(video.get("duration") or info.get("format", {}).get("duration") or 0)
    return video.get("codec_name"), audio, duration


def launch_line(path, audio_on):
    """The gst-launch description of one mount's pipeline, and the video's duration in ns."""
    video, audio, duration = probe(path)
    if duration <= 0:
        sys.exit(f"rtsp_server: {path}: no video duration")
    if video not in VIDEO:
        sys.exit(f"rtsp_server: {path}: video codec {video!r} is not one of {sorted(VIDEO)}")
    ext = os.path.splitext(path)[1].lower()
    demux = DEMUX.get(ext)
    if demux is None:
        sys.exit(f"rtsp_server: {path}: unknown container {ext!r}")
    loc = path.replace('"', '\\"')
    parts = [f'filesrc location="{loc}" ! {demux} name=d', f"d. ! {CAPS[video]} ! queue ! {VIDEO[video]}"]
    if audio_on and audio in AUDIO:
        parts.append(f"d. ! {CAPS[audio]} ! queue ! {AUDIO[audio]}")
    return "( " + " ".join(parts) + " )", int(duration * Gst.SECOND)


def looper(duration_ns):
    """A `media-configure` handler that makes a media play its file forever, as one stream.

    The file plays as a segment; at its end (SEGMENT_DONE) a non-flushing seek goes back to 0.
    GStreamer continues running time from the last frame's *start* then, so the first frame of
    the next pass would repeat the last one's timestamp: each parser's outgoing SEGMENT event is
    replaced by one whose base puts pass k at exactly k × duration."""

    def configure(_factory, media):
        bin_ = media.get_element()

        def seek(flags):
            bin_.seek(1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.SET, duration_ns)
            return False  # as an idle callback: once

        def on_sync_message(_bus, message):
            # Called on a streaming thread, where seeking could deadlock: seek from the main loop.
            if message.type == Gst.MessageType.SEGMENT_DONE:
                GLib.idle_add(seek, Gst.SeekFlags.SEGMENT)

        def on_prepared(_media):
            # The pipeline's own bus (the media's element is a bin inside it, with a private bus).
            bus = bin_.get_parent().get_bus()
            bus.enable_sync_message_emission()
            bus.connect("sync-message", on_sync_message)
            # The first seek turns plain playback into segment playback (SEGMENT_DONE, not EOS).
            seek(Gst.SeekFlags.FLUSH | Gst.SeekFlags.SEGMENT)
            # The flush cleared the payloaders' SEGMENT; wait until the new one has reached them.
            # "prepared" is emitted on the client's request thread before the reply: returning
            # at once would let that client's PLAY find a payloader without a segment, and
            # gst-rtsp-server aborts on that (gst_rtsp_media_get_rates: assertion failed), as
            # seen on a loaded machine.
            pads = [bin_.get_by_name(n).get_static_pad("src") for n in ("pay0", "pay1") if bin_.get_by_name(n)]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(
                p.get_sticky_event(Gst.EventType.SEGMENT, 0) for p in pads
            ):
                time.sleep(0.005)

        def not_seekable(_pad, info):
            # Clients PLAY with `Range: npt=0.000-`, and gst-rtsp-server seeks a shared media
            # that is seekable and already playing whenever that start differs from its
            # position: each client joining restarted everyone's stream with a flushing seek
            # (timestamps back to 0 mid-stream, a first packet behind RTP-Info's seq), and the
            # seek dropped the segment flag, so at the end of the file the media hit EOS and
            # every session ended there. Answered "not seekable", the server plays on without
            # seeking, as a camera does (our own looping seeks don't ask). A new SEEKING query
            # says "not seekable" until someone answers it: answering "handled" without touching
            # it is that answer (Python can't write to it: PyGI holds a second reference).
            if info.get_query().type != Gst.QueryType.SEEKING:
                return Gst.PadProbeReturn.OK
            return Gst.PadProbeReturn.HANDLED

        def fix_running_time(pad, info, state):
            event = info.get_event()
            if state["pushing"]:
                return Gst.PadProbeReturn.OK  # our own replacement, below
            if event.type == Gst.EventType.FLUSH_STOP:
                state["pass"] = -1  # the flushing seek's segment is pass 0
            elif event.type == Gst.EventType.SEGMENT:
                state["pass"] += 1
                segment = event.parse_segment()
                segment.base = max(state["pass"], 0) * duration_ns
                fixed = Gst.Event.new_segment(segment)
                fixed.set_seqnum(event.get_seqnum())
                state["pushing"] = True
                pad.push_event(fixed)
                state["pushing"] = False
                return Gst.PadProbeReturn.DROP
            return Gst.PadProbeReturn.OK

        for name in ("vparse", "aparse"):
            parser = bin_.get_by_name(name)
            if parser is not None:
                src = parser.get_static_pad("src")
                src.add_probe(
                    Gst.PadProbeType.EVENT_DOWNSTREAM | Gst.PadProbeType.EVENT_FLUSH,
                    fix_running_time,
                    {"pass": -1, "pushing": False},
                )
                src.add_probe(Gst.PadProbeType.QUERY_UPSTREAM, not_seekable)
        media.connect("prepared", on_prepared)

    return configure


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1 (0: pick one)")
    ap.add_argument("--address", default="127.0.0.1", help="listen address (keep it on loopback)")
    ap.add_argument("--media", action="append", default=[], metavar="NAME=PATH", help="serve PATH at /NAME")
    ap.add_argument("--no-audio", action="store_true", help="serve video only")
    args = ap.parse_args()
    if not args.media:
        ap.error("at least one --media NAME=PATH")

    # A crash in a GStreamer callback then leaves a Python traceback in the log.
    faulthandler.enable()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.media:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            ap.error(f"--media wants NAME=PATH, got {spec!r}")
        factory = GstRtspServer.RTSPMediaFactory()
        line, duration_ns = launch_line(os.path.abspath(path), not args.no_audio)
        factory.set_launch(line)
        factory.set_shared(True)
        factory.connect("media-configure", looper(duration_ns))
        mounts.add_factory("/" + name.lstrip("/"), factory)

    if server.attach(None) == 0:
        sys.exit(f"rtsp_server: cannot listen on {args.address}:{args.port}")
    print(f"READY {server.get_bound_port()}", flush=True)

    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()


if __name__ == "__main__":
    main()
