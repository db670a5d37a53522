/**
 * The availability report (在线率) from the health events the hub records, with outages the test
 * causes at chosen times of the alarm clock: a gateway speaking the MQTT contract reports its camera
 * unreachable at 06:00 and back at 12:00 of a day (China time), and the report says 75 % for that
 * day's cameras of the village and 100 % for the next; the gateway was online throughout. JSON and
 * CSV; another village's operator sees none of it.
 */
import { topics } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { cameraMeta, startVillageGateway, type VillageGateway } from './support/village-gateway.ts';
import { waitFor } from './support/wait.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CHINA = 8 * HOUR;

describe('availability report (在线率)', () => {
  let hub: TestHub;
  let gw: VillageGateway;
  let seq = 9000;
  const tokens: Record<string, string> = {};
  // Tomorrow's midnight in China: ahead of the hub's start, so the clock only moves forward.
  const day0 = Math.floor((Date.now() + CHINA) / DAY) * DAY - CHINA + DAY;
  const dayName = (ts: number) => new Date(ts + CHINA).toISOString().slice(0, 10);

  const get = async (who: string, url: string) =>
    hub.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokens[who]}` } });
  const availability = async (online: boolean, at: number) => {
    hub.app.alarmClock.set(at);
    await gw.client.publishAsync(
      topics.availability(gw.site, gw.id, 'cam'),
      JSON.stringify({
        seq: ++seq,
        epoch: `test-${gw.id}`,
        ts: Date.now(),
        online,
        ...(online ? {} : { reason: 'ONVIF_TIMEOUT: no answer within 5 s' }),
      }),
      { qos: 1, retain: true },
    );
    await waitFor(
      'availability applied',
      () => !hub.app.registry.getDevice(`${gw.id}.cam`)?.unreachable === online,
    );
  };

  beforeAll(async () => {
    hub = await startTestHub({ config: { alarms: { healthStartupGraceMs: 0 } } });
    tokens.admin = await hub.token();
    const res = await hub.app.inject({
      method: 'POST',
      url: '/api/users',
      headers: { authorization: `Bearer ${tokens.admin}` },
      payload: {
        username: 'xihe-op',
        password: 'a-long-password',
        role: 'village_operator',
        sites: ['xihe'],
      },
    });
    expect(res.statusCode).toBe(201);
    tokens['xihe-op'] = await hub.token('xihe-op', 'a-long-password');
    gw = await startVillageGateway(hub, 'gw-avail', 'dongshan', {
      cam: { ...cameraMeta('东门摄像头'), position: { lat: 30.046, lon: 119.972 } },
    });
    await waitFor('health armed', () => {
      hub.app.alarmScheduler.tick();
      return hub.app.health.isArmed;
    });
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await hub?.close();
  });

  it('a six-hour outage makes 75 % for that day, the gateway 100 %; JSON and CSV', async () => {
    await availability(true, day0);
    await availability(false, day0 + 6 * HOUR);
    await availability(true, day0 + 12 * HOUR);
    hub.app.alarmClock.set(day0 + 2 * DAY - 60_000);
    const res = await get('admin', '/api/reports/availability?days=2&site=dongshan');
    expect(res.statusCode).toBe(200);
    const { rows } = res.json() as {
      rows: Array<{ day: string; kind: string; devices: number; onlineRate: number; offlineMs: number }>;
    };
    // (The clock runs on between the steps: the outage is 6 h to within a few ms.)
    expect(rows.map((r) => [r.day, r.kind, r.devices, r.onlineRate])).toEqual([
      [dayName(day0), 'camera', 1, 0.75],
      [dayName(day0), 'gateway', 1, 1],
      [dayName(day0 + DAY), 'camera', 1, 1],
      [dayName(day0 + DAY), 'gateway', 1, 1],
    ]);
    expect(Math.abs((rows[0]?.offlineMs ?? 0) - 6 * HOUR)).toBeLessThan(100);
    expect(rows.slice(1).every((r) => r.offlineMs === 0)).toBe(true);
    // The outage was also one health alarm, cleared with its duration in the alarm clock's time.
    const alarm = hub.app.alarms.list({ device: 'gw-avail.cam', sources: ['health'], limit: 5 })[0];
    expect(alarm?.type).toBe('health.device_offline');
    expect(Math.abs((alarm?.durationMs ?? 0) - 6 * HOUR)).toBeLessThan(100);

    const csv = await get('admin', '/api/reports/availability?days=2&site=dongshan&format=csv');
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split('\n').slice(0, 2)).toEqual([
      'day,site,site_name,kind,devices,online_rate,offline_minutes',
      `${dayName(day0)},dongshan,东山村,camera,1,0.7500,360`,
    ]);
  });

  it('another village’s operator sees none of it; bad queries are refused', async () => {
    const res = await get('xihe-op', '/api/reports/availability?days=2');
    expect(res.statusCode).toBe(200);
    expect((res.json() as { rows: unknown[] }).rows).toEqual([]);
    expect((await get('xihe-op', '/api/reports/availability?days=2&site=dongshan')).json()).toMatchObject({
      rows: [],
    });
    expect((await get('admin', '/api/reports/availability?days=400')).statusCode).toBe(400);
    expect((await get('admin', '/api/reports/availability?format=xls')).statusCode).toBe(400);
  });
});
