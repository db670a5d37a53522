/**
 * A dashboard that stops reading (its TCP connection paused) while 300 devices update 10 times a
 * second: the hub queues nothing more for it (its engine.io write buffer stays small, no growing
 * backlog in the hub), and when it reads again it gets the latest state of every device at once —
 * within a few seconds of live, not minutes behind.
 */
import type { Socket as NetSocket } from 'node:net';
import { type LiveDelta, type LiveSnapshot, topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'village-slow';
const GW = 'gw-slow';
const DEVICES = 300;

describe('a slow dashboard client', () => {
  let hub: TestHub;
  let gw: mqtt.MqttClient;
  let socket: Socket;
  let seq = 0;
  const publish = (topic: string, body: object) =>
    gw.publishAsync(topic, JSON.stringify({ seq: ++seq, epoch: 'slow-test', ts: Date.now(), ...body }), {
      qos: 0,
    });

  beforeAll(async () => {
    hub = await startTestHub({ config: { live: { flushIntervalMs: 100 } } });
    const password = await hub.provisionGateway(GW, SITE);
    gw = await mqtt.connectAsync(hub.brokerUrl, { protocolVersion: 4, clientId: GW, username: GW, password });
    for (let i = 0; i < DEVICES; i++)
      await publish(topics.meta(SITE, GW, `s${i}`), {
        kind: 'sensor',
        name: `Sensor with a long enough name to make deltas heavy ${i}`,
        position: { lat: 30 + i * 0.0001, lon: 120 },
        capabilities: [],
      });
    await waitFor('devices registered', () => hub.app.registry.listDevices().length === DEVICES, 20_000);
  }, 60_000);

  afterAll(async () => {
    socket?.disconnect();
    await gw?.endAsync();
    await hub?.close();
  });

  it('is sent nothing more while it does not read, then the latest state of everything at once', async () => {
    let latest = new Map<string, number>();
    socket = io(hub.baseUrl, {
      path: '/socket.io',
      auth: { token: await hub.token() },
      transports: ['websocket'],
      reconnection: false,
    });
    socket.on('snapshot', (s: LiveSnapshot) => {
      latest = new Map(s.devices.map((d) => [d.key, Number(d.values.n ?? -1)]));
    });
    socket.on('delta', (d: LiveDelta) => {
      for (const v of d.devices) latest.set(v.key, Number(v.values.n ?? -1));
    });
    socket.on('connect', () => socket.emit('subscribe', {}));
    await waitFor('snapshot', () => latest.size === DEVICES);

    // Stop reading: the hub's writes pile up in the kernel, then (without conflation) in the hub.
    const tcp = (socket.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket;
    tcp.pause();
    const serverSide = [...hub.app.io.of('/').sockets.values()][0];
    expect(serverSide).toBeDefined();
    const writeBuffer = () =>
      (serverSide as NonNullable<typeof serverSide>).conn as unknown as { writeBuffer: unknown[] };

    let round = 0;
    let maxBuffered = 0;
    const flood = async (seconds: number) => {
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        round += 1;
        for (let i = 0; i < DEVICES; i++)
          void publish(topics.telemetry(SITE, GW, `s${i}`), { values: { n: round, text: 'x'.repeat(200) } });
        maxBuffered = Math.max(maxBuffered, writeBuffer().writeBuffer.length);
        await sleep(100);
      }
    };
    await flood(8);
    // Conflated: nothing piles up in the hub for this socket, whatever the flood.
    expect(await hub.metric('qly_socket_conflated_total')).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(3);
    const lastRound = round;
    // The hub has taken the whole flood (the gateway's rate is paced by the broker)…
    await waitFor(
      'the hub holds the last round',
      () => hub.app.registry.listDevices().every((d) => d.values.n === lastRound),
      30_000,
      100,
    );
    // …and the page, reading again, catches up with it.
    tcp.resume();
    // Caught up: every device's latest value, promptly.
    const started = Date.now();
    await waitFor('caught up', () => [...latest.values()].every((n) => n === lastRound), 10_000, 50);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 60_000);
});
