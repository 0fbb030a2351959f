// The page's entry: a router on the URL's hash. Each page is a module whose mount(main, params)
// builds it and returns {stop()}, called when the user leaves (it ends the page's polling).
//
//   #/                        dashboard: cameras live, pool memory
//   #/live?cols=N             every camera's live picture in a grid
//   #/camera/NAME             one camera: settings form, pre-buffer stats and graphs
//   #/cameras/new, #/cameras/edit/NAME   add a camera (network search, test, save) / change one
//   #/recordings?camera=&date=  clips: filter, play, download, protect, delete
//   #/storage                 disk usage, clips per camera, retention, alerts
//   #/integrations            MQTT (Home Assistant) connection, webhook deliveries

import * as dashboard from './dashboard.js';
import * as grid from './grid.js';
import * as camera from './camera.js';
import * as cameras from './cameras.js';
import * as recordings from './recordings.js';
import * as storage from './storage.js';
import * as integrations from './integrations.js';
import { api, signOut } from './api.js';
import { h, setText } from './dom.js';

const ROUTES = [
  [/^#?\/?$/, dashboard, 'dashboard'],
  [/^#\/live(?:\?(.*))?$/, grid, 'live'],
  [/^#\/camera\/([^?]+)$/, camera, 'dashboard'],
  [/^#\/cameras\/(new|edit)(?:\/([^?]+))?$/, cameras, 'dashboard'],
  [/^#\/recordings(?:\?(.*))?$/, recordings, 'recordings'],
  [/^#\/storage$/, storage, 'storage'],
  [/^#\/integrations$/, integrations, 'integrations'],
];

let current = null;

function route() {
  current?.stop();
  current = null;
  const main = document.getElementById('main');
  main.replaceChildren();
  window.scrollTo(0, 0);
  const hash = location.hash || '#/';
  for (const [re, page, nav] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) {
      a.classList.toggle('active', a.dataset.nav === nav);
    }
    current = page.mount(main, m.slice(1).map((x) => (x === undefined ? '' : x)));
    return;
  }
  main.append(h('section', { class: 'card' }, h('h2', { text: 'Not found' }),
    h('p', {}, 'No page here. ', h('a', { href: '#/', text: 'Back to the dashboard' }))));
}

// Who is signed in: controls that change anything show once the role is known to be admin (a
// viewer's page has none; the server refuses them anyway: 403); a session shows its user and a
// "Sign out" button.
async function who() {
  try {
    const me = await api('/api/me');
    document.body.dataset.role = me.role || 'viewer';
    const box = document.getElementById('who');
    box.hidden = me.via !== 'session';
    setText(document.getElementById('who-name'), me.name ? `${me.name} (${me.role})` : '');
  } catch {
    // The next API call asks again.
  }
}

document.getElementById('sign-out').addEventListener('click', async () => {
  await signOut();
  location.reload();
});
window.addEventListener('vigil:signed-in', () => { who().then(route); });
window.addEventListener('hashchange', route);
route();
who();
