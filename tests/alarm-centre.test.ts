/**
 * The alarm centre over REST, with alarms raised by gateways speaking the real MQTT contract to the
 * hub's embedded broker, and the alarm clock moved by the test:
 *
 * - states, search and filters over the history; another village's alarms do not exist for its
 *   operator (404), a viewer may not acknowledge (403);
 * - bulk acknowledge with a note (what is not visible or already acknowledged is skipped with a
 *   code), acknowledge-and-open-incident in one action;
 * - unacknowledged 5 min → re-notified; 10 min → escalated to the town, in the timeline and in the
 *   town officer's own list (`owned=true`) and live channel;
 * - bad bodies refused with their field and counted.
 */
import type { AlarmView } from '@qianliyan/protocols';
import { topics } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { cameraMeta, startVillageGateway, type VillageGateway } from './support/village-gateway.ts';
import { waitFor } from './support/wait.ts';

describe('the alarm centre', () => {
  let hub: TestHub;
  let east: VillageGateway;
  let far: VillageGateway;
  const tokens: Record<string, string> = {};
  let seq = 1000;
  let townSocket: Socket;
  const townLive: AlarmView[] = [];

  const api = async (who: string, method: string, url: string, payload?: unknown) => {
    const res = await hub.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${tokens[who]}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
  };
  const event = async (gw: VillageGateway, device: string, type: string, severity: string) => {
    await gw.client.publishAsync(
      topics.event(gw.site, gw.id, device),
      JSON.stringify({ seq: ++seq, epoch: `test-${gw.id}`, ts: Date.now(), type, severity }),
      { qos: 1 },
    );
    return waitFor(`${type} alarm`, () =>
      hub.app.alarms.list({ device: `${gw.id}.${device}`, type, limit: 1 }).find((a) => a.lastTs >= 0),
    );
  };

  beforeAll(async () => {
    hub = await startTestHub({ config: { alarms: { healthStartupGraceMs: 3_600_000 } } });
    tokens.admin = await hub.token();
    await hub.app.inject({
      method: 'POST',
      url: '/api/sites',
      headers: { authorization: `Bearer ${tokens.admin}` },
      payload: { id: 'far-village', name: '远山村', level: 'village', parent: 'qianli-town' },
    });
    for (const [username, role, sites] of [
      ['east-op', 'village_operator', ['dongshan']],
      ['far-op', 'village_operator', ['far-village']],
      ['town-officer', 'duty_officer', ['qianli-town']],
      ['watcher', 'viewer', ['dongshan']],
    ] as const) {
      const res = await api('admin', 'POST', '/api/users', {
        username,
        password: 'a-long-password',
        role,
        sites,
      });
      expect(res.status).toBe(201);
      tokens[username] = await hub.token(username, 'a-long-password');
    }
    east = await startVillageGateway(hub, 'gw-east', 'dongshan', {
      cam: { ...cameraMeta('东门摄像头'), position: { lat: 30.046, lon: 119.972 } },
    });
    far = await startVillageGateway(hub, 'gw-far', 'far-village', { cam: cameraMeta('远山摄像头') });
    townSocket = io(hub.baseUrl, { auth: { token: tokens['town-officer'] }, transports: ['websocket'] });
    townSocket.on('alarm', (a: AlarmView) => townLive.push(a));
    await new Promise<void>((resolve) => townSocket.once('connect', () => resolve()));
    townSocket.emit('subscribe', {});
  }, 60_000);

  afterAll(async () => {
    townSocket?.close();
    await east?.close();
    await far?.close();
    await hub?.close();
  });

  it('repeats count into one alarm; search and filters; another village’s alarms do not exist for its operator', async () => {
    await event(east, 'cam', 'motion', 'warning');
    await event(east, 'cam', 'motion', 'warning');
    const motion = await waitFor('counted', () =>
      hub.app.alarms.list({ type: 'motion', device: 'gw-east.cam', limit: 1 }).find((a) => a.count === 2),
    );
    const intrusion = await event(east, 'cam', 'intrusion', 'critical');
    const farAlarm = await event(far, 'cam', 'intrusion', 'critical');
    expect(motion).toMatchObject({ state: 'active', source: 'event', owner: 'dongshan' });

    const list = async (who: string, query: string) =>
      ((await api(who, 'GET', `/api/alarms?${query}`)).body.alarms as AlarmView[]).map((a) => a.id);
    expect(await list('admin', 'severity=critical')).toEqual([farAlarm.id, intrusion.id]);
    expect(await list('admin', 'severity=critical&site=dongshan')).toEqual([intrusion.id]);
    expect(await list('admin', 'q=motion&state=active,acknowledged')).toEqual([motion.id]);
    expect(await list('admin', `source=event&before=${farAlarm.id}&limit=1`)).toEqual([intrusion.id]);
    expect(await list('east-op', 'limit=100')).toEqual([intrusion.id, motion.id]);
    expect(await list('far-op', 'limit=100')).toEqual([farAlarm.id]);
    expect((await api('far-op', 'GET', `/api/alarms/${intrusion.id}`)).status).toBe(404);
    expect((await api('far-op', 'POST', `/api/alarms/${intrusion.id}/ack`, {})).status).toBe(404);
    expect((await api('watcher', 'POST', `/api/alarms/${intrusion.id}/ack`, {})).status).toBe(403);
    const one = await api('east-op', 'GET', `/api/alarms/${motion.id}`);
    expect((one.body.timeline as Array<{ action: string }>).map((e) => e.action)).toEqual(['raised']);
  });

  it('unacknowledged: re-notified after 5 min, escalated to the town after 10 min and in the town officer’s own list', async () => {
    const intrusion = hub.app.alarms.list({
      type: 'intrusion',
      device: 'gw-east.cam',
      limit: 1,
    })[0] as AlarmView;
    const owned = async () =>
      ((await api('town-officer', 'GET', '/api/alarms?owned=true')).body.alarms as AlarmView[]).map(
        (a) => a.id,
      );
    expect(await owned()).toEqual([]);
    hub.app.alarmClock.advance(5 * 60_000 + 1000);
    hub.app.alarmScheduler.tick();
    expect(hub.app.alarms.get(intrusion.id)).toMatchObject({
      renotified: 1,
      owner: 'dongshan',
      escalations: 0,
    });
    expect(await owned()).toEqual([]);
    hub.app.alarmClock.advance(5 * 60_000);
    hub.app.alarmScheduler.tick();
    expect(hub.app.alarms.get(intrusion.id)).toMatchObject({ owner: 'qianli-town', escalations: 1 });
    expect(await owned()).toContain(intrusion.id);
    // The far village's alarm went up too, to the same town.
    const { body } = await api('town-officer', 'GET', `/api/alarms/${intrusion.id}`);
    const steps = (body.timeline as Array<{ action: string; data?: Record<string, unknown> }>).map(
      (e) => e.action,
    );
    // Re-notified every 5 min: at 5 and at 10, when it also went up a level.
    expect(steps).toEqual(['raised', 'renotified', 'renotified', 'escalated']);
    expect((body.timeline as Array<{ data?: Record<string, unknown> }>)[3]?.data).toEqual({
      from: 'dongshan',
      to: 'qianli-town',
    });
    await waitFor('escalation on the town officer’s live channel', () =>
      townLive.find((a) => a.id === intrusion.id && a.owner === 'qianli-town'),
    );
    // The motion warning is below the escalation severity: it stays in the village.
    const motion = hub.app.alarms.list({ type: 'motion', limit: 1 })[0] as AlarmView;
    expect(hub.app.alarms.get(motion.id)).toMatchObject({ owner: 'dongshan', renotified: 0 });
  });

  it('bulk acknowledge with a note; visible and unacknowledged only', async () => {
    const mine = hub.app.alarms.list({ site: ['dongshan'], limit: 10 }).map((a) => a.id);
    const theirs = hub.app.alarms.list({ site: ['far-village'], limit: 1 })[0] as AlarmView;
    const res = await api('east-op', 'POST', '/api/alarms/ack', {
      ids: [...mine, theirs.id],
      note: '已电话联系村委会',
    });
    expect(res.status).toBe(200);
    const acked = res.body.acknowledged as AlarmView[];
    expect(acked.map((a) => a.id).sort()).toEqual([...mine].sort());
    expect(acked.every((a) => a.ackedBy === 'east-op' && a.ackNote === '已电话联系村委会')).toBe(true);
    // An event has no "back to normal": acknowledged, it is cleared.
    expect(acked.every((a) => a.state === 'cleared')).toBe(true);
    expect(res.body.skipped).toEqual([
      { id: theirs.id, code: 'HUB_ERR_NOT_FOUND', message: 'no such alarm' },
    ]);
    const again = await api('east-op', 'POST', '/api/alarms/ack', { ids: [mine[0]] });
    expect((again.body.skipped as Array<{ code: string }>)[0]?.code).toBe('HUB_ERR_CONFLICT');
    expect(hub.app.alarms.get(theirs.id)?.ackedAt).toBeNull();
  });

  it('an acknowledgement without a body (as the dashboard’s alarm list sends it) is taken', async () => {
    const alarm = await event(east, 'cam', 'tamper', 'critical');
    const res = await hub.app.inject({
      method: 'POST',
      url: `/api/alarms/${alarm.id}/ack`,
      headers: { authorization: `Bearer ${tokens['east-op']}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: alarm.id, ackedBy: 'east-op', ackNote: null });
  });

  it('acknowledge and open an incident in one action', async () => {
    const alarm = await event(east, 'cam', 'line_crossing', 'alarm');
    const res = await api('east-op', 'POST', `/api/alarms/${alarm.id}/incident`, {
      category: 'intrusion',
      note: '有人翻越围栏',
    });
    expect(res.status).toBe(201);
    const incident = res.body.incident as { id: number; alarm: number | null; site: string };
    expect(incident).toMatchObject({ alarm: alarm.id, site: 'dongshan' });
    expect(res.body.alarm).toMatchObject({
      id: alarm.id,
      incident: incident.id,
      ackedBy: 'east-op',
      state: 'cleared',
    });
    const { body } = await api('east-op', 'GET', `/api/alarms/${alarm.id}`);
    expect((body.timeline as Array<{ action: string }>).map((e) => e.action)).toEqual([
      'raised',
      'acknowledged',
      'incident',
    ]);
  });

  it('bad bodies and queries are refused with their field and counted', async () => {
    const before = (await hub.metric('qly_http_rejected_total', { code: 'HUB_ERR_VALIDATION' })) || 0;
    const bad = [
      await api('east-op', 'POST', '/api/alarms/ack', { ids: [] }),
      await api('east-op', 'POST', '/api/alarms/ack', { ids: [1], extra: true }),
      await api('east-op', 'POST', '/api/alarms/ack', { ids: [1], note: 'x'.repeat(501) }),
      await api('east-op', 'POST', '/api/alarms/ack', { ids: [1], note: '   ' }),
      await api('east-op', 'GET', '/api/alarms?state=bogus'),
      await api('east-op', 'GET', '/api/alarms?from=10&to=5'),
    ];
    expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400]);
    expect(bad.map((r) => (r.body as { code?: string }).code)).toEqual(Array(6).fill('HUB_ERR_VALIDATION'));
    expect(await hub.metric('qly_http_rejected_total', { code: 'HUB_ERR_VALIDATION' })).toBe(before + 6);
  });
});
