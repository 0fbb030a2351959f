// The graphs' data: the server samples the pool and every camera's pre-buffer every 2 s and keeps
// 30 minutes of it (GET /api/history). The page fetches all of it once, then only newer samples
// (?after=SEQ), so a reload gets its graphs back at once and a poll costs little.

import { api } from './api.js';

// In a cluster each node samples its own cameras: a camera another node records has its graphs
// in that node's history, asked through this node (?node=NAME). One store per node; '' is this
// node's own.
const stores = new Map();
let capacity = 900;
let localNode = null;

function store(node) {
  const key = node && node !== localNode ? node : '';
  if (!stores.has(key)) stores.set(key, { node: key, samples: [], lastSeq: 0 });
  return stores.get(key);
}

/**
 * Fetches new samples of `node` (this node's own when it is missing or this node); returns the
 * whole list (oldest first).
 */
export async function refresh(node) {
  const st = store(node);
  const q = [st.lastSeq ? `after=${st.lastSeq}` : '', st.node ? `node=${encodeURIComponent(st.node)}` : '']
    .filter(Boolean).join('&');
  const r = await api(`/api/history${q ? `?${q}` : ''}`);
  if (!st.node) localNode = r.node ?? null;
  if (st.lastSeq && (r.last_seq === null || r.last_seq < st.lastSeq)) {
    // The node restarted (its numbering began again): start over.
    st.samples.length = 0;
    st.lastSeq = 0;
    return refresh(node);
  }
  capacity = r.capacity || capacity;
  for (const s of r.samples) {
    if (s.seq > st.lastSeq) {
      st.samples.push(s);
      st.lastSeq = s.seq;
    }
  }
  if (st.samples.length > capacity) st.samples.splice(0, st.samples.length - capacity);
  return st.samples;
}

/** The newest sample of `node` (this node's own when missing), or null. */
export function latest(node) {
  const { samples } = store(node);
  return samples.length ? samples[samples.length - 1] : null;
}

/** Whether `node` is another node than this one (its cameras' graphs come from its history). */
export function isOther(node) {
  return Boolean(node) && localNode !== null && node !== localNode;
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
