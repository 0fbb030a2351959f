// Live view in headless Chromium, measured (started by bench/live_view.py; or by hand):
//
//   node bench/live_browser.mjs BASE_URL CAMERA
//
// 1. Time to first frame: 20 fresh page loads of BASE_URL/#/camera/CAMERA (the camera page's
//    large live view); each time, the player's first requestVideoFrameCallback, in ms since the
//    navigation started (crates/vigil/assets/ui/live.js puts it on the <video> as
//    data-first-frame-ms).
// 2. Glass-to-glass lag: with localStorage 'vigil.live.prft' = '1' the player asks for
//    live.ws?prft=1 and keeps each video fragment's camera time ([mediaSecs, wallMs]) on the
//    <video> as __vigilPrft; for every frame presented over 20 s (after 3 s of settling) this
//    takes the frame's presentation time (performance.timeOrigin + metadata.presentationTime) minus
//    the camera time of the packet with that media time.
//
// Prints one JSON line: {first_frame_ms: [...], lag_ms: [...], lag_secs}.

import { chromium } from '../crates/vigil/tests/browser/node_modules/playwright-core/index.mjs';

const [base, camera] = process.argv.slice(2);
const LOADS = 20;
const SETTLE_MS = 3000;
const LAG_MS = 20000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--autoplay-policy=no-user-gesture-required'],
});
const page = `${base}/#/camera/${encodeURIComponent(camera)}`;
const out = { first_frame_ms: [], lag_ms: [] };
try {
  for (let i = 0; i < LOADS; i += 1) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await ctx.newPage();
    await p.goto(page);
    const h = await p.waitForFunction(() => document.querySelector('video.live')?.dataset.firstFrameMs,
      undefined, { timeout: 20000, polling: 20 });
    out.first_frame_ms.push(Number(await h.jsonValue()));
    await ctx.close();
  }

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.addInitScript(() => localStorage.setItem('vigil.live.prft', '1'));
  const p = await ctx.newPage();
  await p.goto(page);
  await p.waitForFunction(() => document.querySelector('video.live')?.dataset.firstFrameMs,
    undefined, { timeout: 20000, polling: 50 });
  out.lag_ms = await p.evaluate(([settle, span]) => new Promise((resolve) => {
    const v = document.querySelector('video.live');
    const lags = [];
    const t0 = performance.now();
    const frame = (now, meta) => {
      const t = performance.now() - t0;
      if (t > settle) {
        const list = v.__vigilPrft || [];
        let best = null;
        for (let i = list.length - 1; i >= 0; i -= 1) {
          if (Math.abs(list[i][0] - meta.mediaTime) < 0.001) {
            best = list[i];
            break;
          }
        }
        if (best) lags.push(performance.timeOrigin + meta.presentationTime - best[1]);
      }
      if (t > settle + span) resolve(lags);
      else v.requestVideoFrameCallback(frame);
    };
    v.requestVideoFrameCallback(frame);
  }), [SETTLE_MS, LAG_MS]);
  out.lag_secs = LAG_MS / 1000;
  await ctx.close();
} finally {
  await browser.close();
}
if (!out.lag_ms.length) {
  process.stderr.write('no frame matched a prft: is the player asking for ?prft=1?\n');
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
