/**
 * The command path end to end: REST → hub → MQTT `…/cmd` → a real edge-agent process running
 * simulated devices → `…/cmd/result` → the request that sent it, the live channel and the audit log.
 * ok, error, timeout, offline gateway, unreachable device, wrong role, other village, confirmation,
 * bad params, unsupported action, results of another hub, at-most-once on redelivery.
 */
import type { CommandView } from '@qianliyan/protocols';
import { topics } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'village-cmd';
const GW = 'gw-cmd';
const pos = (i: number) => ({ lat: 30 + i / 1000, lon: 120 });

describe('commands to the simulated village', () => {
  let hub: TestHub;
  let agent: EdgeProcess;
  const tokens: Record<string, string> = {};
  const sockets: Socket[] = [];

  const command = (user: string, key: string, body: Record<string, unknown>) =>
    hub.app.inject({
      method: 'POST',
      url: key.includes('.') ? `/api/devices/${key}/commands` : `/api/gateways/${key}/commands`,
      headers: { authorization: `Bearer ${tokens[user]}` },
      payload: body,
    });

  beforeAll(async () => {
    hub = await startTestHub();
    const password = await hub.provisionGateway(GW, SITE);
    await hub.provisionGateway('gw-elsewhere', 'village-other');
    agent = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: hub.brokerUrl },
        heartbeatMs: 2000,
        devices: [
          { type: 'sim-camera', id: 'ptz', name: 'PTZ', position: pos(1), ptz: true, motionProbability: 0 },
          {
            type: 'sim-camera',
            id: 'slow',
            name: 'Slow PTZ',
            position: pos(2),
            ptz: true,
            responseMs: 60_000,
            motionProbability: 0,
          },
          { type: 'sim-camera', id: 'dead', name: 'Dead', position: pos(3), ptz: true, reachable: false },
          { type: 'sim-speaker', id: 'spk', name: 'Speaker', position: pos(4) },
          { type: 'sim-drone', id: 'uav', name: 'Drone', position: pos(5), intervalMs: 200 },
        ],
      },
      password,
    );
    agent.start();
    const admin = await hub.token();
    tokens.admin = admin;
    for (const [username, role, sites] of [
      ['duty', 'duty_officer', []],
      ['op', 'village_operator', [SITE]],
      ['op-other', 'village_operator', ['village-other']],
      ['watcher', 'viewer', []],
      ['pilot', 'drone_pilot', []],
    ] as const) {
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: { username, password: 'a-long-password', role, sites },
      });
      expect(res.statusCode).toBe(201);
      tokens[username] = await hub.token(username, 'a-long-password');
    }
    await waitFor(
      'devices registered and online',
      () =>
        hub.app.registry.getDevice(`${GW}.uav`)?.status === 'online' &&
        hub.app.registry.getDevice(`${GW}.dead`)?.unreachable !== undefined,
      30_000,
    );
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await agent?.stop('SIGKILL');
    await hub?.close();
  });

  it('advertises the actions each device takes, from its action table', () => {
    expect(hub.app.registry.getDevice(`${GW}.ptz`)?.capabilities).toEqual(
      expect.arrayContaining(['cmd.ptz.move', 'cmd.ptz.stop', 'cmd.ptz.preset.goto']),
    );
    expect(hub.app.registry.getDevice(`${GW}.spk`)?.capabilities).toContain('cmd.speaker.volume');
    expect(hub.app.registry.getDevice(`${GW}.spk`)?.capabilities).not.toContain('cmd.ptz.move');
  });

  it('ok: the PTZ moves, the result comes back to the request, and the telemetry shows it', async () => {
    const res = await command('duty', `${GW}.ptz`, {
      action: 'ptz.move',
      params: { pan: 1, durationMs: 1000 },
    });
    expect(res.statusCode).toBe(200);
    const view = res.json() as CommandView;
    expect(view).toMatchObject({ status: 'ok', action: 'ptz.move', target: `${GW}.ptz`, username: 'duty' });
    expect(view.params).toEqual({ pan: 1, tilt: 0, zoom: 0, durationMs: 1000 });
    expect(view.data).toMatchObject({ pan: 30 });
    expect(view.durationMs).toBeGreaterThanOrEqual(0);
    await waitFor(
      'telemetry shows the new pan',
      () => hub.app.registry.getDevice(`${GW}.ptz`)?.values.pan === 30,
    );
  });

  it('error: a preset the camera does not have comes back as an error result', async () => {
    const res = await command('op', `${GW}.ptz`, { action: 'ptz.preset.goto', params: { preset: 'nope' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'error', error: { code: 'EDGE_ERR_NO_SUCH_PRESET' } });
  });

  it('timeout: a device that does not answer by the deadline', async () => {
    const started = Date.now();
    const res = await command('duty', `${GW}.slow`, { action: 'ptz.stop', timeoutMs: 800 });
    expect(res.statusCode).toBe(200);
    // The edge gives up at the deadline and reports it; the hub would time out a second later.
    expect((res.json() as CommandView).status).toMatch(/^(error|timeout)$/);
    expect(JSON.stringify(res.json())).toMatch(/EDGE_ERR_TIMEOUT|HUB_ERR_TIMEOUT/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses at once: unreachable device, wrong role, other village, unconfirmed harm, bad params, unsupported', async () => {
    const cases: Array<
      [user: string, key: string, body: Record<string, unknown>, status: number, code: string]
    > = [
      ['duty', `${GW}.dead`, { action: 'ptz.stop' }, 409, 'HUB_ERR_DEVICE_UNAVAILABLE'],
      ['watcher', `${GW}.ptz`, { action: 'ptz.stop' }, 403, 'HUB_ERR_FORBIDDEN'],
      ['op', `${GW}.uav`, { action: 'drone.rtl' }, 403, 'HUB_ERR_FORBIDDEN'],
      ['op-other', `${GW}.ptz`, { action: 'ptz.stop' }, 403, 'HUB_ERR_FORBIDDEN'],
      ['duty', `${GW}.uav`, { action: 'drone.land' }, 428, 'HUB_ERR_CONFIRMATION_REQUIRED'],
      ['duty', `${GW}.ptz`, { action: 'ptz.move', params: { pan: 5 } }, 400, 'HUB_ERR_VALIDATION'],
      ['duty', `${GW}.spk`, { action: 'ptz.move' }, 400, 'HUB_ERR_UNSUPPORTED_ACTION'],
      ['duty', `${GW}.ptz`, { action: 'self.destruct' }, 400, 'HUB_ERR_UNSUPPORTED_ACTION'],
      ['duty', `${GW}.nothere`, { action: 'ptz.stop' }, 404, 'HUB_ERR_NOT_FOUND'],
      ['op', GW, { action: 'ping' }, 403, 'HUB_ERR_FORBIDDEN'],
    ];
    for (const [user, key, body, status, code] of cases) {
      const started = Date.now();
      const res = await command(user, key, body);
      expect(res.statusCode, `${user} ${key} ${JSON.stringify(body)}`).toBe(status);
      expect(res.json().code).toBe(code);
      expect(Date.now() - started).toBeLessThan(500);
    }
    const denied = hub.app.audit
      .list({ limit: 100, action: 'command' })
      .filter((e) => e.outcome === 'denied');
    expect(denied.length).toBeGreaterThanOrEqual(cases.length);
  });

  it('a harmful action with confirmation, by a pilot: the drone lands', async () => {
    const res = await command('pilot', `${GW}.uav`, { action: 'drone.land', confirm: true });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', data: { mode: 'LAND' } });
    await waitFor('the drone reports landing', () =>
      ['land', 'landed'].includes(String(hub.app.registry.getDevice(`${GW}.uav`)?.values.mode)),
    );
  });

  it('a gateway action: ping answers with the edge version', async () => {
    const res = await command('duty', GW, { action: 'ping' });
    expect(res.json()).toMatchObject({ status: 'ok', target: null, data: { version: expect.any(String) } });
  });

  it('wait:false answers 202 and the result arrives on the live channel', async () => {
    const socket = io(hub.baseUrl, {
      path: '/socket.io',
      auth: { token: tokens.duty },
      transports: ['websocket'],
    });
    sockets.push(socket);
    const seen: CommandView[] = [];
    socket.on('command', (c: CommandView) => seen.push(c));
    await waitFor('socket connected', () => socket.connected);
    const res = await command('duty', `${GW}.spk`, {
      action: 'speaker.volume',
      params: { volume: 35 },
      wait: false,
    });
    expect(res.statusCode).toBe(202);
    const { id } = res.json() as CommandView;
    expect(res.json()).toMatchObject({ status: 'sent' });
    const done = await waitFor('command event', () => seen.find((c) => c.id === id));
    expect(done).toMatchObject({ status: 'ok', data: { volume: 35 } });
    const got = await hub.app.inject({
      url: `/api/commands/${id}`,
      headers: { authorization: `Bearer ${tokens.duty}` },
    });
    expect(got.json()).toMatchObject({ id, status: 'ok' });
    const hidden = await hub.app.inject({
      url: `/api/commands/${id}`,
      headers: { authorization: `Bearer ${tokens['op-other']}` },
    });
    expect(hidden.statusCode).toBe(404);
  });

  it('ignores results it did not ask for (another hub’s), and the edge runs a redelivered id once', async () => {
    const before = await hub.metric('qly_command_results_total', { kind: 'unknown' });
    const matchedBefore = await hub.metric('qly_command_results_total', { kind: 'matched' });
    // Another hub on the same broker sends a command: our hub sees its result and must not take it.
    const foreign = {
      id: 'other-hub-1',
      device: 'spk',
      action: 'speaker.volume',
      params: { volume: 50 },
      deadline: Date.now() + 5000,
    };
    for (let i = 0; i < 3; i++)
      await hub.app.mqtt.publishAsync(topics.cmd(SITE, GW), JSON.stringify(foreign), { qos: 1 });
    await waitFor(
      'the foreign result counted',
      async () => (await hub.metric('qly_command_results_total', { kind: 'unknown' })) === before + 1,
    );
    await new Promise((r) => setTimeout(r, 500));
    // Three deliveries of the same id, one execution, one result.
    expect(await hub.metric('qly_command_results_total', { kind: 'unknown' })).toBe(before + 1);
    expect(await hub.metric('qly_command_results_total', { kind: 'matched' })).toBe(matchedBefore);
    expect(agent.output).toContain('redelivery ignored');
  });

  it('audits every finished command with who, what, target, params, result and timings', () => {
    const entries = hub.app.audit.list({ limit: 200, action: 'command' });
    const move = entries.find((e) => e.action === 'command.ptz.move' && e.outcome === 'ok');
    expect(move).toMatchObject({ actor: 'duty', target: `${GW}.ptz` });
    expect(move?.detail).toMatchObject({
      params: { pan: 1 },
      data: { pan: 30 },
      durationMs: expect.any(Number),
    });
    expect(entries.some((e) => e.outcome === 'error')).toBe(true);
    expect(hub.app.audit.verify()).toEqual({ ok: true, entries: expect.any(Number) });
  });

  it('offline gateway: a clear error at once, not a timeout', async () => {
    expect(await agent.stop('SIGKILL')).toBeNull();
    await waitFor('gateway offline (last will)', () => hub.app.registry.getGateway(GW)?.online === false);
    const started = Date.now();
    const res = await command('duty', `${GW}.ptz`, { action: 'ptz.stop' });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('HUB_ERR_GATEWAY_OFFLINE');
    expect(Date.now() - started).toBeLessThan(500);
  });
});
