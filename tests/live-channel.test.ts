/**
 * The socket.io live channel through a real hub and broker: a snapshot of what is in scope on
 * subscribe, then coalesced deltas; a viewport (bbox) subscription gets only devices inside it and
 * is told when one leaves; a site subscription gets only that site.
 */
import type { DeviceView, LiveDelta, LiveSnapshot } from '@qianliyan/protocols';
import { topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { waitFor } from './support/wait.ts';

const GW = 'gw-live';
const SITE = 'village-l';

describe('live channel scoping', () => {
  let hub: TestHub;
  let gw: mqtt.MqttClient;
  let seq = 0;
  const sockets: Socket[] = [];

  const publish = (topic: string, body: object, retain = false) =>
    gw.publishAsync(topic, JSON.stringify({ seq: ++seq, epoch: 'live-test', ts: Date.now(), ...body }), {
      qos: 1,
      retain,
    });
  const moveDrone = (lat: number, lon: number) =>
    publish(topics.telemetry(SITE, GW, 'uav'), { values: { lat, lon, heading: 90 } });

  beforeAll(async () => {
    hub = await startTestHub();
    const password = await hub.provisionGateway(GW, SITE);
    await hub.provisionGateway('gw-other', 'village-other');
    gw = await mqtt.connectAsync(hub.brokerUrl, { protocolVersion: 4, clientId: GW, username: GW, password });
    const meta = (kind: string, name: string, lat: number, lon: number) => ({
      kind,
      name,
      position: { lat, lon },
      capabilities: [],
    });
    await publish(topics.meta(SITE, GW, 'cam'), meta('camera', 'Gate camera', 30.0, 120.0), true);
    await publish(topics.meta(SITE, GW, 'far'), meta('sensor', 'Far sensor', 31.0, 121.0), true);
    await publish(topics.meta(SITE, GW, 'uav'), meta('drone', 'Drone', 30.0, 120.0), true);
    await waitFor('devices registered', () => hub.app.registry.listDevices().length === 3);
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await gw?.endAsync();
    await hub?.close();
  });

  async function openSocket(): Promise<Socket> {
    const socket = io(hub.baseUrl, {
      path: '/socket.io',
      auth: { token: await hub.token() },
      transports: ['websocket'],
      reconnection: false,
    });
    sockets.push(socket);
    return socket;
  }

  async function client(subscription: object) {
    const socket = await openSocket();
    const state = { snapshot: undefined as LiveSnapshot | undefined, deltas: [] as LiveDelta[] };
    socket.on('snapshot', (s: LiveSnapshot) => {
      state.snapshot = s;
    });
    socket.on('delta', (d: LiveDelta) => state.deltas.push(d));
    socket.on('connect', () => socket.emit('subscribe', subscription));
    await waitFor('snapshot', () => state.snapshot);
    return state;
  }
  const keys = (devices: DeviceView[]) => devices.map((d) => d.key).sort();

  it('a viewport subscription sees only what is inside and hears when a device leaves', async () => {
    const box = await client({ bbox: { south: 29.9, west: 119.9, north: 30.1, east: 120.1 } });
    expect(keys(box.snapshot?.devices ?? [])).toEqual([`${GW}.cam`, `${GW}.uav`]);
    await moveDrone(30.05, 120.05);
    await waitFor('drone moved inside the box', () =>
      box.deltas.some((d) => d.devices.some((v) => v.key === `${GW}.uav` && v.position.lat === 30.05)),
    );
    await moveDrone(30.5, 120.5); // out of the viewport
    await waitFor('drone left the box', () => box.deltas.some((d) => d.removed.includes(`${GW}.uav`)));
    const before = box.deltas.length;
    await publish(topics.telemetry(SITE, GW, 'far'), { values: { temperature: 1 } });
    await moveDrone(30.6, 120.6);
    // Changes outside the viewport are not sent: wait for the hub to have them, then two more flushes.
    await waitFor(
      'hub has the far reading',
      () => hub.app.registry.getDevice(`${GW}.uav`)?.position.lat === 30.6,
    );
    await new Promise((r) => setTimeout(r, 3 * hub.app.config.live.flushIntervalMs));
    expect(box.deltas.slice(before).flatMap((d) => d.devices.map((v) => v.key))).toEqual([]);
  });

  it('a site subscription gets only that site; an unknown site gets an empty snapshot', async () => {
    const mine = await client({ site: SITE });
    expect(keys(mine.snapshot?.devices ?? [])).toEqual([`${GW}.cam`, `${GW}.far`, `${GW}.uav`]);
    expect(mine.snapshot?.gateways.map((g) => g.id)).toEqual([GW]);
    const other = await client({ site: 'village-other' });
    expect(other.snapshot?.devices).toEqual([]);
  });

  it('coalesces a burst into one update per device per period', async () => {
    const all = await client({});
    const start = all.deltas.length;
    for (let i = 0; i < 50; i++) await publish(topics.telemetry(SITE, GW, 'cam'), { values: { n: i } });
    await waitFor('last value delivered', () =>
      all.deltas.some((d) => d.devices.some((v) => v.key === `${GW}.cam` && v.values.n === 49)),
    );
    const camUpdates = all.deltas.slice(start).flatMap((d) => d.devices.filter((v) => v.key === `${GW}.cam`));
    expect(camUpdates.length).toBeLessThan(50);
    expect(camUpdates.at(-1)?.values.n).toBe(49);
  });

  it('a brief (zoomed-out) subscription gets status changes, not telemetry, until a device is looked at close', async () => {
    const socket = await openSocket();
    const deltas: LiveDelta[] = [];
    let snapshot: LiveSnapshot | undefined;
    socket.on('snapshot', (s: LiveSnapshot) => {
      snapshot = s;
    });
    socket.on('delta', (d: LiveDelta) => deltas.push(d));
    socket.on('connect', () => socket.emit('subscribe', { brief: true }));
    await waitFor('snapshot', () => snapshot);
    const got = (key: string, from = 0) =>
      deltas.slice(from).flatMap((d) => d.devices.filter((v) => v.key === key));
    // Settle: the first flush after subscribing may carry a fingerprint seen for the first time.
    await publish(topics.telemetry(SITE, GW, 'far'), { values: { temperature: 0 } });
    await new Promise((r) => setTimeout(r, 5 * hub.app.config.live.flushIntervalMs));
    const start = deltas.length;
    for (let i = 1; i <= 5; i++)
      await publish(topics.telemetry(SITE, GW, 'far'), { values: { temperature: i } });
    await waitFor(
      'hub has the last reading',
      () => hub.app.registry.getDevice(`${GW}.far`)?.values.temperature === 5,
    );
    await new Promise((r) => setTimeout(r, 5 * hub.app.config.live.flushIntervalMs));
    expect(got(`${GW}.far`, start)).toEqual([]);
    // An alarm changes what the map shows: it is sent at once.
    await publish(topics.event(SITE, GW, 'far'), { type: 'intrusion', severity: 'critical' });
    await waitFor('alarm sent to the brief client', () =>
      got(`${GW}.far`, start).some((v) => v.status === 'alarm'),
    );
    // Zooming in on it: its latest values come as a delta, then every sample.
    const zoomed = deltas.length;
    socket.emit('subscribe', { brief: true, detail: { south: 30.9, west: 120.9, north: 31.1, east: 121.1 } });
    await waitFor('detail delta', () => got(`${GW}.far`, zoomed).some((v) => v.values.temperature === 5));
    await publish(topics.telemetry(SITE, GW, 'far'), { values: { temperature: 6 } });
    await waitFor('sample sent while detailed', () =>
      got(`${GW}.far`, zoomed).some((v) => v.values.temperature === 6),
    );
    expect(snapshot?.devices.length).toBe(3); // a detail change is not a new snapshot
    // A watched device (an open panel) is detailed wherever the map is.
    socket.emit('subscribe', { brief: true, watch: [`${GW}.cam`] });
    const watched = deltas.length;
    await publish(topics.telemetry(SITE, GW, 'cam'), { values: { n: 1000 } });
    await waitFor('watched sample', () => got(`${GW}.cam`, watched).some((v) => v.values.n === 1000));
    expect(snapshot?.devices.length).toBe(3);
  });

  it('refuses an invalid subscription', async () => {
    const socket = await openSocket();
    const error = new Promise<{ code: string }>((resolve) => socket.on('subscribe:error', resolve));
    socket.on('connect', () => socket.emit('subscribe', { bbox: { south: 'x' } } as never));
    expect(await error).toMatchObject({ code: 'HUB_ERR_VALIDATION' });
  });
});
