/**
 * One gateway in an attacker's hands must not stall the hub. The hub runs as its own process, so
 * `/healthz` is answered (or not) by the event loop the attack lands on; the "gateway" is the real
 * outbox and uplink with the gateway's own credential, answering the hub's `stream.start` by
 * pushing on the hub's push socket:
 *  - an 8 MB fMP4 box in small messages, under every byte-rate limit (the hub re-copied its whole
 *    buffer on every message: minutes without an answer); then a flood of tiny messages, cut off;
 *  - with no click at all: the gateway raises an intrusion, the linkage puts its four cameras on an
 *    open dashboard's wall (here a socket.io client doing what the dashboard does), the hub asks for
 *    the streams, and each one sends an init segment then garbage. The relays back off instead of
 *    asking again and again, the viewers are told why, and the hub's memory stays put.
 * Throughout, `/healthz` answers within 100 ms.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, type LinkagePlan, topics } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BenchHub } from './support/bench-hub.ts';
import { fragment, INIT_SEGMENT, mdatHeader, moof } from './support/fmp4-boxes.ts';
import { startUplink } from './support/uplink.ts';
import { openViewerUrl, type Viewer } from './support/video-viewer.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-rogue';
const CAMERAS = ['cam-1', 'cam-2', 'cam-3', 'cam-4'];
const BOX_BYTES = 8 * 1024 * 1024;

type Attack = (ws: WebSocket) => Promise<void>;

/** Sends `total` bytes of an mdat body in `piece`-byte messages, `perTick` every 20 ms. */
async function trickle(ws: WebSocket, total: number, piece: number, perTick: number): Promise<void> {
  const chunk = Buffer.alloc(piece, 7);
  for (let sent = 0; sent < total && ws.readyState === ws.OPEN; ) {
    for (let i = 0; i < perTick && sent < total; i++) {
      const n = Math.min(piece, total - sent);
      ws.send(n === piece ? chunk : chunk.subarray(0, n));
      sent += n;
    }
    await sleep(20);
  }
}

