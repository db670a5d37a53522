/**
 * `npm run bench:map` — a county of DEVICES devices (40 village gateways speaking the MQTT contract,
 * each device sending one sample per second) through the hub process, the dashboard open in chromium
 * at 1920×1080. Measures: login → the full picture (every device known, the clusters drawn); frame
 * times (requestAnimationFrame intervals) over SECONDS at county zoom and at village zoom; the page's
 * JS heap; socket bytes per second to the page at county zoom; publish → drawn lag at village zoom
 * (each sample carries its send time; the page notes the frame that shows it). Ends with one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { BenchHub } from '../support/bench-hub.ts';
import { launchChromium } from '../support/browser.ts';
import { CountySim, countyLayout, writeCountyOutline } from '../support/county.ts';
import { sleep, waitFor } from '../support/wait.ts';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const SHAPE = { towns: 4, villagesPerTown: 10, devicesPerVillage: Math.ceil(DEVICES / 40) };

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const round = (n: number) => Math.round(n * 10) / 10;

const layout = countyLayout(SHAPE);
const total = layout.villages.length * SHAPE.devicesPerVillage;
const dataDir = mkdtempSync(join(tmpdir(), 'qly-bench-map-'));
const outline = writeCountyOutline(dataDir, layout.center);
let hub: BenchHub | undefined;
const sim = new CountySim(layout.villages, SHAPE.devicesPerVillage);
let browser: BrowserContext | undefined;
try {
  hub = await BenchHub.start(dataDir, {
    sites: layout.sites,
    map: { basemapFile: outline, center: layout.center, zoom: 11 },
  });
  const { base, token } = hub;
  const passwords = new Map<string, string>();
  for (const v of layout.villages) passwords.set(v.gateway, await hub.registerGateway(v.gateway, v.id));
  await sim.start(hub.mqttUrl, passwords);
  await waitFor(
    `${total} devices registered`,
    async () => {
      const res = await fetch(`${base}/api/devices?limit=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return Number(res.headers.get('x-total-count')) === total;
    },
    120_000,
  );
  sim.run(1);
  await sleep(3000);

  browser = await launchChromium({ viewport: { width: 1920, height: 1080 } });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  const cdp = await browser.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Performance.enable');
  let socketBytes = 0;
  cdp.on('Network.webSocketFrameReceived', (e: { response: { payloadData: string } }) => {
    socketBytes += Buffer.byteLength(e.response.payloadData);
  });

  await page.goto(base);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'bench-admin-password');
  const loginAt = Date.now();
  await page.click('button[type=submit]');
  type Q = { __qlyTest?: { deviceCount(): number; clusters(): unknown[] } };
  await page.waitForFunction(
    (n) => {
      const q = (window as unknown as Q).__qlyTest;
      return q?.deviceCount() === n && q.clusters().length > 0;
    },
    total,
    { timeout: 60_000, polling: 'raf' },
  );
  const firstRenderMs = Date.now() - loginAt;

  /** requestAnimationFrame intervals over `seconds`, measured in the page. */
  // A string, not a function: tsx would wrap named inner functions in a helper the page lacks.
  const frames = (seconds: number) =>
    page.evaluate(`new Promise((resolve) => {
      const out = [];
      let last = performance.now();
      const end = last + ${seconds * 1000};
      const step = (now) => {
        out.push(now - last);
        last = now;
        if (now < end) requestAnimationFrame(step);
        else resolve(out.slice(1));
      };
      requestAnimationFrame(step);
    })`) as Promise<number[]>;

  await sleep(2000); // the snapshot's own work done
  const countyBytesBefore = socketBytes;
  const countyStart = Date.now();
  const countyFrames = await frames(SECONDS);
  const kbitPerS = ((socketBytes - countyBytesBefore) * 8) / 1000 / ((Date.now() - countyStart) / 1000);

  // Village zoom: one village's devices drawn one by one, their values streaming.
  const village = layout.villages[5] as (typeof layout.villages)[number];
  await page.evaluate(
    ([la, lo]) =>
      (window as unknown as { __qlyTest: { view(a: number, b: number, z: number): void } }).__qlyTest.view(
        la,
        lo,
        16,
      ),
    [village.center.lat, village.center.lon] as const,
  );
  await page.waitForFunction(
    () => (window as unknown as { __qlyTest: { drawMode(): string } }).__qlyTest.drawMode() === 'devices',
  );
  await sleep(1500);
  await page.evaluate(() =>
    (window as unknown as { __qlyTest: { probeLag(f: string): void } }).__qlyTest.probeLag('sentAt'),
  );
  const villageBytesBefore = socketBytes;
  const villageStart = Date.now();
  const villageFrames = await frames(SECONDS);
  const villageKbit = ((socketBytes - villageBytesBefore) * 8) / 1000 / ((Date.now() - villageStart) / 1000);
  const lags = await page.evaluate(() =>
    (window as unknown as { __qlyTest: { lagSamples(): number[] } }).__qlyTest.lagSamples(),
  );
  const drawTimes = await page.evaluate(() =>
    (window as unknown as { __qlyTest: { drawTimes(): number[] } }).__qlyTest.drawTimes(),
  );
  const metrics = (await cdp.send('Performance.getMetrics')) as {
    metrics: Array<{ name: string; value: number }>;
  };
  const heapMb =
    (metrics.metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? Number.NaN) / 1024 / 1024;

  const all = [...countyFrames, ...villageFrames];
  console.log(`${total} devices, ${sim.published} samples published (1 per device per second)`);
  console.log(`login → full picture: ${firstRenderMs} ms (target < 2000)`);
  console.log(
    `frames at county zoom: p50 ${round(percentile(countyFrames, 50))} ms, p95 ${round(percentile(countyFrames, 95))} ms; ` +
      `at village zoom: p50 ${round(percentile(villageFrames, 50))} ms, p95 ${round(percentile(villageFrames, 95))} ms (target p95 < 20)`,
  );
  console.log(`canvas draw: p95 ${round(percentile(drawTimes, 95))} ms over ${drawTimes.length} draws`);
  console.log(`JS heap: ${round(heapMb)} MB (target < 150)`);
  console.log(
    `socket to the page: ${round(kbitPerS)} kbit/s at county zoom (target < 1000), ${round(villageKbit)} kbit/s at village zoom`,
  );
  console.log(
    `publish → drawn at village zoom: p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms over ${lags.length} samples (target p99 < 2000)`,
  );
  if (errors.length > 0) console.log(`page errors: ${errors.slice(0, 5).join(' | ')}`);
  console.log(
    JSON.stringify({
      bench: 'map',
      devices: total,
      first_render_ms: firstRenderMs,
      frame_p50_ms: round(percentile(all, 50)),
      frame_p95_ms: round(percentile(all, 95)),
      heap_mb: round(heapMb),
      lag_p99_ms: percentile(lags, 99),
      kbit_per_s: round(kbitPerS),
    }),
  );
} finally {
  await browser?.close();
  await sim.stop();
  await hub?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
