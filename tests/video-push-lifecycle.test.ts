/**
 * A gateway's stream push never outlives its session at the hub. Real parts: the hub (its relay and
 * push sessions), the edge agent process with its ffmpeg pushers, an ONVIF camera simulator, and
 * the village's uplink as two TCP proxies (video and MQTT ride the same 4G link, so they fail
 * together) that can reset connections or turn into a black hole.
 *  - a black-holed uplink (no FIN, no RST: the hub's 4404 cannot arrive, nor `stream.stop`): the
 *    pusher finds the connection dead by itself, stops ffmpeg, then gives up reconnecting;
 *  - the hub ends the session (4404) while `stream.stop` cannot arrive: ffmpeg stops at once;
 *  - the hub refuses a reconnect for a session it has ended (404): the pusher stops.
 * (`stream.stop` itself: tests/video.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { descendants, ffmpegs } from './support/processes.ts';
import { systemBinary } from './support/system.ts';
import { TcpProxy } from './support/tcp-proxy.ts';
import { openViewer, type Viewer } from './support/video-viewer.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-push';
const CAM = `${GW}.cam`;
const PING_MS = 500;
const DEAD_AFTER_MS = 3000;
const GIVE_UP_MS = 6000;

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))('gateway pushers end with their session', () => {
  let hub: TestHub;
  let camera: CameraSimulator;
  let edge: EdgeProcess;
  let video: TcpProxy;
  let mqtt: TcpProxy;
  let viewer: Viewer | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'qly-push-'));

  beforeAll(async () => {
    camera = new CameraSimulator({ credentials: { username: 'admin', password: 'cam-secret-2' } });
    await camera.start();
    hub = await startTestHub({
      config: { video: { idleStopMs: 500, stallMs: 1500, watchdogMs: 4000, startTimeoutMs: 10_000 } },
    });
    const password = await hub.provisionGateway(GW, SITE);
    video = new TcpProxy('127.0.0.1', Number(new URL(hub.baseUrl).port));
    mqtt = new TcpProxy('127.0.0.1', Number(new URL(hub.brokerUrl).port));
    await video.start();
    await mqtt.start();
    writeFileSync(join(dir, 'cam.pw'), 'cam-secret-2');
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: `mqtt://127.0.0.1:${mqtt.port}`, keepaliveS: 5 },
        video: {
          hubUrl: `http://127.0.0.1:${video.port}`,
          pushPingMs: PING_MS,
          pushDeadAfterMs: DEAD_AFTER_MS,
          pushGiveUpMs: GIVE_UP_MS,
        },
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
      password,
    );
    edge.start();
    await waitFor(
      'the camera online with video',
      () => hub.app.registry.getDevice(CAM)?.capabilities.includes('cmd.stream.start'),
      20_000,
    );
  }, 60_000);

  afterEach(async () => {
    viewer?.close();
    viewer = undefined;
    video.restore();
    mqtt.restore();
    // Each test starts from a quiet gateway: no relay, no pusher, the uplink back.
    await waitFor('no relay', () => hub.app.video.list().length === 0, 10_000);
    await waitFor('no pusher', () => pushers().length === 0, 15_000);
    await waitFor('the gateway online again', () => hub.app.registry.getGateway(GW)?.online === true, 20_000);
  });

  afterAll(async () => {
    await edge?.stop();
    await hub?.close();
    await video?.stop();
    await mqtt?.stop();
    await camera?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const pushers = () => ffmpegs(descendants(edge.pid as number));

  async function watching(): Promise<Viewer> {
    const v = await openViewer(hub, CAM, 'sub', 'mse');
    viewer = v;
    await waitFor('live', () => v.keyframes >= 1 && v.fragments >= 5, 20_000);
    expect(pushers()).toHaveLength(1);
    return v;
  }

  /** The viewer leaves and the hub's relay stops (its session ended at the hub). */
  async function leave(v: Viewer): Promise<void> {
    v.close();
    viewer = undefined;
    await waitFor('the hub’s relay stopped', () => hub.app.video.list().length === 0, 10_000);
  }

  it('a black-holed uplink: the pusher finds its connection dead, stops ffmpeg, and gives up reconnecting', async () => {
    const v = await watching();
    const logFrom = edge.output.length;
    video.blackhole();
    mqtt.blackhole();
    await leave(v);
    // Neither the hub's 4404 nor `stream.stop` can cross the uplink: the gateway must see it alone.
    const left = Date.now();
    await waitFor('no pusher ffmpeg on the gateway', () => pushers().length === 0, DEAD_AFTER_MS + 5000);
    expect(Date.now() - left).toBeLessThan(DEAD_AFTER_MS + 4000);
    // Reconnects cannot succeed through the black hole (each handshake times out): it gives up.
    await waitFor(
      'the push abandoned',
      () => edge.output.slice(logFrom).includes('stream push abandoned'),
      GIVE_UP_MS + 15_000,
    );
    const dialled = video.accepted;
    await sleep(2 * PING_MS + 2000);
    expect(video.accepted).toBe(dialled);
    expect(pushers()).toEqual([]);
  }, 60_000);

  it('the hub ends the session (4404) while stream.stop cannot arrive: ffmpeg stops at once', async () => {
    const v = await watching();
    const logFrom = edge.output.length;
    mqtt.cut();
    await leave(v);
    await waitFor('no pusher ffmpeg on the gateway', () => pushers().length === 0, 3000);
    expect(edge.output.slice(logFrom)).toContain('the hub ended the stream session');
  }, 40_000);

  it('the hub refuses a reconnect for a session it ended (404): the pusher stops', async () => {
    const v = await watching();
    const logFrom = edge.output.length;
    video.cut();
    mqtt.cut();
    await leave(v);
    await waitFor('no pusher ffmpeg while cut', () => pushers().length === 0, 3000);
    video.restore(); // the pusher dials again; MQTT (and so stream.stop) stays down
    await waitFor(
      'the hub refused the session',
      () => edge.output.slice(logFrom).includes('the hub ended the stream session'),
      40_000,
    );
    expect(pushers()).toEqual([]);
  }, 60_000);
});
