/**
 * Device health → health alarms, through real parts: an ONVIF camera simulator (SOAP over HTTP,
 * RTSP), a real edge agent process polling it, the hub over its embedded broker.
 *
 * - The camera simulator killed → a health alarm within twice the camera's health interval, the
 *   device offline on the map at the same moment; restarted → the alarm clears itself with the
 *   outage's duration; killed and restarted again within the flap window → the same alarm, count 2.
 * - The gateway (the agent process) stopped with SIGSTOP → the gateway's alarm (stale, then
 *   offline) and no alarm per device behind it; SIGCONT → cleared.
 * - The availability record has each outage.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlarmView } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { systemBinary } from './support/system.ts';
import { freePort, waitFor } from './support/wait.ts';

const SITE = 'v-health';
const GW = 'gw-health';
const CAM = `${GW}.cam-1`;
const HEALTH_INTERVAL_MS = 1000;
const PASSWORD = 'cam-health-pw';

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))(
  'device health makes alarms that clear themselves',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'qly-health-'));
    let hub: TestHub;
    let edge: EdgeProcess;
    let sim: CameraSimulator;
    let onvifPort: number;
    const seen: AlarmView[] = [];

    const newSim = () =>
      new CameraSimulator({
        credentials: { username: 'admin', password: PASSWORD },
        fps: 5,
        ptz: false,
        onvifPort,
      });
    const healthAlarms = (device: string) => hub.app.alarms.list({ device, sources: ['health'], limit: 10 });

    beforeAll(async () => {
      onvifPort = await freePort();
      sim = newSim();
      await sim.start();
      writeFileSync(join(dir, 'cam.pw'), PASSWORD);
      hub = await startTestHub({ config: { alarms: { healthStartupGraceMs: 0, flapWindowMs: 60_000 } } });
      hub.app.siteTree.upsert([
        { id: 'c-health', name: '县', level: 'county', parent: null },
        { id: 't-health', name: '镇', level: 'town', parent: 'c-health' },
        { id: SITE, name: '健康村', level: 'village', parent: 't-health' },
      ]);
      hub.app.bus.on('alarmChanged', 'test', ({ alarm }) => seen.push(alarm));
      edge = new EdgeProcess(
        {
          gateway: { id: GW, site: SITE },
          heartbeatMs: 1000,
          mqtt: { url: hub.brokerUrl },
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
          ],
        },
        await hub.provisionGateway(GW, SITE),
      );
      edge.start();
      await waitFor(
        'camera online',
        () => hub.app.registry.getDevice(CAM)?.status === 'online',
        30_000,
      ).catch((e) => {
        console.log(edge.output.slice(-3000));
        throw e;
      });
      hub.app.alarmScheduler.tick();
    }, 60_000);

    afterAll(async () => {
      const pid = edge?.pid;
      if (pid) process.kill(pid, 'SIGCONT');
      await edge?.stop();
      await hub?.close();
      await sim?.stop();
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

    it('SIGSTOP on the gateway raises its alarm and none per device; SIGCONT clears it', async () => {
      const pid = edge.pid as number;
      const before = seen.length;
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
