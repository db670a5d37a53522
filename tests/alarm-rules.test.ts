/**
 * Rules on readings against the Modbus TCP simulator: two stations in two villages (东山, 西河),
 * each polled over Modbus TCP by a real edge agent process, readings through the embedded broker
 * into the hub, where the rules are evaluated.
 *
 * - above the threshold for its duration → one alarm, not one per sample; back below → cleared;
 * - a dip and re-crossing inside the hysteresis → no new alarm (and no clearing);
 * - the absence rule fires when the simulator stops answering and clears when it is back;
 * - a rule for one village never fires for the other;
 * - rules are admin-only, audited, refused with their field when bad; the preview replays stored
 *   history ("would have fired N times").
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlarmView, LinkagePlan, ReadingRule } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeakerSimulator } from '../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { ModbusSimulator, STATION_POINTS } from '../edge-agent/src/adapters/modbus-sensor/simulator.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { sleep, waitFor } from './support/wait.ts';

const POLL_MS = 250;

describe('rules on readings against the Modbus simulator', () => {
  let hub: TestHub;
  const edges: EdgeProcess[] = [];
  const east = new ModbusSimulator();
  const west = new ModbusSimulator();
  const EAST = 'gw-rule-e.wl';
  const WEST = 'gw-rule-w.wl';
  const tokens: Record<string, string> = {};

  const api = async (who: string, method: string, url: string, payload?: unknown) => {
    const res = await hub.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${tokens[who]}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
  };
  const ruleAlarms = (rule: number, device?: string): AlarmView[] =>
    hub.app.alarms.list({
      sources: ['rule'],
      type: `rule.${rule}`,
      ...(device ? { device } : {}),
      limit: 50,
    });
  const speaker = new SpeakerSimulator({
    recordDir: mkdtempSync(join(tmpdir(), 'qly-rule-spk-')),
    volume: 100,
  });
  const plans: LinkagePlan[] = [];
  const station = async (
    gateway: string,
    site: string,
    sim: ModbusSimulator,
    position: object,
    extra: object[] = [],
  ) => {
    const edge = new EdgeProcess(
      {
        gateway: { id: gateway, site },
        mqtt: { url: hub.brokerUrl },
        devices: [
          {
            type: 'modbus-sensor',
            id: 'wl',
            name: `${site} 水位站`,
            position,
            host: '127.0.0.1',
            port: sim.port,
            pollIntervalMs: POLL_MS,
            timeoutMs: 300,
            offlineAfterPolls: 2,
            reconnectMinMs: 100,
            reconnectMaxMs: 400,
            points: STATION_POINTS,
          },
          ...extra,
        ],
      },
      await hub.provisionGateway(gateway, site),
    );
    edges.push(edge);
    edge.start();
  };
  const level = async (sim: ModbusSimulator, key: string, value: number) => {
    sim.set('water_level', value);
    await waitFor(
      `${key} reads ${value}`,
      () => hub.app.registry.getDevice(key)?.values.water_level === value,
      10_000,
    );
  };

  beforeAll(async () => {
    await east.start();
    await west.start();
    east.set('water_level', 2.5);
    west.set('water_level', 2.5);
    hub = await startTestHub({ config: { alarms: { healthStartupGraceMs: 3_600_000, flapWindowMs: 0 } } });
    tokens.admin = await hub.token();
    const res = await api('admin', 'POST', '/api/users', {
      username: 'duty',
      password: 'a-long-password',
      role: 'duty_officer',
      sites: [],
    });
    expect(res.status).toBe(201);
    tokens.duty = await hub.token('duty', 'a-long-password');
    await speaker.start();
    hub.app.bus.on('linkageExecuted', 'test', ({ plan }) => plans.push(plan));
    await station('gw-rule-e', 'dongshan', east, { lat: 30.046, lon: 119.972 }, [
      {
        type: 'ip-speaker',
        id: 'spk',
        name: '东山大喇叭',
        position: { lat: 30.0462, lon: 119.9722 },
        rtp: speaker.rtpUrl,
        controlUrl: speaker.controlUrl,
      },
    ]);
    await station('gw-rule-w', 'xihe', west, { lat: 30.031, lon: 119.936 });
    await waitFor(
      'both stations read',
      () =>
        EAST &&
        hub.app.registry.getDevice(WEST)?.values.water_level === 2.5 &&
        hub.app.registry.getDevice(EAST)?.values.water_level === 2.5,
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    for (const e of edges) await e.stop();
    await hub?.close();
    await east.stop();
    await west.stop();
    await speaker.stop();
  });

  let threshold: ReadingRule;

  it('rules are for administrators, audited, and refused with the field when bad', async () => {
    const body = {
      name: '东山水位超警戒',
      scope: { site: 'dongshan', kind: 'sensor' },
      condition: {
        type: 'threshold',
        field: 'water_level',
        op: 'above',
        value: 3.2,
        hysteresis: 0.2,
        forMs: 1500,
      },
      severity: 'alarm',
    };
    expect((await api('duty', 'POST', '/api/alarm-rules', body)).status).toBe(403);
    expect((await api('duty', 'GET', '/api/alarm-rules')).status).toBe(403);
    const bad = [
      await api('admin', 'POST', '/api/alarm-rules', { ...body, severity: 'loud' }),
      await api('admin', 'POST', '/api/alarm-rules', { ...body, scope: { site: 'atlantis' } }),
      await api('admin', 'POST', '/api/alarm-rules', { ...body, condition: { type: 'absence', forMs: 5 } }),
      await api('admin', 'POST', '/api/alarm-rules', { ...body, name: '  ' }),
    ];
    expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 400]);
    expect((bad[1] as { body: { field?: string } }).body.field).toBe('scope.site');
    const created = await api('admin', 'POST', '/api/alarm-rules', body);
    expect(created.status).toBe(201);
    threshold = created.body as unknown as ReadingRule;
    expect(threshold).toMatchObject({ enabled: true, createdBy: 'admin' });
    const audit = await api('admin', 'GET', '/api/audit?limit=5');
    expect(JSON.stringify(audit.body)).toContain('alarm_rule.create');
  });

  it('above the threshold for its duration: one alarm, not one per sample; a dip inside the hysteresis makes none; another village never', async () => {
    await level(east, EAST, 3.4);
    await level(west, WEST, 3.6);
    const alarm = await waitFor('rule alarm', () => ruleAlarms(threshold.id)[0], 10_000);
    // Held for the duration first: not fired by the first sample over the line.
    expect(alarm).toMatchObject({
      device: EAST,
      site: 'dongshan',
      source: 'rule',
      state: 'active',
      count: 1,
      rule: threshold.id,
    });
    await sleep(10 * POLL_MS); // many more samples above the line
    await level(east, EAST, 3.1); // a dip below the threshold, inside the hysteresis (3.0)
    await sleep(4 * POLL_MS);
    await level(east, EAST, 3.5); // and over again
    await sleep(10 * POLL_MS);
    expect(ruleAlarms(threshold.id)).toHaveLength(1);
    expect(hub.app.alarms.get(alarm.id)).toMatchObject({ state: 'active', count: 1, clearedAt: null });
    expect(ruleAlarms(threshold.id, WEST)).toEqual([]);
    await level(east, EAST, 2.9); // past the hysteresis: cleared
    const cleared = await waitFor('cleared', () => {
      const a = hub.app.alarms.get(alarm.id);
      return a?.clearedAt !== null ? a : undefined;
    });
    expect(cleared.state).toBe('cleared_unacknowledged');
    expect(cleared.durationMs).toBeGreaterThan(1000);
    expect(ruleAlarms(threshold.id, WEST)).toEqual([]);
    await level(west, WEST, 2.5);
  }, 60_000);

  it('the absence rule fires when the simulator stops, and clears when it answers again', async () => {
    const res = await api('admin', 'POST', '/api/alarm-rules', {
      name: '西河无数据',
      scope: { site: 'xihe' },
      condition: { type: 'absence', field: 'water_level', forMs: 10_000 },
      severity: 'warning',
    });
    expect(res.status).toBe(201);
    const absence = res.body as unknown as ReadingRule;
    hub.app.alarmScheduler.tick();
    await west.setMode('stopped');
    const stoppedAt = Date.now();
    const fired = await waitFor('absence alarm', () => ruleAlarms(absence.id, WEST)[0], 20_000);
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(9_000);
    expect(fired).toMatchObject({ state: 'active', severity: 'warning' });
    // The east station still reports: no absence there, and the rule is not its village's anyway.
    expect(ruleAlarms(absence.id, EAST)).toEqual([]);
    await west.setMode('normal');
    await waitFor('absence cleared', () => hub.app.alarms.get(fired.id)?.clearedAt !== null, 20_000);
  }, 60_000);

  it('a rule’s action speaks its text on the nearest loudspeaker of the device’s village', async () => {
    await waitFor(
      'speaker online',
      () => hub.app.registry.getDevice('gw-rule-e.spk')?.status === 'online',
      20_000,
    );
    const res = await api('admin', 'POST', '/api/alarm-rules', {
      name: '东山水位过高',
      scope: { device: EAST },
      condition: { type: 'threshold', field: 'water_level', op: 'above', value: 4 },
      severity: 'critical',
      action: { speak: { text: '河道水位过高，请远离河边', count: 1, maxDistanceM: 1000 } },
    });
    expect(res.status).toBe(201);
    const since = Date.now();
    await level(east, EAST, 4.3);
    const plan = await waitFor(
      'linkage plan',
      () => plans.find((p) => p.rule === `rule-${(res.body as { id: number }).id}`),
      10_000,
    );
    expect(plan.speakers.map((s) => s.key)).toEqual(['gw-rule-e.spk']);
    expect(plan.broadcast).toMatchObject({ mode: 'started', text: '河道水位过高，请远离河边' });
    // Heard at the loudspeaker simulator (RTP through the gateway's encoder).
    await waitFor('warning heard', () => speaker.recordings.find((r) => r.firstPacketAt >= since), 30_000);
    await level(east, EAST, 2.5);
  }, 60_000);

  it('the preview replays the stored readings: how often the rule would have fired', async () => {
    await hub.app.timeseries.sync();
    const res = await api('admin', 'POST', '/api/alarm-rules/preview', {
      rule: {
        name: '试算',
        scope: { kind: 'sensor' },
        condition: { type: 'threshold', field: 'water_level', op: 'above', value: 3.3, hysteresis: 0.1 },
        severity: 'alarm',
      },
      hours: 1,
    });
    expect(res.status).toBe(200);
    const preview = res.body as { devices: number; fires: number; alarms: Array<{ device: string }> };
    expect(preview.devices).toBe(2);
    // East went over 3.3 three times (3.4; 3.5 after a dip to 3.1, past this rule's 0.1 hysteresis;
    // 4.3 for the spoken warning); west once (3.6).
    expect(preview.alarms.filter((a) => a.device === EAST)).toHaveLength(3);
    expect(preview.alarms.filter((a) => a.device === WEST)).toHaveLength(1);
    expect(preview.fires).toBe(4);
  });
});
