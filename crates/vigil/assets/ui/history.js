// The graphs' data: the server samples the pool and every camera's pre-buffer every 2 s and keeps
// 30 minutes of it (GET /api/history). The page fetches all of it once, then only newer samples
// (?after=SEQ), so a reload gets its graphs back at once and a poll costs little.

import { api } from './api.js';

const samples = [];
let lastSeq = 0;
let capacity = 900;

/** Fetches new samples; returns the whole list (oldest first). */
export async function refresh() {
  const r = await api(`/api/history${lastSeq ? `?after=${lastSeq}` : ''}`);
  if (lastSeq && (r.last_seq === null || r.last_seq < lastSeq)) {
    // The server restarted (its numbering began again): start over.
    samples.length = 0;
    lastSeq = 0;
    return refresh();
  }
  capacity = r.capacity || capacity;
  for (const s of r.samples) {
    if (s.seq > lastSeq) {
      samples.push(s);
      lastSeq = s.seq;
    }
  }
  if (samples.length > capacity) samples.splice(0, samples.length - capacity);
  return samples;
}

export function latest() {
  return samples.length ? samples[samples.length - 1] : null;
}

/** [[time ms, value], ...] of f(sample) for the samples where it is a number. */
export function series(list, f) {
  const out = [];
  for (const s of list) {
    const v = f(s);
    if (typeof v === 'number' && Number.isFinite(v)) out.push([Date.parse(s.at), v]);
  }
  return out;
}
