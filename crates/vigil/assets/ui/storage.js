// Storage: the disk under the storage root, clips and bytes per camera, the retention settings,
// and alerts (a clip that could not be written, a full disk).

import { api, enc } from './api.js';
import { ago, card, errorLine, facts, fmtBytes, fmtTime, h, meter, poll } from './dom.js';

function minFree(m) {
  if (!m) return 'not set';
  return m.percent !== undefined ? `${m.percent} % of the disk` : fmtBytes(m.bytes);
}

export function mount(main) {
  const errors = errorLine();
  const alerts = h('div');
  const disk = h('div');
  const diskMeter = meter('disk used');
  const retention = h('div');
  const store = h('div');
  const storeCard = card('Clip store', store);
  storeCard.hidden = true;
  const tbody = h('tbody');
  const table = h('table', { class: 'per-camera' },
    h('thead', {}, h('tr', {}, ['Camera', 'Clips', 'Size', 'Protected', 'Oldest', 'Newest'].map((t) => h('th', { text: t })))),
    tbody);
  main.append(
    h('h1', { text: 'Storage' }), errors.el,
    h('div', { class: 'columns' },
      h('div', {}, card('Alerts', alerts), card('Disk', diskMeter.el, disk)),
      h('div', {}, card('Retention', retention), storeCard)),
    card('Clips per camera', table),
  );

  async function load() {
    const st = await api('/api/storage');
    alerts.replaceChildren(st.alerts.length
      ? h('ul', { class: 'plain' }, st.alerts.map((a) => h('li', { class: 'alert' },
        h('b', { text: `${a.camera ? `${a.camera}: ` : ''}${a.kind}` }), ' ', a.message || '',
        a.at ? h('span', { class: 'muted', text: ` (${fmtTime(a.at)}${a.count > 1 ? `, ${a.count} times` : ''})` }) : null)))
      : h('p', { class: 'ok', text: 'No alerts.' }));
    const d = st.disk;
    if (d.error) {
      diskMeter.set(0, 'unknown');
      disk.replaceChildren(facts([['Path', d.path], ['Error', d.error]]));
    } else {
      const f = d.used_bytes / d.total_bytes;
      diskMeter.set(f, `${(100 * f).toFixed(1)} % used`, f > 0.9);
      disk.replaceChildren(facts([
        ['Path', h('code', { text: d.path })],
        ['Disk', `${fmtBytes(d.used_bytes)} used of ${fmtBytes(d.total_bytes)} · ${fmtBytes(d.free_bytes)} free`],
        ['Clips', `${st.clips} clip${st.clips === 1 ? '' : 's'} · ${fmtBytes(st.clip_bytes)}`],
      ]));
    }
    const r = st.retention;
    const perCamera = Object.entries(r.camera_max_age_days || {}).map(([c, d]) => `${c}: ${d} days`);
    const rs = r.state;
    retention.replaceChildren(h('div', {},
      facts([
        ['Oldest kept', `${r.max_age_days == null ? 'no age limit' : `${r.max_age_days} days`}${perCamera.length ? ` (${perCamera.join(', ')})` : ''}`],
        ['Total size', r.max_bytes == null ? 'no size limit' : fmtBytes(r.max_bytes)],
        ['Free space kept', minFree(r.min_free)],
        ...(rs ? [
          ['Last run', rs.last_run ? `${ago(rs.last_run)} · ${rs.runs} run${rs.runs === 1 ? '' : 's'}` : 'not yet'],
          ['Deleted', `${rs.deleted_clips} clips · ${fmtBytes(rs.deleted_bytes)}${Object.keys(rs.deleted_by_reason || {}).length
            ? ` (${Object.entries(rs.deleted_by_reason).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`],
        ] : []),
      ]),
      rs?.last_error ? h('p', { class: 'alert', text: `Retention failed: ${rs.last_error}` }) : null,
      rs?.recent?.length ? [h('div', { class: 'label', text: 'Latest deletions' }),
        h('ul', { class: 'plain' }, rs.recent.slice(0, 8).map((d) => h('li', {},
          `${d.camera} · ${fmtBytes(d.bytes)} · ${d.reason}`, h('span', { class: 'muted', text: ` (${ago(d.at)})` }))))] : null,
      h('p', { class: 'hint', text: 'Oldest clips go first; protected clips and clips being written are kept.' }),
    ));
    // [clip_store]: where clips are copied, and how it is doing (docs/cluster.md).
    const cs = st.clip_store;
    storeCard.hidden = !cs;
    if (cs) {
      const s = cs.state;
      store.replaceChildren(facts([
        ['Store', h('code', { text: `${cs.s3_endpoint} · ${cs.bucket}${cs.prefix ? `/${cs.prefix}` : ''}` })],
        ['State', s.up ? 'answering' : `not answering since ${fmtTime(s.down_since)}`],
        ['Waiting', `${cs.pending.clips} clip${cs.pending.clips === 1 ? '' : 's'} · ${fmtBytes(cs.pending.bytes)}${cs.pending.deletions ? ` · ${cs.pending.deletions} deletions` : ''}`],
        ['Uploaded', `${s.uploaded_clips} clip${s.uploaded_clips === 1 ? '' : 's'} · ${fmtBytes(s.uploaded_bytes)} since start`],
        ['Local copies', cs.keep_local_days ? `kept ${cs.keep_local_days} day${cs.keep_local_days === 1 ? '' : 's'} after upload` : 'deleted once uploaded'],
      ]), s.last_error ? h('p', { class: 'alert', text: s.last_error }) : null);
    }
    tbody.replaceChildren(...st.cameras.map((c) => h('tr', {},
      h('td', { dataset: { label: 'Camera' } }, h('a', { href: `#/recordings?camera=${enc(c.camera)}`, text: c.camera })),
      h('td', { dataset: { label: 'Clips' }, text: String(c.clips) }),
      h('td', { dataset: { label: 'Size' }, text: fmtBytes(c.bytes) }),
      h('td', { dataset: { label: 'Protected' }, text: String(c.protected_clips) }),
      h('td', { dataset: { label: 'Oldest' }, text: fmtTime(c.oldest) }),
      h('td', { dataset: { label: 'Newest' }, text: fmtTime(c.newest) }))));
  }

  const p = poll(load, 5000, errors);
  return { stop: () => p.stop() };
}
