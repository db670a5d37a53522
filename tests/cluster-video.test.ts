/**
 * Video across hubs, through real parts: two hub processes on one PostgreSQL (the stream's lease
 * and its holder's address), Redis and Mosquitto; the edge agent process with its ffmpeg pusher; an
 * ONVIF camera simulator.
 *  - viewers on both hubs get the same picture (the same fMP4 fragments, byte for byte) while the
 *    gateway pushes the stream once, to the hub holding it — not to its own `video.hubUrl`, which
 *    here leads to the other hub;
 *  - the holder is SIGKILLed: the survivor's viewer gets its picture back, the survivor now
 *    holding the stream and the gateway pushing to it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { api, type ClusterHub, clusterPartsAvailable, login, TestCluster } from './support/cluster.ts';
import { EdgeProcess } from './support/edge.ts';
import type { TestHub } from './support/hub.ts';
import { descendants, ffmpegs } from './support/processes.ts';
import { waitForCredential } from './support/stack.ts';
import { systemBinary } from './support/system.ts';
import { openViewer, type Viewer } from './support/video-viewer.ts';
import { waitFor } from './support/wait.ts';

/** The default sites' village, where the camera stands. */
const SITE = 'demo-village';
const GW = 'gw-cam';
const CAM = `${GW}.cam`;
const HAVE_PARTS = clusterPartsAvailable() && systemBinary('/usr/bin/ffmpeg', 'ffmpeg');

describe.skipIf(!HAVE_PARTS)('video across two hubs', () => {
  const cluster = new TestCluster({
    hubs: 2,
    slots: 2,
    extra: {
      video: { idleStopMs: 2000, stallMs: 1500, watchdogMs: 6000, startTimeoutMs: 10_000 },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'qly-cluster-video-'));
  const viewers: Viewer[] = [];
  let camera: CameraSimulator;
  let edge: EdgeProcess;
  let token = '';

  const hub = (n: number) => cluster.hubs[n] as ClusterHub;
  /** What support/video-viewer.ts needs of a hub. */
  const asViewerHub = (h: ClusterHub) =>
    ({ baseUrl: h.base, token: async () => token }) as unknown as TestHub;
  const pushers = () => ffmpegs(descendants(edge.pid as number));
  const holder = () =>
    cluster.sql(`SELECT hub_id FROM video_holders WHERE stream = 'video:${CAM}/sub'`)[0]?.[0];

  beforeAll(async () => {
    camera = new CameraSimulator({ credentials: { username: 'admin', password: 'cam-secret-3' } });
    await camera.start();
    await cluster.start();
    token = await login(hub(0).base);
    const res = await api<{ password: string }>(hub(0).base, token, '/api/gateways', { id: GW, site: SITE });
    expect(res.status).toBe(201);
    await waitForCredential(cluster.mosquitto.url, GW, res.body.password);
    writeFileSync(join(dir, 'cam.pw'), 'cam-secret-3');
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: cluster.mosquitto.url, keepaliveS: 5 },
        // The gateway's own hub URL leads to hub-2: a push there for hub-1's session would be refused.
        video: { hubUrl: hub(1).base, pushGiveUpMs: 10_000 },
        devices: [
          {
            type: 'onvif-camera',
            id: 'cam',
            name: 'cam',
            position: { lat: 30.04, lon: 119.95 },
            xaddr: camera.xaddr,
            username: 'admin',
            passwordFile: join(dir, 'cam.pw'),
          },
        ],
      },
      res.body.password,
    );
    edge.start();
    await waitFor(
      'the camera known to both hubs with video',
      async () => {
        const lists = await Promise.all(
          [hub(0), hub(1)].map((h) =>
            api<Array<{ key: string; capabilities: string[] }>>(h.base, token, '/api/devices'),
          ),
        );
        return lists.every((l) =>
          l.body.some((d) => d.key === CAM && d.capabilities.includes('cmd.stream.start')),
        );
      },
      40_000,
    ).catch(async (err) => {
      const devices = [
        await api(hub(0).base, token, '/api/devices'),
        await api(hub(1).base, token, '/api/devices'),
        cluster.sql('SELECT meta_seq, meta FROM devices'),
        cluster.sql('SELECT * FROM ingest_claims'),
      ];
      throw new Error(
        `${(err as Error).message}\ndevices: ${JSON.stringify(devices).slice(0, 5000)}\nhub-1:\n${hub(0).process.output.slice(-3000)}\nhub-2:\n${hub(1).process.output.slice(-3000)}\nedge agent:\n${edge.output.slice(-3000)}`,
      );
    });
  }, 180_000);

  afterAll(async () => {
    for (const v of viewers) v.close();
    await edge?.stop();
    await cluster.stop();
    await camera?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function watch(h: ClusterHub): Promise<Viewer> {
    const v = await openViewer(asViewerHub(h), CAM, 'sub', 'mse');
    viewers.push(v);
    await v.opened;
    return v;
  }

  it('viewers on two hubs get the same picture, pushed once by the gateway to the hub holding it', async () => {
    const onA = await watch(hub(0));
    await waitFor('live on hub-1', () => onA.keyframes >= 1 && onA.fragments >= 5, 30_000);
    expect(holder()).toBe('hub-1');
    const onB = await watch(hub(1));
    await waitFor('live on hub-2', () => onB.keyframes >= 1 && onB.fragments >= 10, 30_000);
    // The same fragments, byte for byte: hub-2 relays hub-1's stream.
    const fromA = new Set(onA.digests);
    const shared = onB.digests.filter((d) => fromA.has(d));
    expect(shared.length).toBeGreaterThanOrEqual(5);
    // One push: one ffmpeg pusher on the gateway, media bytes in at hub-1 only.
    expect(pushers()).toHaveLength(1);
    expect(await hub(0).metric(token, 'qly_video_bytes_total', { direction: 'in' })).toBeGreaterThan(0);
    expect(await hub(1).metric(token, 'qly_video_bytes_total', { direction: 'in' })).toBe(0);
    const relays = await Promise.all(
      [hub(0), hub(1)].map((h) =>
        api<{ relays: Array<{ device: string; source: string; viewers: number }> }>(
          h.base,
          token,
          '/api/video/relays',
        ),
      ),
    );
    expect(relays[0]?.body.relays).toEqual([
      expect.objectContaining({ device: CAM, source: 'push', viewers: 2 }),
    ]);
    expect(relays[1]?.body.relays).toEqual([
      expect.objectContaining({ device: CAM, source: 'peer', viewers: 1 }),
    ]);
  }, 90_000);

  it('the holder is SIGKILLed: the viewer on the survivor gets its picture back', async () => {
    const onB = viewers[1] as Viewer;
    await hub(0).process.stop('SIGKILL');
    const killedAt = Date.now();
    const before = { fragments: onB.fragments, keyframes: onB.keyframes };
    await waitFor(
      'the picture back on hub-2',
      () => onB.keyframes >= before.keyframes + 1 && onB.fragments >= before.fragments + 10,
      45_000,
    );
    const backMs = Date.now() - killedAt;
    expect(onB.closeCode).toBeUndefined();
    expect(holder()).toBe('hub-2');
    // The gateway now pushes to hub-2, and only one stream (the dead hub's pusher gives up).
    expect(await hub(1).metric(token, 'qly_video_bytes_total', { direction: 'in' })).toBeGreaterThan(0);
    await waitFor('one pusher on the gateway', () => pushers().length === 1, 30_000);
    console.log(`video back on the survivor ${backMs} ms after the SIGKILL`);
  }, 120_000);
});
