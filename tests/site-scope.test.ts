/**
 * The scope rule over the site tree, on every surface: a town officer sees the villages of their
 * town and not another town's — REST (lists, one device, sites with counts), the live socket, commands
 * (through a real edge agent) — and moving a village to another town changes who sees it at once
 * (the open socket gets a new snapshot). Hierarchy imports: a valid GeoJSON file, and bad ones
 * refused with the feature named and nothing half-imported.
 */
import { type DeviceView, type LiveSnapshot, topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { waitFor } from './support/wait.ts';

describe('scope over the site tree', () => {
  let hub: TestHub;
  let admin: string;
  let townOfficer: string;
  let countyOfficer: string;
  let edge: EdgeProcess;
  const clients: mqtt.MqttClient[] = [];
  const sockets: Socket[] = [];

  const api = async (token: string, method: string, url: string, payload?: unknown) => {
    const res = await hub.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: res.statusCode, body: res.json() as unknown };
  };
  const keys = (list: unknown) => (list as DeviceView[]).map((d) => d.key).sort();

  beforeAll(async () => {
    hub = await startTestHub(); // the default config seeds 示范县 → 千里镇 → 千里村, 东山村, 西河村, 南岭村
    admin = await hub.token();
    // A second town with one village, added through the API.
    for (const node of [
      { id: 'hexi-town', name: '河西镇', level: 'town', parent: 'demo-county' },
      { id: 'far-village', name: '远山村', level: 'village', parent: 'hexi-town' },
    ])
      expect((await api(admin, 'POST', '/api/sites', node)).status).toBe(200);
    for (const [username, sites] of [
      ['town-officer', ['qianli-town']],
      ['county-officer', ['demo-county']],
    ] as const) {
      const res = await api(admin, 'POST', '/api/users', {
        username,
        password: 'a-long-password',
        role: 'duty_officer',
        sites,
      });
      expect(res.status).toBe(201);
    }
    townOfficer = await hub.token('town-officer', 'a-long-password');
    countyOfficer = await hub.token('county-officer', 'a-long-password');
    // A gateway in each town: gw-near (东山村, a real agent for commands), gw-far (远山村, plain MQTT).
    edge = new EdgeProcess(
      {
        gateway: { id: 'gw-near', site: 'dongshan' },
        mqtt: { url: hub.brokerUrl },
        heartbeatMs: 2000,
        devices: [{ type: 'sim-sensor', id: 'env', name: 'Env', position: { lat: 30.046, lon: 119.972 } }],
      },
      await hub.provisionGateway('gw-near', 'dongshan'),
    );
    edge.start();
    const password = await hub.provisionGateway('gw-far', 'far-village');
    const far = await mqtt.connectAsync(hub.brokerUrl, {
      protocolVersion: 4,
      clientId: 'gw-far',
      username: 'gw-far',
      password,
    });
    clients.push(far);
    await far.publishAsync(
      topics.meta('far-village', 'gw-far', 'cam'),
      JSON.stringify({
        seq: 1,
        epoch: 'scope-test',
        ts: Date.now(),
        kind: 'camera',
        name: '远山摄像头',
        position: { lat: 30.1, lon: 120.1 },
        capabilities: [],
      }),
      { qos: 1, retain: true },
    );
    await waitFor(
      'both devices registered',
      () => hub.app.registry.getDevice('gw-near.env') && hub.app.registry.getDevice('gw-far.cam'),
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    for (const c of clients) await c.endAsync();
    await edge?.stop();
    await hub?.close();
  });

  it('REST: a town officer lists and opens only their town’s devices; the county sees both towns', async () => {
    expect(keys((await api(townOfficer, 'GET', '/api/devices')).body)).toEqual(['gw-near.env']);
    expect(keys((await api(countyOfficer, 'GET', '/api/devices')).body)).toEqual([
      'gw-far.cam',
      'gw-near.env',
    ]);
    expect((await api(townOfficer, 'GET', '/api/devices/gw-far.cam')).status).toBe(404);
    const sites = (await api(townOfficer, 'GET', '/api/sites')).body as Array<{
      id: string;
      devices: number;
    }>;
    expect(sites.map((s) => s.id).sort()).toEqual([
      'demo-village',
      'dongshan',
      'nanling',
      'qianli-town',
      'xihe',
    ]);
    expect(sites.find((s) => s.id === 'qianli-town')?.devices).toBe(1);
    const all = (await api(countyOfficer, 'GET', '/api/sites')).body as Array<{
      id: string;
      devices: number;
    }>;
    expect(all.find((s) => s.id === 'demo-county')?.devices).toBe(2);
  });

  it('REST at scale: filters by subtree, kind, status, search and viewport, paged with the total', async () => {
    const get = (url: string, token = countyOfficer) =>
      hub.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    const page = await get('/api/devices?limit=1&offset=1');
    expect(page.headers['x-total-count']).toBe('2');
    expect(keys(page.json())).toEqual(['gw-near.env']);
    expect(keys((await get('/api/devices?site=hexi-town')).json())).toEqual(['gw-far.cam']);
    expect(keys((await get('/api/devices?site=demo-county&kind=sensor')).json())).toEqual(['gw-near.env']);
    expect(keys((await get(`/api/devices?q=${encodeURIComponent('远山')}`)).json())).toEqual(['gw-far.cam']);
    expect(keys((await get('/api/devices?bbox=30.09,120.09,30.11,120.11')).json())).toEqual(['gw-far.cam']);
    expect((await get('/api/devices?site=hexi-town', townOfficer)).statusCode).toBe(404);
    expect((await get('/api/devices?bbox=not-a-box')).statusCode).toBe(400);
  });

  it('commands: the town officer may ping their gateway, not the other town’s', async () => {
    await waitFor('gateway online', () => hub.app.registry.getGateway('gw-near')?.online, 20_000);
    expect(
      (await api(townOfficer, 'POST', '/api/gateways/gw-near/commands', { action: 'ping' })).status,
    ).toBe(200);
    const denied = await api(townOfficer, 'POST', '/api/gateways/gw-far/commands', { action: 'ping' });
    expect(denied.status).toBe(403);
  });

  it('moving a village to another town changes who sees it, at once, on REST and on the open socket', async () => {
    const socket = io(hub.baseUrl, {
      path: '/socket.io',
      auth: { token: townOfficer },
      transports: ['websocket'],
      reconnection: false,
    });
    sockets.push(socket);
    const snapshots: LiveSnapshot[] = [];
    socket.on('snapshot', (s: LiveSnapshot) => snapshots.push(s));
    socket.on('connect', () => socket.emit('subscribe', {}));
    await waitFor('first snapshot', () => snapshots[0]);
    expect(keys(snapshots[0]?.devices)).toEqual(['gw-near.env']);

    expect(
      (
        await api(admin, 'POST', '/api/sites', {
          id: 'far-village',
          name: '远山村',
          level: 'village',
          parent: 'qianli-town',
        })
      ).status,
    ).toBe(200);
    expect(keys((await api(townOfficer, 'GET', '/api/devices')).body)).toEqual(['gw-far.cam', 'gw-near.env']);
    const moved = await waitFor('a new snapshot', () => snapshots[1]);
    expect(keys(moved.devices)).toEqual(['gw-far.cam', 'gw-near.env']);
    expect(
      (await api(townOfficer, 'POST', '/api/gateways/gw-far/commands', { action: 'ping' })).status,
    ).not.toBe(403);

    // And back: out of sight again.
    await api(admin, 'POST', '/api/sites', {
      id: 'far-village',
      name: '远山村',
      level: 'village',
      parent: 'hexi-town',
    });
    const back = await waitFor('another snapshot', () => snapshots[2]);
    expect(keys(back.devices)).toEqual(['gw-near.env']);
    expect((await api(townOfficer, 'GET', '/api/devices/gw-far.cam')).status).toBe(404);
  });

  it('a gateway frozen without a last will (SIGSTOP) shows stale within twice its heartbeat, then recovers', async () => {
    const gatewayView = async () =>
      (
        (await api(admin, 'GET', '/api/gateways')).body as Array<{
          id: string;
          online: boolean;
          stale: boolean;
        }>
      ).find((g) => g.id === 'gw-near');
    await waitFor(
      'online and fresh',
      async () => (await gatewayView())?.online && !(await gatewayView())?.stale,
      10_000,
    );
    process.kill(edge.pid as number, 'SIGSTOP');
    try {
      const lastSeen = hub.app.registry.getGateway('gw-near')?.lastSeen as number;
      await waitFor('stale', async () => (await gatewayView())?.stale, 10_000, 100);
      // Two heartbeats (4 s) after the last message, within the one-second sweep.
      expect(Date.now() - lastSeen).toBeLessThan(2 * 2000 + 1500);
      expect((await gatewayView())?.online).toBe(true);
    } finally {
      process.kill(edge.pid as number, 'SIGCONT');
    }
    await waitFor('fresh again', async () => !(await gatewayView())?.stale, 10_000, 100);
  });

  it('imports a GeoJSON hierarchy; bad files are refused naming the feature, nothing half-imported', async () => {
    const square = (lon: number, lat: number) => ({
      type: 'Polygon',
      coordinates: [
        [
          [lon, lat],
          [lon + 0.02, lat],
          [lon + 0.02, lat + 0.02],
          [lon, lat + 0.02],
          [lon, lat],
        ],
      ],
    });
    const f = (id: string, name: string, level: string, parent: string | null, geometry: unknown = null) => ({
      type: 'Feature',
      properties: { id, name, level, parent },
      geometry,
    });
    const good = {
      type: 'FeatureCollection',
      features: [
        f('beishan-town', '北山镇', 'town', 'demo-county'),
        f('shangcun', '上村', 'village', 'beishan-town', square(120.2, 30.2)),
        f('shangcun-g1', '上村一网格', 'grid', 'shangcun'),
      ],
    };
    const count = async () => ((await api(admin, 'GET', '/api/sites')).body as unknown[]).length;
    const before = await count();
    const ok = await api(admin, 'POST', '/api/sites/import', good);
    expect(ok).toEqual({ status: 200, body: { imported: 3 } });
    expect(await count()).toBe(before + 3);
    const bad: Array<[unknown, RegExp]> = [
      [{ type: 'Topology', objects: {} }, /not a GeoJSON FeatureCollection/],
      [
        { type: 'FeatureCollection', features: [f('x1', '孤村', 'village', null)] },
        /feature 1 \(x1 孤村\): a village needs a parent/,
      ],
      [
        {
          type: 'FeatureCollection',
          features: [f('x2', '新镇', 'town', 'demo-county'), f('x3', '迷村', 'village', 'no-such-town')],
        },
        /feature 2 \(x3 迷村\): unknown parent no-such-town/,
      ],
      [
        { type: 'FeatureCollection', features: [f('x4', 'A镇', 'town', 'x5'), f('x5', 'B镇', 'town', 'x4')] },
        /feature 1 \(x4 A镇\)/,
      ],
      // Coordinates as strings were stored as they came; nesting thousands deep answered 500.
      [
        {
          type: 'FeatureCollection',
          features: [
            f('x6', '字村', 'village', 'qianli-town', {
              type: 'Polygon',
              coordinates: [
                [
                  ['120.1', '30.1'],
                  ['120.2', '30.1'],
                  ['120.2', '30.2'],
                  ['120.1', '30.1'],
                ],
              ],
            }),
          ],
        },
        /feature 1 \(x6 字村\): polygon 1, ring 1, position 1: longitude and latitude must be numbers/,
      ],
      [
        { type: 'FeatureCollection', features: [f('x8', '开村', 'village', 'qianli-town', square(200, 30))] },
        /out of range/,
      ],
    ];
    for (const [doc, message] of bad) {
      const res = await api(admin, 'POST', '/api/sites/import', doc);
      expect(res.status, JSON.stringify(doc).slice(0, 60)).toBe(400);
      expect((res.body as { message: string }).message).toMatch(message);
    }
    // Nested 20,000 deep (written as text: the test's own JSON.stringify would overflow too).
    const deep = await hub.app.inject({
      method: 'POST',
      url: '/api/sites/import',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      payload: `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"x7","name":"深村","level":"village","parent":"qianli-town"},"geometry":{"type":"Polygon","coordinates":${'['.repeat(20_000)}0,0${']'.repeat(20_000)}}}]}`,
    });
    expect(deep.statusCode).toBe(400);
    expect(deep.json().message).toMatch(/feature 1 \(x7 深村\): polygon 1, ring 1: at least four positions/);
    expect(await count()).toBe(before + 3);
    expect((await api(townOfficer, 'POST', '/api/sites/import', good)).status).toBe(403);
  });
});
