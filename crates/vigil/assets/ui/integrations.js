// Integrations: the MQTT connection (Home Assistant) and each webhook's deliveries, from
// /api/integrations. Read-only: they are configured in the config file (docs/integrations.md).

import { api } from './api.js';
import { ago, card, errorLine, facts, h, poll } from './dom.js';

const STATE_TEXT = {
  connected: 'Connected',
  connecting: 'Connecting…',
  backoff: 'Not connected, trying again',
  stopped: 'Stopped',
};

function mqttCard(m) {
  if (!m) {
    return h('p', { class: 'muted', text: 'MQTT is not configured (an [mqtt] table in the config file turns it on).' });
  }
  const ok = m.state === 'connected';
  return h('div', { class: 'mqtt', dataset: { state: m.state } },
    h('p', { class: ok ? 'ok' : 'alert' },
      h('b', { class: 'mqtt-state', text: STATE_TEXT[m.state] || m.state }),
      ok && m.connected_since ? h('span', { class: 'muted', text: ` since ${ago(m.connected_since)}` }) : null,
      !ok && m.retry_in_secs != null ? h('span', { class: 'muted', text: ` (next attempt ${Math.ceil(m.retry_in_secs)} s after the last failure)` }) : null),
    m.last_error ? h('p', { class: ok ? 'muted' : 'alert mqtt-error' },
      `Last error: ${m.last_error}`, m.last_error_at ? ` (${ago(m.last_error_at)})` : '') : null,
    facts([
      ['Broker', h('code', { text: m.url })],
      ['Client id', h('code', { text: m.client_id })],
      ['Messages', `${m.sent} sent · ${m.queued} waiting · ${m.dropped} dropped`],
      ['Connections', `${m.connects} made · ${m.connect_failures} failed`],
      ['Commands', `${m.commands} carried out · ${m.commands_rejected} refused`],
    ]));
}

function hooksTable(hooks) {
  if (!hooks.length) {
    return h('p', { class: 'muted', text: 'No webhooks ([[webhook]] tables in the config file add them).' });
  }
  return h('table', { class: 'per-camera webhooks' },
    h('thead', {}, h('tr', {}, ['URL', 'Events', 'Delivered', 'Failed', 'Retries', 'Waiting', 'Last answer'].map((t) => h('th', { text: t })))),
    h('tbody', {}, hooks.map((w) => h('tr', { class: w.last_error && !w.delivered ? 'failing' : '' },
      h('td', { dataset: { label: 'URL' } }, h('code', { text: w.url })),
      h('td', { dataset: { label: 'Events' }, text: w.events.join(', ') }),
      h('td', { dataset: { label: 'Delivered' }, class: 'delivered', text: String(w.delivered) }),
      h('td', { dataset: { label: 'Failed' }, class: 'failed', text: String(w.failed + w.dropped) }),
      h('td', { dataset: { label: 'Retries' }, text: String(w.retries) }),
      h('td', { dataset: { label: 'Waiting' }, text: String(w.queued) }),
      h('td', { dataset: { label: 'Last answer' } },
        w.last_status ? `HTTP ${w.last_status}` : '—',
        w.last_error ? h('div', { class: 'alert hook-error', text: `${w.last_error}${w.last_error_at ? ` (${ago(w.last_error_at)})` : ''}` }) : null)))));
}

export function mount(main) {
  const errors = errorLine();
  const mqtt = h('div');
  const hooks = h('div');
  main.append(
    h('h1', { text: 'Integrations' }), errors.el,
    card('MQTT and Home Assistant', mqtt),
    card('Webhooks', hooks),
  );
  async function load() {
    const i = await api('/api/integrations');
    mqtt.replaceChildren(mqttCard(i.mqtt));
    hooks.replaceChildren(hooksTable(i.webhooks));
  }
  const p = poll(load, 3000, errors);
  return { stop: () => p.stop() };
}
