/**
 * `npm run bench:video` — a video wall of 1, 4, 9 and 16 cameras on each browser path, through
 * the whole chain: a camera simulator (this process; one picture served to every camera, so the
 * machine's cores go to the relay, not to encoding) → the real edge agent process with 16
 * `onvif-camera` devices pushing their sub-streams (`-c copy`) → the hub process → chromium playing
 * the wall (MSE passthrough, or JSMpeg after the hub's MPEG-1 transcode).
 *
 * Per path and wall size, over SECONDS after the wall is up: the relay's CPU-seconds per
 * media-second per stream (the hub process, its ffmpeg children, and the gateway's push ffmpegs,
 * from /proc), frames decoded per second per tile in the browser, time to first frame (a cold
 * start: no relay running), and glass-to-glass latency (the capture time burnt into each frame,
 * read from the decoded pixels, against the browser's clock). The floor, measured in the same run:
 * a bare `ffmpeg -c copy` remux of as many sub-streams to fMP4. Last line: one JSON object.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FMP4_REMUX_OUTPUT, parseDeviceKey, rtspInputArgs } from '@qianliyan/protocols';
import { CameraSimulator } from '../../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { ffmpegPath } from '../../edge-agent/src/video/ffmpeg.ts';
import { launchChromium } from '../support/browser.ts';
import { TEST_DASHBOARD_DIR } from '../support/dashboard.ts';
import { EdgeProcess } from '../support/edge.ts';
import { HubProcess } from '../support/hub-process.ts';
import { descendants, ffmpegs, processes } from '../support/processes.ts';
import { freePort, sleep, waitFor } from '../support/wait.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SIZES = (process.env.BENCH_TILES ?? '1,4,9,16').split(',').map(Number);
const FPS = 15;
const SITE = 'bench-video';
const GW = 'gw-video-bench';
const CAMERAS = Math.max(...SIZES);
const PASSWORD = 'bench-camera-password';

/** CPU time of a process in nanoseconds: the sum over its threads of /proc/…/schedstat (finer than stat's 10 ms ticks). */
const cpuNs = (pid: number): number => {
  try {
    let sum = 0;
    for (const task of readdirSync(`/proc/${pid}/task`))
      sum += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    return sum;
  } catch {
    return 0;
  }
};
/** CPU seconds used by a set of processes between two samples (processes that came and went are missed, so sample often). */
class CpuMeter {
  private readonly seen = new Map<number, number>();
  private total = 0;
  constructor(private readonly pids: () => number[]) {}
  sample(): void {
    for (const pid of this.pids()) {
      const now = cpuNs(pid);
      const before = this.seen.get(pid);
      if (before !== undefined && now >= before) this.total += now - before;
      this.seen.set(pid, now);
    }
  }
  get seconds(): number {
    return this.total / 1e9;
  }
}
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const median = (values: number[]) => percentile(values, 50);
const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

