// Adding a camera, or changing one (docs/cameras.md): a search of the local network (POST
// /api/discover) whose results fill the form, the form of a camera's main keys, "Test" (POST
// /api/probe: what `vigil check` says) and "Save" (tests first; POST /api/cameras or PUT
// /api/cameras/NAME). A camera added here can be deleted here; a config file's can't.
//
//   #/cameras/new           a new camera
//   #/cameras/edit/NAME     an existing one (GET /api/cameras/NAME; password left empty: kept)

import { api, ApiError, enc } from './api.js';
import { card, errorLine, h, setText } from './dom.js';

const FIELDS = [
  { name: 'name', label: 'Name', hint: 'How vigil calls it: in the UI, the clips’ folders, MQTT.' },
  { name: 'url', label: 'Stream URL', hint: 'rtsp://… (the main stream), or file:/path.mp4. Empty with an ONVIF address: vigil asks the camera.' },
  { name: 'onvif', label: 'ONVIF address', hint: 'http://…/onvif/device_service: motion events (and the stream URL).' },
  { name: 'username', label: 'User name' },
  { name: 'password', label: 'Password', type: 'password', hint: 'Kept by vigil, never shown again.' },
  { name: 'transport', label: 'RTSP transport', options: ['tcp', 'udp'] },
  { name: 'detect', label: 'Find motion in the video (for cameras without ONVIF events)', type: 'checkbox' },
];

