/**
 * Replays raw MQTT 3.1.1 packets captured from the Eclipse Paho interoperability client
 * (../shared/fixtures/mqtt-fuzz-valid-cases) and malformed mutations of them against the hub's
 * embedded broker over loopback TCP. A client without credentials is refused at CONNECT; a client
 * that sends packets outside its rights or malformed packets loses its own connection; the hub keeps
 * serving and ingesting from a well-behaved gateway throughout.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixturesAvailable } from './support/fixtures.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { waitFor } from './support/wait.ts';

const DIR = 'mqtt-fuzz-valid-cases';
const SITE = 'village-f';

function packets(kind: string): Array<[string, Buffer]> {
  const dir = join(FIXTURES, DIR, 'valid-cases', kind);
  return readdirSync(dir)
    .sort()
    .map((f) => [f, readFileSync(join(dir, f))]);
}

/** An MQTT 3.1.1 CONNECT with username and password (clean session, keepalive 60 s). */
function connectPacket(clientId: string, username: string, password: string): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, 0xc2, 0, 60]),
    str(clientId),
    str(username),
    str(password),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

interface RawSession {
  socket: Socket;
  received: Buffer[];
  closed: Promise<void>;
}

function open(port: number): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (d) => received.push(d));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received, closed }));
    socket.once('error', reject);
  });
}

const within = (ms: number, p: Promise<void>) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe.skipIf(!fixturesAvailable(DIR))('recorded MQTT packets against the embedded broker', () => {
  let hub: TestHub;
  let port: number;
  let gwPassword: string;
  let good: mqtt.MqttClient;
  let sent = 0;
  let producer: NodeJS.Timeout;

  beforeAll(async () => {
    // Dozens of recorded CONNECTs without credentials come from this one address: answered
    // promptly here (the slow-down of guessing has its own test in security-broker.test.ts).
    hub = await startTestHub({ config: { limits: { connectFailuresPerMinutePerAddress: 1000 } } });
    port = Number(new URL(hub.brokerUrl).port);
    gwPassword = await hub.provisionGateway('gw-raw', SITE);
    const goodPassword = await hub.provisionGateway('gw-good', SITE);
    good = await mqtt.connectAsync(hub.brokerUrl, {
      protocolVersion: 4,
      clientId: 'gw-good',
      username: 'gw-good',
      password: goodPassword,
    });
    // A well-behaved gateway publishes throughout the abuse.
    producer = setInterval(() => {
      sent += 1;
      good.publish(
        topics.telemetry(SITE, 'gw-good', 'meter'),
        JSON.stringify({ seq: sent, epoch: 'fixture-test', ts: Date.now(), values: { n: sent } }),
        { qos: 1 },
      );
    }, 10);
  });
  afterAll(async () => {
    clearInterval(producer);
    await good?.endAsync();
    await hub?.close();
  });

  it('refuses every recorded CONNECT (no credentials) with CONNACK "bad username or password"', async () => {
    const connects = packets('connect');
    expect(connects.length).toBeGreaterThan(5);
    for (const [name, bytes] of connects) {
      const s = await open(port);
      s.socket.write(bytes);
      expect(await within(5000, s.closed), `${name}: connection closed`).toBe(true);
      // CONNACK: type 2, remaining length 2, no session present, return code 4
      expect(Buffer.concat(s.received).subarray(0, 4), name).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x04]));
    }
    expect(await hub.metric('qly_mqtt_auth_failures_total')).toBe(connects.length);
  });

  it('cuts an authenticated client that publishes or subscribes outside its own topics', async () => {
    const cases = [...packets('publish'), ...packets('subscribe')];
    for (const [name, bytes] of cases) {
      const s = await open(port);
      s.socket.write(connectPacket(`raw-${name}`, 'gw-raw', gwPassword));
      await waitFor('CONNACK', () => Buffer.concat(s.received).length >= 4);
      expect(Buffer.concat(s.received).subarray(0, 4)).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      s.received.length = 0;
      s.socket.write(bytes);
      if (name.includes('subscribe')) {
        // A refused subscription is answered with SUBACK 0x80 (failure) per MQTT 3.1.1 §3.9.3.
        await waitFor(`SUBACK for ${name}`, () => Buffer.concat(s.received).length >= 5);
        const suback = Buffer.concat(s.received);
        expect(suback[0], name).toBe(0x90);
        expect(suback.at(-1), name).toBe(0x80);
        s.socket.destroy();
      } else {
        expect(await within(5000, s.closed), `${name}: connection closed`).toBe(true);
      }
    }
  });

  it('drops the connection of a client that sends malformed packets', async () => {
    const [, publish] = packets('publish').find(([n]) => n === 'mqtt.publish.105.raw') as [string, Buffer];
    const [, subscribe] = packets('subscribe')[0] as [string, Buffer];
    const mutations: Array<[string, Buffer]> = [
      ['QoS bits = 3', Buffer.concat([Buffer.from([(publish[0] as number) | 0x06]), publish.subarray(1)])],
      ['SUBSCRIBE reserved flags cleared', Buffer.concat([Buffer.from([0x80]), subscribe.subarray(1)])],
      ['remaining length varint never ends', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])],
      ['second CONNECT on a session', connectPacket('again', 'gw-raw', gwPassword)],
      ['reserved packet type 15', Buffer.from([0xf0, 0x00])],
    ];
    for (const [name, bytes] of mutations) {
      const s = await open(port);
      s.socket.write(
        connectPacket(`mut-${mutations.indexOf([name, bytes])}-${Date.now()}`, 'gw-raw', gwPassword),
      );
      await waitFor('CONNACK', () => Buffer.concat(s.received).length >= 4);
      s.socket.write(bytes);
      expect(await within(5000, s.closed), `${name}: connection closed`).toBe(true);
    }
  });

  it('kept ingesting the well-behaved gateway and serving the API throughout', async () => {
    const target = sent;
    await waitFor(
      'good traffic stored',
      async () => (await hub.store.countTelemetry('gw-good.meter')) >= target,
    );
    await hub.app.ingest.flush();
    const seqs = hub.store.seqsOf('gw-good');
    expect(seqs.slice(0, target)).toEqual(Array.from({ length: target }, (_, i) => i + 1));
    const health = await hub.app.inject({
      url: '/api/health',
      headers: { authorization: `Bearer ${await hub.token()}` },
    });
    expect(health.json()).toMatchObject({ status: 'ok' });
  });
});
