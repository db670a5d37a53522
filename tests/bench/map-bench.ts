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
  // DevTools' network capture copies every socket frame to this process (the 3 MB snapshot, escaped):
  // it is switched on for the first render only when its breakdown is asked for (BENCH_BREAKDOWN=1),
  // and otherwise after it, for the socket's bytes.
  const breakdown = Boolean(
    process.env.BENCH_BREAKDOWN || process.env.BENCH_PROFILE || process.env.BENCH_TRACE,
  );
  if (breakdown) await cdp.send('Network.enable');
  await cdp.send('Performance.enable');
  let socketBytes = 0;
  /** Where the first render's time goes: each request and each large socket frame, on CDP's clock. */
  const timeline: Array<{ at: number; what: string }> = [];
  cdp.on('Network.webSocketFrameReceived', (e: { timestamp: number; response: { payloadData: string } }) => {
    const bytes = Buffer.byteLength(e.response.payloadData);
    socketBytes += bytes;
    if (bytes > 1_000_000 && process.env.BENCH_PROFILE) console.log(e.response.payloadData.slice(0, 1500));
    if (bytes > 20_000)
      timeline.push({ at: e.timestamp, what: `socket frame ${Math.round(bytes / 1024)} KiB` });
  });
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e: { timestamp: number }) =>
    timeline.push({ at: e.timestamp, what: 'socket handshake' }),
  );
  cdp.on('Network.webSocketFrameSent', (e: { timestamp: number; response: { payloadData: string } }) =>
    timeline.push({ at: e.timestamp, what: `socket sent ${e.response.payloadData.slice(0, 60)}` }),
  );
  cdp.on(
    'Network.webSocketHandshakeResponseReceived',
    (e: { timestamp: number; response: { headers: Record<string, string> } }) =>
      timeline.push({
        at: e.timestamp,
        what: `socket open ${e.response.headers['Sec-WebSocket-Extensions'] ?? e.response.headers['sec-websocket-extensions'] ?? 'uncompressed'}`,
      }),
  );
  const requests = new Map<string, string>();
  cdp.on(
    'Network.requestWillBeSent',
    (e: { requestId: string; timestamp: number; request: { url: string } }) => {
      const path = new URL(e.request.url).pathname;
      requests.set(e.requestId, path);
      timeline.push({ at: e.timestamp, what: `→ ${path}` });
    },
  );
  cdp.on(
    'Network.loadingFinished',
    (e: { requestId: string; timestamp: number; encodedDataLength: number }) => {
      const path = requests.get(e.requestId);
      if (path)
        timeline.push({ at: e.timestamp, what: `← ${path} ${Math.round(e.encodedDataLength / 1024)} KiB` });
    },
  );

  await page.goto(base);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'bench-admin-password');
  if (process.env.BENCH_PROFILE) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
    await cdp.send('Profiler.start');
  }
  const traceEvents: Array<{
    name: string;
    ph: string;
    ts: number;
    dur?: number;
    tid: number;
    args?: { data?: { type?: string; url?: string; functionName?: string } };
  }> = [];
  let traceDone: Promise<void> | undefined;
  if (process.env.BENCH_TRACE) {
    cdp.on('Tracing.dataCollected', (e) => {
      traceEvents.push(...(e.value as unknown as typeof traceEvents));
    });
    traceDone = new Promise((r) => cdp.once('Tracing.tracingComplete', () => r()));
    await cdp.send('Tracing.start', {
      categories: 'devtools.timeline,disabled-by-default-devtools.timeline',
      transferMode: 'ReportEvents',
    });
  }
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
  if (!breakdown) await cdp.send('Network.enable');
  if (process.env.BENCH_PROFILE) {
    const { profile } = (await cdp.send('Profiler.stop')) as {
      profile: {
        nodes: Array<{
          id: number;
          callFrame: { functionName: string; url: string; lineNumber: number };
          hitCount?: number;
        }>;
        samples: number[];
        timeDeltas: number[];
      };
    };
    const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    profile.samples.forEach((id, i) => {
      const n = byNode.get(id);
      if (!n) return;
      const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
      self.set(k, (self.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
    });
    for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25))
      console.log(`  self ${Math.round(ms)} ms  ${k}`);
    const parent = new Map<number, number>();
    for (const n of profile.nodes as Array<{ id: number; children?: number[] }>)
      for (const c of n.children ?? []) parent.set(c, n.id);
    const incl = new Map<string, number>();
    const snapAt =
      timeline.find(
        (e) =>
          e.what.startsWith('socket frame') && e.what.includes('KiB') && Number(e.what.split(' ')[2]) > 1000,
      )?.at ?? 0;
    let clock = (profile as unknown as { startTime: number }).startTime;
    const after = profile.samples.map((_, i) => {
      clock += profile.timeDeltas[i] ?? 0;
      return clock / 1e6 >= snapAt;
    });
    console.log(`profile window from the snapshot frame: ${after.filter(Boolean).length} samples`);
    profile.samples.forEach((id, i) => {
      if (!after[i]) return;
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const n = byNode.get(cur);
        if (!n) break;
        const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
        if (seen.has(k)) continue;
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
      }
    });
    for (const [k, ms] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 45))
      console.log(`  incl ${Math.round(ms)} ms  ${k}`);
  }
  if (traceDone) {
    await cdp.send('Tracing.end');
    await traceDone;
    const tasks = traceEvents.filter((e) => e.name === 'RunTask' && e.ph === 'X');
    const main = new Map<number, number>();
    for (const e of tasks) main.set(e.tid, (main.get(e.tid) ?? 0) + (e.dur ?? 0));
    const mainTid = [...main].sort((a, b) => b[1] - a[1])[0]?.[0];
    const byName = new Map<string, number>();
    for (const e of traceEvents) {
      if (e.tid !== mainTid || e.ph !== 'X' || !e.dur) continue;
      const k =
        e.name === 'EventDispatch' || e.name === 'FunctionCall' || e.name === 'TimerFire'
          ? `${e.name} ${e.args?.data?.type ?? e.args?.data?.functionName ?? ''}`
          : e.name;
      byName.set(k, (byName.get(k) ?? 0) + e.dur / 1000);
    }
    console.log(`main thread busy ${Math.round((main.get(mainTid ?? 0) ?? 0) / 1000)} ms`);
    for (const [k, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 30))
      console.log(`  trace ${Math.round(ms)} ms  ${k}`);
    const t0 = tasks[0]?.ts ?? 0;
    const long = tasks.filter((e) => e.tid === mainTid && (e.dur ?? 0) > 50_000);
    for (const e of long) {
      console.log(
        `  long task at +${Math.round((e.ts - t0) / 1000)} ms: ${Math.round((e.dur ?? 0) / 1000)} ms`,
      );
      const inside = traceEvents.filter(
        (x) =>
          x.tid === mainTid &&
          x.ph === 'X' &&
          x !== e &&
          x.ts >= e.ts &&
          x.ts < e.ts + (e.dur ?? 0) &&
          (x.dur ?? 0) > 5000,
      );
      for (const x of inside.slice(0, 12))
        console.log(
          `      +${Math.round((x.ts - e.ts) / 1000)} ${Math.round((x.dur ?? 0) / 1000)} ms ${x.name} ${JSON.stringify(x.args?.data ?? {}).slice(0, 120)}`,
        );
    }
  }
  const loginPost = timeline.find((e) => e.what === '→ /api/auth/login');
  if (loginPost) {
    console.log('first render, from the login request:');
    for (const e of timeline.filter((x) => x.at >= loginPost.at).sort((a, b) => a.at - b.at))
      console.log(`  ${Math.round((e.at - loginPost.at) * 1000)} ms  ${e.what}`);
  }

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