export function mount(main, [mode, rawName]) {
  const editing = mode === 'edit' ? decodeURIComponent(rawName || '') : null;
  const errors = errorLine();
  const inputs = new Map();
  const errs = new Map();
  const status = h('p', { class: 'form-status', role: 'status' });
  const result = h('pre', { class: 'probe-result', hidden: true });
  let loaded = null;
  let probedOk = null;

  const rows = FIELDS.map((f) => {
    const id = `c-${f.name}`;
    const input = f.options
      ? h('select', { id, name: f.name }, f.options.map((o) => h('option', { value: o, text: o })))
      : h('input', { id, name: f.name, type: f.type || 'text', spellcheck: 'false',
        autocomplete: f.type === 'password' ? 'new-password' : 'off' });
    const err = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert' });
    input.setAttribute('aria-describedby', `${id}-error`);
    input.addEventListener('input', () => {
      err.textContent = '';
      input.removeAttribute('aria-invalid');
      probedOk = null;
    });
    inputs.set(f.name, input);
    errs.set(f.name, err);
    const label = h('label', { for: id, text: f.label });
    return h('div', { class: `field wide${f.type === 'checkbox' ? ' check' : ''}`, dataset: { field: f.name } },
      f.type === 'checkbox' ? h('div', { class: 'check-row' }, input, label) : [label, input],
      f.hint ? h('p', { class: 'hint', text: f.hint }) : null, err);
  });

  const testBtn = h('button', { type: 'button', id: 'camera-test', text: 'Test' });
  const saveBtn = h('button', { type: 'submit', class: 'primary', id: 'camera-save', text: editing ? 'Save' : 'Add camera' });
  const delBtn = h('button', { type: 'button', class: 'danger', id: 'camera-delete', text: 'Delete camera', hidden: true });
  const form = h('form', { class: 'settings camera-form', novalidate: true }, rows,
    h('div', { class: 'actions' }, saveBtn, testBtn, delBtn, status), result);

  function body() {
    const b = {};
    for (const f of FIELDS) {
      const input = inputs.get(f.name);
      if (f.type === 'checkbox') b[f.name] = input.checked;
      else {
        const v = input.value.trim();
        if (v !== '') b[f.name] = v;
      }
    }
    if (loaded) {
      // Every other key as the camera has it (settings, zones, ...): PUT replaces them all.
      for (const [k, v] of Object.entries(loaded)) {
        if (!(k in b) && !FIELDS.some((f) => f.name === k) && !['origin', 'password_set'].includes(k)) b[k] = v;
      }
    }
    return b;
  }

  function showError(e) {
    status.className = 'form-status bad';
    const key = e instanceof ApiError ? e.message.split(':')[0] : '';
    if (inputs.has(key)) {
      errs.get(key).textContent = e.message.slice(key.length + 1).trim();
      inputs.get(key).setAttribute('aria-invalid', 'true');
      inputs.get(key).focus();
      setText(status, 'Not saved: see the field marked above.');
    } else {
      setText(status, e.message);
    }
  }

  async function test() {
    result.hidden = false;
    setText(result, 'Testing…');
    status.className = 'form-status';
    setText(status, '');
    try {
      const r = await api('/api/probe', { method: 'POST', body: body() });
      setText(result, r.lines.join('\n'));
      result.classList.toggle('bad', !r.ok);
      probedOk = r.ok;
      return r.ok;
    } catch (e) {
      result.hidden = true;
      showError(e);
      return null;
    }
  }

  testBtn.addEventListener('click', test);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    saveBtn.disabled = true;
    try {
      // Tested first; a camera that fails its test is saved only when asked again.
      if (probedOk === null) {
        const ok = await test();
        if (ok === null) return;
        if (!ok) {
          status.className = 'form-status bad';
          setText(status, 'The test failed (above). Save again to keep it anyway.');
          return;
        }
      }
      const cam = editing
        ? await api(`/api/cameras/${enc(editing)}`, { method: 'PUT', body: body() })
        : await api('/api/cameras', { method: 'POST', body: body() });
      location.hash = `#/camera/${enc(cam.name)}`;
    } catch (e) {
      showError(e);
    } finally {
      saveBtn.disabled = false;
    }
  });
  delBtn.addEventListener('click', async () => {
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Delete the camera ${editing}? Its clips are kept.`)) return;
    try {
      await api(`/api/cameras/${enc(editing)}`, { method: 'DELETE' });
      location.hash = '#/';
    } catch (e) {
      showError(e);
    }
  });

  // The network search.
  const user = h('input', { id: 'd-user', autocomplete: 'off', placeholder: 'admin' });
  const pass = h('input', { id: 'd-pass', type: 'password', autocomplete: 'new-password' });
  const search = h('button', { type: 'button', id: 'discover', text: 'Search the network' });
  const found = h('div', { class: 'found' });
  search.addEventListener('click', async () => {
    search.disabled = true;
    found.replaceChildren(h('p', { class: 'muted', text: 'Asking the network (a few seconds)…' }));
    try {
      const b = user.value ? { username: user.value, password: pass.value } : {};
      const { devices } = await api('/api/discover', { method: 'POST', body: b });
      found.replaceChildren(devices.length
        ? h('ul', { class: 'plain found-list' }, devices.map((d) => {
          const main = d.profiles?.find((p) => p.role === 'main');
          const use = h('button', { type: 'button', class: 'use', text: d.camera ? `Already “${d.camera}”` : 'Use',
            disabled: Boolean(d.camera) });
          use.addEventListener('click', () => {
            inputs.get('name').value = d.name || '';
            inputs.get('onvif').value = d.onvif || '';
            inputs.get('url').value = main?.uri || '';
            if (user.value) {
              inputs.get('username').value = user.value;
              inputs.get('password').value = pass.value;
            }
            probedOk = null;
            inputs.get('name').focus();
          });
          return h('li', {}, h('strong', { text: d.name || 'unnamed' }), ` ${d.hardware || ''} · ${d.onvif || d.from} `,
            d.profiles_error ? h('span', { class: 'field-error', text: d.profiles_error }) : null,
            (d.profiles || []).map((p) => h('span', { class: 'muted', text: ` · ${p.role || p.token} ${p.width}×${p.height} ${p.encoding || ''}` })),
            ' ', use);
        }))
        : h('p', { class: 'muted', text: 'No ONVIF camera answered. Cameras on another network (or with discovery off) can be added by address below.' }));
    } catch (e) {
      found.replaceChildren(h('p', { class: 'field-error', text: e.message }));
    } finally {
      search.disabled = false;
    }
  });

  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: editing ? `#/camera/${enc(editing)}` : '#/', text: editing ? `← ${editing}` : '← All cameras' })),
    h('div', { class: 'page-head' }, h('h1', { text: editing ? `Change ${editing}` : 'Add a camera' })),
    errors.el,
    editing ? null : card('Find cameras on this network',
      h('p', { class: 'hint', text: 'ONVIF cameras answer a WS-Discovery search. With their user name and password, their stream addresses come too.' }),
      h('div', { class: 'discover-row' }, h('label', { for: 'd-user', text: 'User name' }), user,
        h('label', { for: 'd-pass', text: 'Password' }), pass, search), found),
    card(editing ? 'Camera' : 'The camera', form),
  );

  if (editing) {
    api(`/api/cameras/${enc(editing)}`).then((c) => {
      loaded = c;
      for (const f of FIELDS) {
        const input = inputs.get(f.name);
        if (f.type === 'checkbox') input.checked = Boolean(c[f.name]);
        else if (f.name !== 'password') input.value = c[f.name] ?? '';
      }
      inputs.get('password').placeholder = c.password_set ? '(unchanged)' : '';
      delBtn.hidden = c.origin !== 'api';
      if (c.origin !== 'api') {
        inputs.get('name').disabled = true;
        setText(status, 'From the config file: it can be changed here (the change is kept by vigil), not renamed or deleted.');
      }
    }, (e) => errors.show(e));
  }
  return { stop() {} };
}