/** Watches /healthz every 50 ms; the slowest answer (a refused or hung one counts as 10 s). */
function watchHealth(base: string) {
  let stop = false;
  let worst = 0;
  let checks = 0;
  const done = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const ok = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) })
        .then((r) => r.ok)
        .catch(() => false);
      const ms = ok ? performance.now() - t0 : 10_000;
      worst = Math.max(worst, ms);
      checks += 1;
      await sleep(Math.max(0, 50 - (performance.now() - t0)));
    }
  })();
  return {
    async end() {
      stop = true;
      await done;
      return { worst: Math.round(worst), checks };
    },
  };
}

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('a rogue gateway pushing video', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qly-rogue-'));
  let hub: BenchHub;
  let rogue: Awaited<ReturnType<typeof startUplink>>;
  let password: string;
  let attack: Attack = async () => {};
  const starts: Array<{ device: string; at: number }> = [];
  const pushes = new Set<WebSocket>();

  beforeAll(async () => {
    hub = await BenchHub.start(dir, {
      linkage: {
        rules: [
          {
            id: 'intrusion-wall',
            name: '入侵上墙',
            when: { types: ['intrusion'] },
            actions: { cameras: { count: 4, maxDistanceM: 2000 } },
          },
        ],
      },
    });
    password = await hub.registerGateway(GW, SITE);
    rogue = await startUplink(hub.mqttUrl, SITE, GW, password);
    rogue.uplink.subscribe(topics.cmd(SITE, GW));
    rogue.uplink.on('message', (topic: string, payload: Buffer) => {
      if (topic !== topics.cmd(SITE, GW)) return;
      const cmd = JSON.parse(payload.toString()) as Command;
      const reply = () =>
        rogue.send(topics.cmdResult(SITE, GW), { ts: Date.now(), id: cmd.id, status: 'ok' });
      if (cmd.action !== 'stream.start') return reply();
      starts.push({ device: cmd.device as string, at: Date.now() });
      const session = cmd.params?.session as string;
      const ws = new WebSocket(`${hub.base.replace(/^http/, 'ws')}/api/edge/streams/${session}`, {
        headers: { authorization: `Basic ${Buffer.from(`${GW}:${password}`).toString('base64')}` },
      });
      ws.on('error', () => {});
      ws.once('open', () => {
        pushes.add(ws);
        reply();
        void attack(ws).catch(() => undefined);
      });
      ws.once('close', () => pushes.delete(ws));
    });
    const now = Date.now();
    rogue.send(
      topics.state(SITE, GW),
      { ts: now, online: true, heartbeatMs: 10_000, devices: CAMERAS },
      true,
    );
    for (const [i, id] of CAMERAS.entries())
      rogue.send(
        topics.meta(SITE, GW, id),
        {
          ts: now,
          kind: 'camera',
          name: `村口${i + 1}`,
          position: { lat: 30.044 + i * 0.0005, lon: 119.952 },
          heading: 0,
          fov: 60,
          capabilities: ['video', 'cmd.stream.start', 'cmd.stream.stop', 'event.intrusion'],
          streams: [{ name: 'sub', codec: 'h264' }],
        },
        true,
      );
    await rogue.drained();
    await waitFor('cameras registered', async () => {
      const devices = await hub.api<Array<{ key: string }>>('/api/devices');
      return CAMERAS.every((c) => devices.some((d) => d.key === `${GW}.${c}`));
    });
  }, 60_000);

  afterAll(async () => {
    for (const ws of pushes) ws.terminate();
    await rogue?.close();
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const view = async (device: string): Promise<Viewer> => {
    const { token, path } = await hub.api<{ token: string; path: string }>('/api/video/tokens', {
      device,
      stream: 'sub',
    });
    const viewer = openViewerUrl(
      `${hub.base.replace(/^http/, 'ws')}${path}?token=${encodeURIComponent(token)}&format=mse`,
    );
    await viewer.opened;
    return viewer;
  };

  it('an 8 MB box in small messages under the byte limit: /healthz answers within 100 ms', async () => {
    let boxDone = false;
    attack = async (ws) => {
      ws.send(INIT_SEGMENT);
      ws.send(moof(true));
      ws.send(mdatHeader(BOX_BYTES));
      // 4 KiB messages, 7 every 20 ms: 1.4 MB/s, a third of the per-stream byte limit.
      await trickle(ws, BOX_BYTES - 8, 4096, 7);
      boxDone = true;
    };
    const health = watchHealth(hub.base);
    const viewer = await view(`${GW}.cam-1`);
    await waitFor('the whole box pushed', () => boxDone, 30_000);
    await sleep(500);
    const { worst, checks } = await health.end();
    console.log(`8 MB box in 4 KiB messages: /healthz worst ${worst} ms over ${checks} checks`);
    expect(checks).toBeGreaterThan(50);
    expect(worst).toBeLessThan(100);
    await waitFor('the box reached the viewer as one fragment', () => viewer.fragments >= 1, 10_000);

    // The same stream flooded with tiny messages (cheap in bytes, costly per message): cut off.
    const before = await hub.metricValue('qly_video_refused_total', { reason: 'push_message_rate' });
    const flood = [...pushes][0] as WebSocket;
    const tiny = Buffer.alloc(16);
    for (let i = 0; i < 2000 && flood.readyState === flood.OPEN; i++) flood.send(tiny);
    await waitFor(
      'the flood counted',
      async () =>
        (await hub.metricValue('qly_video_refused_total', { reason: 'push_message_rate' })) > before,
    );
    viewer.close();
    attack = async () => {};
    await waitFor(
      'relay idle',
      async () => (await hub.api<{ relays: unknown[] }>('/api/video/relays')).relays.length === 0,
      20_000,
    );
  }, 90_000);

  it('an intrusion puts its cameras on a wall; garbage media: backoff, not a storm; /healthz within 100 ms', async () => {
    attack = async (ws) => {
      ws.send(INIT_SEGMENT);
      ws.send(fragment(true, 2000));
      await sleep(200);
      ws.send(Buffer.from('this is not MP4 but it keeps coming '.repeat(100)));
    };
    // A dashboard: the linkage puts the plan's cameras on its wall (as the command view does).
    const dashboard: Socket = io(hub.base, {
      path: '/socket.io',
      auth: { token: hub.token },
      transports: ['websocket'],
      reconnection: false,
    });
    const viewers: Viewer[] = [];
    dashboard.on('linkage', ({ plan }: { plan: LinkagePlan }) => {
      for (const c of plan.cameras) void view(c.key).then((v) => viewers.push(v));
    });
    await new Promise<void>((resolve) => dashboard.on('connect', () => resolve()));
    const pid = hub.process.pid as number;
    const rssBefore = rssMb(pid);
    const health = watchHealth(hub.base);
    const t0 = Date.now();
    starts.length = 0;
    rogue.send(topics.event(SITE, GW, 'cam-1'), { ts: Date.now(), type: 'intrusion', severity: 'critical' });
    await waitFor('four cameras on the wall', () => viewers.length === 4, 15_000);
    await sleep(20_000);
    const { worst } = await health.end();
    const rssAfter = rssMb(pid);
    const perCamera = CAMERAS.map((c) => starts.filter((s) => s.device === c && s.at >= t0).length);
    console.log(
      `linkage wall on a garbage-pushing gateway, 20 s: starts per camera ${perCamera.join('/')}, ` +
        `/healthz worst ${worst} ms, hub RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB`,
    );
    // Asked once each, and not again within the bad-media backoff (30 s): no storm of restarts.
    // (Under a heavily loaded machine one camera's start can miss the window: at most one each.)
    expect(perCamera.every((n) => n <= 1)).toBe(true);
    expect(perCamera.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
    expect(worst).toBeLessThan(100);
    expect(rssAfter - rssBefore).toBeLessThan(150);
    for (const v of viewers) {
      expect(v.states.at(-1)).toBe('offline');
      expect(v.reasons.at(-1)).toMatch(/not video/);
    }
    const relays = (await hub.api<{ relays: Array<{ badMedia: number }> }>('/api/video/relays')).relays;
    expect(relays.every((r) => r.badMedia <= 1)).toBe(true);
    for (const v of viewers) v.close();
    dashboard.disconnect();
  }, 90_000);
});
