#!/usr/bin/env bash
# Makes the test bed's media with ffmpeg, once. Every file is encoded the way a camera streams:
# a keyframe every 30 frames (-g 30, no scene-cut keyframes), no B-frames, and for libx264
# `sliced-threads=0` so a keyframe is one slice, not several.
#
#   testbed/make_media.sh            small clips for the tests -> testbed/media/ (committed)
#   testbed/make_media.sh bench DIR  720p30 ~2 Mbit/s clips for the benchmark -> DIR (not committed)
#
# Files that already exist are kept: delete one to make it again.
set -euo pipefail
cd "$(dirname "$0")"

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

# A moving test pattern and a tone, so every frame differs and audio is audible.
video_src() { echo "testsrc2=size=$1:rate=30"; }
audio_src="sine=frequency=440:sample_rate=44100"

x264=(-c:v libx264 -preset veryfast -tune zerolatency -x264-params sliced-threads=0
      -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 -pix_fmt yuv420p)
# x265: closed GOP keyframes are IDR pictures; open GOP ones (x265's default) are CRA pictures.
x265() {
  echo "-c:v libx265 -preset fast -tag:v hvc1 -pix_fmt yuv420p
        -x265-params keyint=30:min-keyint=30:scenecut=0:bframes=${2:-0}:open-gop=$1:log-level=error"
}

make() { # make OUT SECONDS ARGS... (skipped when OUT exists)
  local out=$1 secs=$2
  shift 2
  if [ -s "$out" ]; then return; fi
  echo "make_media: $out" >&2
  ff "$@" -t "$secs" -movflags +faststart "$out.tmp.mp4"
  mv "$out.tmp.mp4" "$out"
}

if [ "${1:-}" = "bench" ]; then
  dir=${2:?usage: make_media.sh bench DIR}
  mkdir -p "$dir"
  make "$dir/bench_h264_720p.mp4" 60 -f lavfi -i "$(video_src 1280x720)" \
    "${x264[@]}" -b:v 2M -maxrate 2M -bufsize 1M
  exit 0
fi

mkdir -p media
small=(-b:v 200k -maxrate 250k -bufsize 200k)
make media/h264.mp4 10 -f lavfi -i "$(video_src 320x240)" "${x264[@]}" "${small[@]}"
# shellcheck disable=SC2046
make media/h265_closed.mp4 10 -f lavfi -i "$(video_src 320x240)" $(x265 0) "${small[@]}"
# shellcheck disable=SC2046
make media/h265_open.mp4 10 -f lavfi -i "$(video_src 320x240)" $(x265 1) "${small[@]}"
# A stream whose resolution changes mid-stream (new SPS in-band at a keyframe): 5 s at 320x240,
# 5 s at 480x360. Made as MPEG-TS parts (x264 repeats SPS/PPS in-band there), joined, then
# remuxed to MP4 with the in-band parameter sets kept.
if [ ! -s media/h264_resize.mp4 ]; then
  echo "make_media: media/h264_resize.mp4" >&2
  tmp=$(mktemp -d)
  ff -f lavfi -i "$(video_src 320x240)" "${x264[@]}" "${small[@]}" -t 5 "$tmp/a.ts"
  ff -f lavfi -i "$(video_src 480x360)" "${x264[@]}" "${small[@]}" -t 5 "$tmp/b.ts"
  printf "file '%s'\nfile '%s'\n" "$tmp/a.ts" "$tmp/b.ts" >"$tmp/list.txt"
  ff -f concat -safe 0 -i "$tmp/list.txt" -c copy -movflags +faststart "$tmp/resize.mp4"
  mv "$tmp/resize.mp4" media/h264_resize.mp4
  rm -rf "$tmp"
fi
# G.711 A-law audio (as many cameras send): not AAC, so vigil skips it and records the video.
if [ ! -s media/h264_pcma.mov ]; then
  echo "make_media: media/h264_pcma.mov" >&2
  ff -f lavfi -i "$(video_src 320x240)" -f lavfi -i "sine=frequency=440:sample_rate=8000" \
    "${x264[@]}" "${small[@]}" -c:a pcm_alaw -ac 1 -t 10 media/h264_pcma.tmp.mov
  mv media/h264_pcma.tmp.mov media/h264_pcma.mov
fi
make media/h264_aac.mp4 10 -f lavfi -i "$(video_src 320x240)" -f lavfi -i "$audio_src" \
  "${x264[@]}" "${small[@]}" -c:a aac -b:a 64k -ac 2