const dir = mkdtempSync(join(tmpdir(), 'qly-bench-video-'));
const camera = new CameraSimulator({ credentials: { username: 'admin', password: PASSWORD } });
const [httpPort, mqttPort] = [await freePort(), await freePort()];
const hub = new HubProcess(
  dir,
  {
    host: '127.0.0.1',
    port: httpPort,
    logLevel: 'warn',
    auth: { scryptLog2N: 12 },
    mqtt: { embeddedHost: '127.0.0.1', embeddedPort: mqttPort },
    video: { idleStopMs: 1000, maxViewersPerUser: 64 },
    dashboardDir: TEST_DASHBOARD_DIR,
  },
  { ADMIN_PASSWORD: 'bench-admin-password' },
);
let edge: EdgeProcess | undefined;
const floorProcs: ChildProcess[] = [];
const browser = await launchChromium({ viewport: { width: 1600, height: 900 } });
const results: Array<Record<string, number | string | boolean | Record<string, number>>> = [];
try {
  await camera.start();
  await hub.start();
  const base = `http://127.0.0.1:${httpPort}`;
  const { token } = (await (
    await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }),
    })
  ).json()) as { token: string };
  const { password } = (await (
    await fetch(`${base}/api/gateways`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ id: GW, site: SITE }),
    })
  ).json()) as { password: string };
  writeFileSync(join(dir, 'camera.pw'), PASSWORD);
  const keys = Array.from({ length: CAMERAS }, (_, i) => `${GW}.cam-${String(i + 1).padStart(2, '0')}`);
  edge = new EdgeProcess(
    {
      gateway: { id: GW, site: SITE },
      mqtt: { url: `mqtt://127.0.0.1:${mqttPort}` },
      logLevel: 'warn',
      video: { hubUrl: base },
      devices: keys.map((key, i) => ({
        type: 'onvif-camera',
        id: parseDeviceKey(key)?.device,
        name: `Camera ${i + 1}`,
        position: { lat: 30.04 + i * 0.0003, lon: 119.95 },
        xaddr: camera.xaddr,
        username: 'admin',
        passwordFile: join(dir, 'camera.pw'),
        events: false,
      })),
    },
    password,
  );
  edge.start();
  const edgePid = () => edge?.pid as number;
  await waitFor(
    'every camera registered with video',
    async () => {
      const res = await fetch(`${base}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
      const devices = (await res.json()) as Array<{ capabilities: string[] }>;
      return devices.filter((d) => d.capabilities.includes('cmd.stream.start')).length === CAMERAS;
    },
    60_000,
    200,
  );

  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const open = async (format: 'mse' | 'jsmpeg') => {
    await page.goto(`${base}/?video=${format}`);
    if (await page.locator('input[name=username]').count()) {
      await page.fill('input[name=username]', 'admin');
      await page.fill('input[name=password]', 'bench-admin-password');
      await page.click('button[type=submit]');
    }
    await page.waitForFunction(
      (n) => (window as unknown as { __qlyTest?: { deviceCount(): number } }).__qlyTest?.deviceCount() === n,
      CAMERAS,
    );
    await page.evaluate(() => {
      const q = (window as unknown as { __qlyTest: { measureLatency(on: boolean): void } }).__qlyTest;
      q.measureLatency(true);
    });
    await page.click('.stage-modes [data-mode=wall]');
  };
  type Tile = {
    tile: number;
    device: string;
    state: string;
    frames: number;
    latencies: number[];
    firstFrameMs?: number;
    steps: Record<string, number | undefined>;
  };
  const tiles = () =>
    page.evaluate(() => (window as unknown as { __qlyTest: { video(): Tile[] } }).__qlyTest.video());
  const hubPid = () => hub.pid as number;
  const relayPids = () => [
    hubPid(),
    ...ffmpegs(descendants(hubPid())).map((p) => p.pid),
    ...ffmpegs(descendants(edgePid()))
      .filter((p) => p.cmdline.includes('frag_duration'))
      .map((p) => p.pid),
  ];

  const formats = (process.env.BENCH_PATHS ?? 'mse,jsmpeg').split(',') as Array<'mse' | 'jsmpeg'>;
  for (const format of formats) {
    await open(format);
    // The hub's own cost with no stream running (16 cameras' health, this dashboard's socket): not the relay's.
    await page.click('[data-role=clear-wall]');
    await sleep(2000);
    const idleMeter = new CpuMeter(() => [hubPid()]);
    idleMeter.sample();
    await sleep(SECONDS * 1000);
    idleMeter.sample();
    const hubIdlePerSecond = idleMeter.seconds / SECONDS;
    process.stdout.write(
      `${JSON.stringify({ path: format, hub_idle_cpu_per_second: round(hubIdlePerSecond, 4) })}\n`,
    );
    for (const n of SIZES) {
      const layout = [1, 4, 9, 16].find((l) => l >= n) as number;
      await page.click(`.wall-layouts [data-layout="${layout}"]`);
      await page.click('[data-role=clear-wall]');
      await waitFor(
        'no relay running (cold start)',
        () => ffmpegs(descendants(edgePid())).every((p) => !p.cmdline.includes('frag_duration')),
        20_000,
        100,
      );
      await sleep(1500);
      await page.evaluate(
        (list) => {
          const wall = (window as unknown as { __qlyTest: { wall: { assign(i: number, k: string): void } } })
            .__qlyTest.wall;
          for (const [i, key] of list.entries()) wall.assign(i, key);
        },
        keys.slice(0, n),
      );
      await waitFor(
        'every tile decoding',
        async () => (await tiles()).filter((t) => t.frames > 0).length === n,
        30_000,
        100,
      ).catch(() => undefined);
      await sleep(2000);
      const meter = new CpuMeter(relayPids);
      const hubMeter = new CpuMeter(() => [hubPid()]);
      const pushMeter = new CpuMeter(() =>
        ffmpegs(descendants(edgePid()))
          .filter((p) => p.cmdline.includes('frag_duration'))
          .map((p) => p.pid),
      );
      const meters = [meter, hubMeter, pushMeter];
      for (const m of meters) m.sample();
      const before = await tiles();
      const sampler = setInterval(() => {
        for (const m of meters) m.sample();
      }, 250);
      await sleep(SECONDS * 1000);
      clearInterval(sampler);
      for (const m of meters) m.sample();
      const after = await tiles();
      const fps = after.map(
        (t) => (t.frames - (before.find((b) => b.device === t.device)?.frames ?? 0)) / SECONDS,
      );
      const latencies = after.flatMap((t) => t.latencies.slice(-SECONDS * FPS));
      const first = after.map((t) => t.firstFrameMs).filter((v): v is number => v !== undefined);
      const row = {
        path: format === 'mse' ? 'passthrough' : 'jsmpeg',
        tiles: n,
        // The relay's cost: the hub's CPU above its idle cost, its ffmpegs, the gateway's push ffmpegs.
        cpu_per_stream_second: round(
          Math.max(0, meter.seconds - hubIdlePerSecond * SECONDS) / (n * SECONDS),
          5,
        ),
        hub_node_cpu_per_stream_second: round(
          Math.max(0, hubMeter.seconds - hubIdlePerSecond * SECONDS) / (n * SECONDS),
          5,
        ),
        edge_push_cpu_per_stream_second: round(pushMeter.seconds / (n * SECONDS), 5),
        min_fps: round(Math.min(...fps), 1),
        sustained: fps.length === n && Math.min(...fps) >= FPS * 0.9,
        first_frame_ms: Math.round(median(first)),
        // Where the first frame's time goes (medians over the tiles, ms from the tile's start).
        first_frame_steps: Object.fromEntries(
          ['token', 'open', 'init', 'media', 'buffered', 'playing'].map((s) => [
            s,
            Math.round(median(after.map((t) => t.steps?.[s]).filter((v): v is number => v !== undefined))),
          ]),
        ),
        glass_to_glass_p50_ms: Math.round(median(latencies)),
        glass_to_glass_p95_ms: Math.round(percentile(latencies, 95)),
      };
      results.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
      await page.click('[data-role=clear-wall]');
    }
  }

  // The floor: a bare `ffmpeg -c copy` to fMP4 of as many sub-streams, reading the same camera.
  const floors: Record<number, number> = {};
  for (const n of SIZES) {
    const url = camera.streamUrl('sub').replace('rtsp://', `rtsp://admin:${PASSWORD}@`);
    for (let i = 0; i < n; i++) {
      const p = spawn(
        ffmpegPath(),
        ['-hide_banner', '-loglevel', 'error', '-nostdin', ...rtspInputArgs(url), ...FMP4_REMUX_OUTPUT],
        {
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      p.stdout?.resume();
      floorProcs.push(p);
    }
    await sleep(2000);
    const meter = new CpuMeter(() => floorProcs.map((p) => p.pid as number));
    meter.sample();
    await sleep(SECONDS * 1000);
    meter.sample();
    floors[n] = meter.seconds / (n * SECONDS);
    process.stdout.write(
      `${JSON.stringify({ path: 'bare ffmpeg -c copy', tiles: n, cpu_per_stream_second: round(floors[n] as number, 5) })}\n`,
    );
    for (const p of floorProcs.splice(0)) p.kill('SIGKILL');
    await sleep(500);
  }
  if (errors.length) process.stdout.write(`page errors: ${errors.join('; ')}\n`);

  const passthrough = results.filter((r) => r.path === 'passthrough');
  const at9 = passthrough.find((r) => r.tiles === 9) ?? passthrough.at(-1);
  const sustained = passthrough.filter((r) => r.sustained).map((r) => r.tiles as number);
  const ratioTiles = (at9?.tiles as number) ?? 9;
  const floor = floors[ratioTiles] ?? Number.NaN;
  const summary = {
    bench: 'video',
    tiles_sustained: sustained.length ? Math.max(...sustained) : 0,
    passthrough_cpu_ratio: round((at9?.cpu_per_stream_second as number) / floor, 2),
    first_frame_ms: Math.round(median(passthrough.map((r) => r.first_frame_ms as number))),
    glass_to_glass_p50_ms: at9?.glass_to_glass_p50_ms as number,
    jsmpeg_tiles_sustained: Math.max(
      0,
      ...results.filter((r) => r.path === 'jsmpeg' && r.sustained).map((r) => r.tiles as number),
    ),
    jsmpeg_glass_to_glass_p50_ms: results.find((r) => r.path === 'jsmpeg' && r.tiles === ratioTiles)
      ?.glass_to_glass_p50_ms,
    cpu_per_stream_second_passthrough: at9?.cpu_per_stream_second,
    cpu_per_stream_second_floor: round(floor, 5),
    seconds: SECONDS,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  for (const p of floorProcs) p.kill('SIGKILL');
  await browser.close();
  await edge?.stop();
  await hub.stop();
  await camera.stop();
  const left = ffmpegs(processes()).filter((p) => p.ppid === process.pid && p.pid !== camera.encoderPid);
  if (left.length) process.stdout.write(`warning: ${left.length} ffmpeg left\n`);
}
