/**
 * Device health → health alarms, through real parts: an ONVIF camera simulator (SOAP over HTTP,
 * RTSP), a real edge agent process polling it, the hub over its embedded broker.
 *
 * - The camera simulator killed → a health alarm within twice the camera's health interval, the
 *   device offline on the map at the same moment; restarted → the alarm clears itself with the
 *   outage's duration; killed and restarted again within the flap window → the same alarm, count 2.
 * - Only a camera's video stopped while its ONVIF service answers (the simulator's RTSP server
 *   answers PLAY and sends no RTP) → 视频丢失 within twice its health interval, from the gateway's
 *   picture probe; resumed → cleared with the duration. At each step the live channel (what the
 *   map and lists draw), REST's device list and the registry agree, and the wall's stream follows.
 * - The gateway (the agent process) stopped with SIGSTOP → the gateway's alarm (stale, then
 *   offline) within twice its heartbeat period and no alarm per device behind it; SIGCONT → cleared.
 * - The availability record has each outage.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlarmView, DeviceView, LiveDelta, LiveSnapshot } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { systemBinary } from './support/system.ts';
import { openViewer } from './support/video-viewer.ts';
import { freePort, waitFor } from './support/wait.ts';

const SITE = 'v-health';
const GW = 'gw-health';
const CAM = `${GW}.cam-1`;
const HEALTH_INTERVAL_MS = 1000;
const HEARTBEAT_MS = 1000;
/** The second camera: its picture probed every health interval, a 1 s window without RTP. */
const CAM2 = `${GW}.cam-2`;
const VIDEO_HEALTH_MS = 2000;
const PASSWORD = 'cam-health-pw';

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))(
  'device health makes alarms that clear themselves',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'qly-health-'));
    let hub: TestHub;
    let edge: EdgeProcess;
    let sim: CameraSimulator;
    let onvifPort: number;
    let videoSim: CameraSimulator;
    let live: Socket;
    /** What a dashboard's live channel says of each device (snapshot, then deltas). */
    const mirror = new Map<string, DeviceView>();
    const seen: AlarmView[] = [];

    const newSim = () =>
      new CameraSimulator({
        credentials: { username: 'admin', password: PASSWORD },
        fps: 5,
        ptz: false,
        onvifPort,
      });
    const healthAlarms = (device: string) => hub.app.alarms.list({ device, sources: ['health'], limit: 10 });

    /** The live channel (map, lists), REST's device list and the registry say the same status. */
    const agree = async (key: string, status: DeviceView['status'], reason?: string) => {
      const bearer = await hub.token();
      await waitFor(
        `${key} ${status} everywhere`,
        async () => {
          const res = await fetch(`${hub.baseUrl}/api/devices/${encodeURIComponent(key)}`, {
            headers: { authorization: `Bearer ${bearer}` },
          });
          const rest = (await res.json()) as DeviceView;
          const views = [hub.app.registry.getDevice(key), rest, mirror.get(key)];
          return views.every(
            (v) => v?.status === status && (reason === undefined || v.unreachable?.reason === reason),
          );
        },
        15_000,
      );
    };

    beforeAll(async () => {
      onvifPort = await freePort();
      sim = newSim();
      await sim.start();
      videoSim = new CameraSimulator({
        credentials: { username: 'admin', password: PASSWORD },
        fps: 5,
        ptz: false,
      });
      await videoSim.start();
      writeFileSync(join(dir, 'cam.pw'), PASSWORD);
      hub = await startTestHub({
        config: {
          alarms: { healthStartupGraceMs: 0, flapWindowMs: 60_000 },
          video: { idleStopMs: 1000, stallMs: 1500, watchdogMs: 4000, startTimeoutMs: 10_000 },
        },
      });
      hub.app.siteTree.upsert([
        { id: 'c-health', name: '县', level: 'county', parent: null },
        { id: 't-health', name: '镇', level: 'town', parent: 'c-health' },
        { id: SITE, name: '健康村', level: 'village', parent: 't-health' },
      ]);
      hub.app.bus.on('alarmChanged', 'test', ({ alarm }) => seen.push(alarm));
      edge = new EdgeProcess(
        {
          gateway: { id: GW, site: SITE },
          heartbeatMs: HEARTBEAT_MS,
          mqtt: { url: hub.brokerUrl },
          video: { hubUrl: hub.baseUrl },
          devices: [
            {
              type: 'onvif-camera',
              id: 'cam-1',
              name: '一号摄像头',
              position: { lat: 30.01, lon: 119.9 },
              xaddr: sim.xaddr,
              username: 'admin',
              passwordFile: join(dir, 'cam.pw'),
              healthIntervalMs: HEALTH_INTERVAL_MS,
              reconnectMinMs: 200,
              reconnectMaxMs: 1000,
            },
            {
              type: 'onvif-camera',
              id: 'cam-2',
              name: '二号摄像头',
              position: { lat: 30.011, lon: 119.901 },
              xaddr: videoSim.xaddr,
              username: 'admin',
              passwordFile: join(dir, 'cam.pw'),
              events: false,
              healthIntervalMs: VIDEO_HEALTH_MS,
              videoCheckIntervalMs: VIDEO_HEALTH_MS,
              videoCheckWindowMs: 1000,
            },
          ],
        },
        await hub.provisionGateway(GW, SITE),
      );
      edge.start();
      await waitFor(
        'cameras online',
        () =>
          hub.app.registry.getDevice(CAM)?.status === 'online' &&
          !!hub.app.registry.getDevice(CAM2)?.capabilities.includes('cmd.stream.start'),
        30_000,
      ).catch((e) => {
        console.log(edge.output.slice(-3000));
        throw e;
      });
      hub.app.alarmScheduler.tick();
      live = io(hub.baseUrl, { auth: { token: await hub.token() }, transports: ['websocket'] });
      live.on('snapshot', (s: LiveSnapshot) => {
        mirror.clear();
        for (const d of s.devices) mirror.set(d.key, d);
      });
      live.on('delta', (d: LiveDelta) => {
        for (const v of d.devices) mirror.set(v.key, v);
        for (const k of d.removed) mirror.delete(k);
      });
      await new Promise<void>((resolve) => live.once('connect', () => resolve()));
      live.emit('subscribe', {});
      await waitFor('live snapshot', () => mirror.has(CAM2), 10_000);
    }, 60_000);

    afterAll(async () => {
      live?.close();
      const pid = edge?.pid;
      if (pid) process.kill(pid, 'SIGCONT');
      await edge?.stop();
      await hub?.close();
      await sim?.stop();
      await videoSim?.stop();
    });

    it('a killed camera raises 设备离线 within twice its health interval; restarted, it clears with the duration', async () => {
      expect(healthAlarms(CAM)).toEqual([]);
      const killedAt = Date.now();
      await sim.stop();
      const raised = await waitFor('health alarm', () => healthAlarms(CAM)[0], 10_000);
      // The agent calls a camera down after two failed checks in a row (one lost answer is not an
      // outage): two intervals, plus the way to the hub (the bench's bound: 2 × interval + 1 s).
      expect(raised.ts - killedAt).toBeLessThan(2 * HEALTH_INTERVAL_MS + 1000);
      expect(raised).toMatchObject({
        type: 'health.device_offline',
        state: 'active',
        severity: 'alarm',
        site: SITE,
        owner: SITE,
      });
      expect(raised.reason).toMatch(/^ONVIF_/);
      // Map and list agree with the alarm: the device is offline with the same reason.
      expect(hub.app.registry.getDevice(CAM)).toMatchObject({ status: 'offline' });
      expect(hub.app.registry.getDevice(CAM)?.unreachable?.reason).toBe(raised.reason);
      await agree(CAM, 'offline', raised.reason);

      sim = newSim();
      const restartedAt = Date.now();
      await sim.start();
      const cleared = await waitFor(
        'cleared',
        () => {
          const a = hub.app.alarms.get(raised.id);
          return a?.state === 'cleared_unacknowledged' ? a : undefined;
        },
        20_000,
      );
      // The outage as the hub saw it: from the alarm to the camera's return.
      expect(cleared.clearedAt).toBeGreaterThanOrEqual(restartedAt);
      expect(cleared.durationMs).toBe((cleared.clearedAt as number) - raised.ts);
      expect(hub.app.registry.getDevice(CAM)?.status).toBe('online');
      await agree(CAM, 'online');
      const { timeline } = (
        await hub.app.inject({
          url: `/api/alarms/${raised.id}`,
          headers: { authorization: `Bearer ${await hub.token()}` },
        })
      ).json() as { timeline: Array<{ action: string; data?: { durationMs?: number } }> };
      expect(timeline.map((e) => e.action)).toEqual(['raised', 'cleared']);
      expect(timeline[1]?.data?.durationMs).toBe(cleared.durationMs);
    }, 60_000);

    it('a camera that flaps makes one alarm with a count', async () => {
      const first = healthAlarms(CAM)[0] as AlarmView;
      await sim.stop();
      await waitFor('reopened', () => hub.app.alarms.get(first.id)?.state === 'active', 10_000);
      sim = newSim();
      await sim.start();
      const again = await waitFor(
        'cleared again',
        () => {
          const a = hub.app.alarms.get(first.id);
          return a?.state === 'cleared_unacknowledged' ? a : undefined;
        },
        20_000,
      );
      expect(again.count).toBe(2);
      expect(healthAlarms(CAM)).toHaveLength(1);
    }, 60_000);

    it('only the video stopped while ONVIF answers: 视频丢失 within twice the health interval; map, list and wall agree; resumed, it clears with the duration', async () => {
      const viewer = await openViewer(hub, CAM2, 'sub');
      await viewer.opened;
      try {
        await waitFor('wall tile live', () => viewer.states.at(-1) === 'live', 30_000);
        await agree(CAM2, 'online');
        expect(healthAlarms(CAM2)).toEqual([]);

        const stoppedAt = Date.now();
        videoSim.stopVideo();
        const raised = await waitFor(
          'video lost alarm',
          () => healthAlarms(CAM2).find((a) => a.state === 'active'),
          15_000,
        );
        // One probe interval plus its window at most, then the way to the hub.
        expect(raised.ts - stoppedAt).toBeLessThan(2 * VIDEO_HEALTH_MS);
        expect(raised).toMatchObject({ type: 'health.video_lost', severity: 'alarm', site: SITE });
        expect(raised.reason).toMatch(
          /^VIDEO_LOST: no frames within 1 s of PLAY on the sub stream while ONVIF answers/,
        );
        await agree(CAM2, 'offline', raised.reason);
        // ONVIF still answers: the camera's health checks keep reporting (rtt_ms) during the outage.
        const valuesTs = hub.app.registry.getDevice(CAM2)?.valuesTs ?? 0;
        await waitFor(
          'ONVIF health samples during the outage',
          () => (hub.app.registry.getDevice(CAM2)?.valuesTs ?? 0) > valuesTs,
          10_000,
        );
        // The wall's tile is no longer live: stalled, then offline (the camera is unreachable).
        await waitFor(
          'wall tile not live',
          () => ['stalled', 'offline'].includes(viewer.states.at(-1) as string),
          15_000,
        );
        expect(hub.app.registry.getDevice(CAM)?.status).toBe('online');

        const resumedAt = Date.now();
        videoSim.resumeVideo();
        const cleared = await waitFor(
          'video lost cleared',
          () => {
            const a = hub.app.alarms.get(raised.id);
            return a?.state === 'cleared_unacknowledged' ? a : undefined;
          },
          15_000,
        );
        expect(cleared.clearedAt).toBeGreaterThanOrEqual(resumedAt);
        expect(cleared.clearedAt as number).toBeLessThan(resumedAt + 2 * VIDEO_HEALTH_MS + 1000);
        expect(cleared.durationMs).toBe((cleared.clearedAt as number) - raised.ts);
        await agree(CAM2, 'online');
        await waitFor('wall tile live again', () => viewer.states.at(-1) === 'live', 60_000);
        expect(healthAlarms(CAM2)).toHaveLength(1);
      } finally {
        viewer.close();
      }
    }, 120_000);

    it('SIGSTOP on the gateway raises its alarm and none per device; SIGCONT clears it', async () => {
      const pid = edge.pid as number;
      const before = seen.length;
      const stoppedAt = Date.now();
      process.kill(pid, 'SIGSTOP');
      // (A gateway alarm from before it first connected, cleared since, may be in the list.)
      const gw = await waitFor(
        'gateway alarm',
        () => healthAlarms(GW).find((a) => a.state === 'active'),
        15_000,
      );
      expect(gw).toMatchObject({
        type: 'health.gateway_offline',
        severity: 'critical',
        state: 'active',
        site: SITE,
      });
      expect(gw.reason).toMatch(/^GATEWAY_(STALE|OFFLINE)/);
      // Within twice the heartbeat period of the gateway falling silent (stale at a period and a half).
      expect(gw.ts - stoppedAt).toBeLessThan(2 * HEARTBEAT_MS);
      await waitFor(
        'gateway stale or offline',
        () =>
          hub.app.registry.getGateway(GW)?.stale === true ||
          hub.app.registry.getGateway(GW)?.online === false,
        5000,
      );
      await waitFor('offline', () => hub.app.registry.getGateway(GW)?.online === false, 15_000);
      // Stale then offline is one outage: still one alarm, and the camera got none of its own.
      expect(healthAlarms(GW).filter((a) => a.state === 'active')).toHaveLength(1);
      expect(hub.app.registry.getDevice(CAM)?.status).toBe('offline');
      expect(seen.slice(before).filter((a) => a.device === CAM && a.state === 'active')).toEqual([]);
      process.kill(pid, 'SIGCONT');
      const cleared = await waitFor(
        'gateway cleared',
        () => {
          const a = hub.app.alarms.get(gw.id);
          return a?.clearedAt !== null ? a : undefined;
        },
        15_000,
      );
      expect(cleared.durationMs).toBeGreaterThan(1000);
      await waitFor('camera back', () => hub.app.registry.getDevice(CAM)?.status === 'online', 15_000);
      // The availability record: the camera's outages and the gateway's.
      const record = hub.app.stateDb.handle
        .prepare<[], { subject: string; online: number }>(
          'SELECT subject, online FROM health_events ORDER BY id',
        )
        .all();
      const of = (s: string) => record.filter((r) => r.subject === s).map((r) => r.online);
      // (The gateway may have been recorded offline first: provisioned before it connected.)
      expect(of(GW).slice(-3)).toEqual([1, 0, 1]);
      expect(of(CAM)).toEqual([1, 0, 1, 0, 1, 0, 1]);
    }, 60_000);
  },
);
