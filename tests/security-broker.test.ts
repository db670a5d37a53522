/**
 * The attack table against the broker, replayed on the embedded broker and on Mosquitto (shipped
 * configuration, hub-managed credentials), each with its outcome asserted:
 *  - client-id takeover (the hub's id, another gateway's persistent session) refused, nothing foreign read;
 *  - an oversize PUBLISH never acknowledged;
 *  - retained messages outside state/meta/availability refused (or cleared at once);
 *  - the device quota enforced, and the message rate, while a well-behaved gateway's stream is complete;
 *  - log lines bounded under a flood;
 *  - a re-issued or deleted credential ends the gateway's live session;
 *  - a stranger's failed CONNECTs (from its own address, or the gateway's) never keep the real
 *    gateway out; the embedded broker answers them late, per source address and hub-wide.
 */
import { createConnection } from 'node:net';
import { topics } from '@qianliyan/protocols';
import mqtt, { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  brokerKinds,
  type Stack,
  type StackOptions,
  startStack,
  waitForCredential,
} from './support/stack.ts';
import { startUplink } from './support/uplink.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'village-s';
const PROBE = ['qly-probe', 'probe-password-123'] as const;
const probeAcl = ['user qly-probe', 'topic read qly/v1/#'];

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

type TestStack = Stack & { passwords: Map<string, string> };

async function stackFor(
  kind: 'embedded' | 'mosquitto',
  gateways: Array<[string, string]>,
  options: StackOptions = {},
) {
  const stack = await startStack(kind, gateways, {
    ...options,
    mosquitto: { ...options.mosquitto, extraAcl: probeAcl },
    mosquittoUsers: [[...PROBE]],
  });
  cleanups.push(() => stack.close());
  return stack;
}

/**
 * A raw connection with a gateway's credential and any client id. `onMessage` is attached before
 * connecting: a resumed session's queued messages arrive right behind the CONNACK.
 */
async function rawGateway(
  stack: TestStack,
  gateway: string,
  clientId = gateway,
  clean = true,
  onMessage?: (topic: string, payload: Buffer) => void,
): Promise<MqttClient> {
  const client = mqtt.connect(stack.brokerUrl, {
    protocolVersion: 4,
    clientId,
    clean,
    username: gateway,
    password: stack.passwords.get(gateway) as string,
    reconnectPeriod: 0,
  });
  if (onMessage) client.on('message', onMessage);
  cleanups.push(() => client.endAsync(true));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => {});
  return client;
}

/** Publishes at QoS 1; settles when acknowledged, refused, or when the broker drops the connection. */
function tryPublish(client: MqttClient, topic: string, payload: string, retain = false): Promise<boolean> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve(false);
    const onClose = () => resolve(false);
    client.once('close', onClose);
    client.publish(topic, payload, { qos: 1, retain }, (err) => {
      client.removeListener('close', onClose); // settled: no listener left behind per publish
      resolve(!err);
    });
  });
}

const closed = (client: MqttClient) =>
  new Promise<void>((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));

/** Retained messages a fresh subscriber gets under a filter (Mosquitto only: a read-all probe user). */
async function retainedUnder(stack: TestStack, filter: string): Promise<number> {
  const probe = await mqtt.connectAsync(stack.brokerUrl, {
    protocolVersion: 4,
    clientId: PROBE[0],
    username: PROBE[0],
    password: PROBE[1],
    reconnectPeriod: 0,
  });
  let n = 0;
  probe.on('message', (_t, payload, packet) => {
    if (packet.retain && payload.length > 0) n += 1;
  });
  await probe.subscribeAsync(filter, { qos: 0 });
  await sleep(700);
  await probe.endAsync(true);
  return n;
}

/**
 * One MQTT 3.1.1 CONNECT from a chosen loopback source address (127.0.0.x: a stranger elsewhere, or
 * the gateway's own address); settles with the outcome and how long the broker took to answer.
 */
function connectFrom(
  stack: TestStack,
  localAddress: string,
  username: string,
  password: string,
): Promise<{ outcome: 'accepted' | 'refused' | 'dropped'; ms: number }> {
  const { port } = new URL(stack.brokerUrl);
  const started = Date.now();
  return new Promise((resolve) => {
    const client = new MqttClient(
      () => createConnection({ host: '127.0.0.1', port: Number(port), localAddress }),
      {
        protocolVersion: 4,
        clientId: `${username}-${Math.random().toString(36).slice(2, 8)}`,
        username,
        password,
        reconnectPeriod: 0,
        connectTimeout: 20_000,
      },
    );
    let settled = false;
    const settle = (outcome: 'accepted' | 'refused' | 'dropped') => {
      if (settled) return;
      settled = true;
      resolve({ outcome, ms: Date.now() - started });
      client.end(true);
    };
    client.on('connect', () => settle('accepted'));
    client.on('error', () => settle('refused'));
    client.on('close', () => settle('dropped'));
  });
}

const telemetry = (seq: number, extra: object = {}) =>
  JSON.stringify({ seq, epoch: 'attack', ts: Date.now(), values: { v: seq }, ...extra });

describe.each(brokerKinds())('attacks on the %s broker', (kind) => {
  it('a client id belongs to its credential: no takeover of the hub’s or another gateway’s session', async () => {
    const stack = await stackFor(kind, [
      ['gw-a', SITE],
      ['gw-b', 'village-other'],
    ]);
    let hubDrops = 0;
    stack.hub.app.mqtt.on('close', () => {
      hubDrops += 1;
    });
    // gw-b has a persistent session holding a command for it while it is away.
    const b = await rawGateway(stack, 'gw-b', 'gw-b', false);
    await b.subscribeAsync(topics.cmd('village-other', 'gw-b'), { qos: 1 });
    await b.endAsync();
    const secret = { id: 'for-b-only', action: 'ping', deadline: Date.now() + 60_000 };
    await stack.hub.app.mqtt.publishAsync(topics.cmd('village-other', 'gw-b'), JSON.stringify(secret), {
      qos: 1,
    });

    // gw-a presents the hub's client id, then gw-b's, with clean=false.
    const received: string[] = [];
    const asHub = await rawGateway(stack, 'gw-a', 'qly-hub', false, (_t, p) => received.push(p.toString()));
    await sleep(500);
    await asHub.endAsync(true);
    const asB = await rawGateway(stack, 'gw-a', 'gw-b', false, (_t, p) => received.push(p.toString()));
    await sleep(800);
    expect(received).toEqual([]); // nothing of gw-b's queue reached gw-a
    expect(hubDrops).toBe(0); // the hub kept its session
    expect(stack.hub.app.mqtt.connected).toBe(true);
    await asB.endAsync(true);

    // The real gw-b still gets its queued command.
    const got: string[] = [];
    await rawGateway(stack, 'gw-b', 'gw-b', false, (_t, p) => got.push(p.toString()));
    const first = await waitFor('gw-b gets its queued command', () => got[0]);
    expect(JSON.parse(first)).toMatchObject({ id: 'for-b-only' });
  });

  it('a gateway cannot publish on its own command topic (the hub’s)', async () => {
    const stack = await stackFor(kind, [['gw-cmd', SITE]]);
    const heard: string[] = [];
    const client = await rawGateway(stack, 'gw-cmd', 'gw-cmd', true, (_t, p) => heard.push(p.toString()));
    await client.subscribeAsync(topics.cmd(SITE, 'gw-cmd'), { qos: 1 });
    const forged = JSON.stringify({ id: 'forged', action: 'ping', deadline: Date.now() + 60_000 });
    const gone = closed(client);
    const acked = await tryPublish(client, topics.cmd(SITE, 'gw-cmd'), forged);
    if (kind === 'embedded') {
      await gone; // refused: the broker cuts the connection
      expect(acked).toBe(false);
      expect(await stack.hub.metric('qly_broker_refused_total', { reason: 'publish_acl' })).toBe(1);
    }
    await sleep(500);
    expect(heard).toEqual([]); // Mosquitto drops it (denied by the ACL): nobody receives it
  });

  it('an oversize PUBLISH is never acknowledged and the sender is cut off', async () => {
    const stack = await stackFor(kind, [['gw-big', SITE]]);
    const client = await rawGateway(stack, 'gw-big');
    let acked = false;
    const gone = closed(client);
    client.publish(
      topics.telemetry(SITE, 'gw-big', 'd'),
      Buffer.alloc(1024 * 1024, 0x20),
      { qos: 1 },
      (err) => {
        if (!err) acked = true;
      },
    );
    await gone;
    await sleep(300);
    expect(acked).toBe(false);
    expect(await stack.hub.store.countTelemetry()).toBe(0);
    if (kind === 'embedded')
      expect(await stack.hub.metric('qly_broker_refused_total', { reason: 'oversize_packet' })).toBe(1);
  });

  it('refuses retained messages outside state/meta/availability (100 × 50 KB retained telemetry)', async () => {
    // 100 reconnects by one credential: above the default connection-attempt limit, raised here.
    const stack = await stackFor(kind, [['gw-ret', SITE]], {
      hubConfig: { limits: { gatewayConnectsPerMinute: 500 } },
    });
    const blob = 'x'.repeat(50 * 1024);
    let attempts = 0;
    while (attempts < 100) {
      const client = await rawGateway(stack, 'gw-ret');
      const gone = closed(client);
      // The embedded broker cuts the connection at the first retained telemetry; Mosquitto takes all.
      do {
        client.publish(
          topics.telemetry(SITE, 'gw-ret', `d${attempts}`),
          telemetry(attempts + 1, { values: { blob } }),
          { qos: 1, retain: true },
        );
        attempts += 1;
      } while (kind !== 'embedded' && attempts < 100);
      if (kind === 'embedded') await gone;
      else await client.endAsync();
    }
    if (kind === 'embedded') {
      expect(await stack.hub.metric('qly_broker_refused_total', { reason: 'retained_refused' })).toBe(100);
    } else {
      // Mosquitto cannot refuse per topic: the hub (MQTT 5, retain-as-published) clears each at once.
      await waitFor(
        'every refusal counted',
        async () =>
          (await stack.hub.metric('qly_ingest_rejected_total', { reason: 'retained_refused' })) === 100,
      );
      await waitFor(
        'nothing left retained',
        async () => (await retainedUnder(stack, `qly/v1/${SITE}/gw-ret/dev/+/telemetry`)) === 0,
        10_000,
      );
    }
    expect(await stack.hub.store.countTelemetry()).toBe(0);
  });

  it('enforces the device quota while a well-behaved gateway’s stream is stored complete', async () => {
    const stack = await stackFor(
      kind,
      [
        ['gw-flood', SITE],
        ['gw-good', SITE],
      ],
      { hubConfig: { limits: { maxDevicesPerGateway: 20, gatewayConnectsPerMinute: 500 } } },
    );
    const good = await startUplink(
      stack.brokerUrl,
      SITE,
      'gw-good',
      stack.passwords.get('gw-good') as string,
    );
    cleanups.push(() => good.close());
    const sent: number[] = [];
    for (let i = 0; i < 1000; i++)
      sent.push(good.send(topics.telemetry(SITE, 'gw-good', 'm'), { ts: Date.now(), values: { i } }));
    const meta = (seq: number, n: number) =>
      JSON.stringify({
        seq,
        epoch: 'attack',
        ts: Date.now(),
        kind: 'sensor',
        name: `d${n}`,
        position: { lat: 30, lon: 120 },
        capabilities: [],
      });
    let n = 0;
    while (n < 60) {
      const client = await rawGateway(stack, 'gw-flood');
      const gone = closed(client);
      for (; n < 60 && client.connected; n++)
        await tryPublish(client, topics.meta(SITE, 'gw-flood', `dev-${n}`), meta(n + 1, n), true);
      if (client.connected) await client.endAsync();
      else await gone;
    }
    await good.drained();
    await waitFor(
      'the good gateway’s 1,000 stored',
      async () => (await stack.hub.store.countTelemetry('gw-good.m')) === 1000,
    );
    expect(stack.hub.store.seqsOf('gw-good')).toEqual(sent);
    await waitFor('20 devices, no more', () => stack.hub.app.registry.deviceCountOf('gw-flood') === 20);
    await sleep(300);
    expect(stack.hub.app.registry.deviceCountOf('gw-flood')).toBe(20);
    expect(stack.hub.app.stateDb.listDevices().filter((d) => d.gateway === 'gw-flood')).toHaveLength(20);
    const refused =
      kind === 'embedded'
        ? await stack.hub.metric('qly_broker_refused_total', { reason: 'device_quota' })
        : await stack.hub.metric('qly_ingest_rejected_total', { reason: 'device_quota' });
    expect(refused).toBeGreaterThan(0);
    if (kind === 'mosquitto')
      await waitFor(
        'refused descriptors cleared from the broker',
        async () => (await retainedUnder(stack, `qly/v1/${SITE}/gw-flood/dev/+/meta`)) === 20,
        10_000,
      );
  });

  it('enforces the message rate per gateway while a well-behaved gateway’s stream is stored complete', async () => {
    const stack = await stackFor(
      kind,
      [
        ['gw-fast', SITE],
        ['gw-calm', SITE],
      ],
      { hubConfig: { limits: { gatewayMessagesPerSecond: 200, gatewayBurst: 200, maxThrottleMs: 1000 } } },
    );
    const calm = await startUplink(
      stack.brokerUrl,
      SITE,
      'gw-calm',
      stack.passwords.get('gw-calm') as string,
    );
    cleanups.push(() => calm.close());
    const calmSent: number[] = [];
    const producer = setInterval(() => {
      for (let k = 0; k < 15; k++)
        calmSent.push(calm.send(topics.telemetry(SITE, 'gw-calm', 'm'), { ts: Date.now(), values: { k } }));
    }, 100); // 150 messages a second, under the rate
    const fast = await rawGateway(stack, 'gw-fast');
    for (let seq = 1; seq <= 5000 && fast.connected; seq++)
      fast.publish(topics.telemetry(SITE, 'gw-fast', 'm'), telemetry(seq), { qos: 0 });
    await sleep(2500);
    clearInterval(producer);
    await calm.drained();
    await waitFor(
      'the calm gateway complete',
      async () => (await stack.hub.store.countTelemetry('gw-calm.m')) === calmSent.length,
      15_000,
    );
    expect(stack.hub.store.seqsOf('gw-calm')).toEqual(calmSent);
    const fastStored = await stack.hub.store.countTelemetry('gw-fast.m');
    expect(fastStored).toBeLessThan(1500); // 200 burst + 200/s, never the 5,000 it sent
    const metric = kind === 'embedded' ? 'qly_broker_refused_total' : 'qly_ingest_rejected_total';
    expect(await stack.hub.metric(metric, { reason: 'rate_limited' })).toBeGreaterThan(0);
  });

  it('bounds log lines: 3,000 bad messages and 2,000 refused subscriptions write a handful of lines', async () => {
    const lines: string[] = [];
    const stack = await stackFor(kind, [['gw-noisy', SITE]], { logLines: lines });
    const client = await rawGateway(stack, 'gw-noisy');
    for (let i = 0; i < 3000; i++)
      client.publish(topics.telemetry(SITE, 'gw-noisy', 'd'), '{"not json', { qos: 0 });
    if (kind === 'embedded')
      for (let i = 0; i < 2000; i++) client.subscribe(`qly/v1/other/gw-x${i}/cmd`, { qos: 0 });
    await waitFor(
      '3,000 rejections counted',
      async () => (await stack.hub.metric('qly_ingest_rejected_total', { reason: 'invalid_json' })) === 3000,
      15_000,
    );
    if (kind === 'embedded')
      await waitFor(
        '2,000 refused subscriptions counted',
        async () =>
          (await stack.hub.metric('qly_broker_refused_total', { reason: 'subscribe_acl' })) === 2000,
        15_000,
      );
    const noisy = lines.filter((l) => l.includes('gw-noisy') && /message rejected|broker refused/.test(l));
    expect(noisy.length).toBeGreaterThan(0);
    expect(noisy.length).toBeLessThan(12); // at most one a second per gateway and reason
    expect(lines.join('').length).toBeLessThan(200_000);
  });

  it('a re-issued credential ends the live session at once; a deleted gateway is gone for good', async () => {
    const stack = await stackFor(kind, [['gw-rot', SITE]]);
    const old = stack.passwords.get('gw-rot') as string;
    const live = await rawGateway(stack, 'gw-rot');
    const ended = closed(live);
    const admin = await stack.hub.token();
    const rotated = await stack.hub.app.inject({
      method: 'POST',
      url: '/api/gateways',
      headers: { authorization: `Bearer ${admin}` },
      payload: { id: 'gw-rot', site: SITE },
    });
    expect(rotated.statusCode).toBe(201);
    const fresh = rotated.json().password as string;
    await Promise.race([ended, sleep(5000).then(() => Promise.reject(new Error('session not ended')))]);
    await expect(
      mqtt.connectAsync(stack.brokerUrl, {
        protocolVersion: 4,
        clientId: 'gw-rot',
        username: 'gw-rot',
        password: old,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow();
    await waitForCredential(stack.brokerUrl, 'gw-rot', fresh);
    stack.passwords.set('gw-rot', fresh);

    const again = await rawGateway(stack, 'gw-rot');
    const gone = closed(again);
    const deleted = await stack.hub.app.inject({
      method: 'DELETE',
      url: '/api/gateways/gw-rot',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(deleted.statusCode).toBe(200);
    await Promise.race([gone, sleep(5000).then(() => Promise.reject(new Error('session not ended')))]);
    await expect(
      mqtt.connectAsync(stack.brokerUrl, {
        protocolVersion: 4,
        clientId: 'gw-rot',
        username: 'gw-rot',
        password: fresh,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow();
    expect(stack.hub.app.registry.getGateway('gw-rot')).toBeUndefined();
    const audit = stack.hub.app.audit.list({ limit: 10, action: 'gateway' }).map((e) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['gateway.rotate', 'gateway.delete']));
  });

  it('a stranger’s failed CONNECTs never keep the real gateway out (hostile pass: 35 of them locked it out)', async () => {
    const stack = await stackFor(kind, [['gw-victim', SITE]], {
      hubConfig: {
        limits: {
          connectFailuresPerMinutePerAddress: 10,
          connectFailuresPerSecond: 20,
          connectFailureMaxDelayMs: 1500,
        },
      },
    });
    const real = stack.passwords.get('gw-victim') as string;
    // 40 wrong passwords for the gateway's username from a stranger's address, all at once.
    const storm = Array.from({ length: 40 }, (_, i) =>
      connectFrom(stack, '127.0.0.2', 'gw-victim', `guess-${i}`),
    );
    await sleep(300);
    // The real gateway, from its own address, meanwhile and after: in at once.
    const during = await connectFrom(stack, '127.0.0.1', 'gw-victim', real);
    expect(during.outcome).toBe('accepted');
    const results = await Promise.all(storm);
    expect(results.every((r) => r.outcome !== 'accepted')).toBe(true);
    // Then one guess every 200 ms while the gateway reconnects: every one of its attempts gets in,
    // from its own address and from the stranger's (one carrier NAT for both).
    const guesser = setInterval(
      () => void connectFrom(stack, '127.0.0.2', 'gw-victim', 'still-guessing'),
      200,
    );
    try {
      for (let i = 0; i < 6; i++) {
        const from = i % 2 === 0 ? '127.0.0.1' : '127.0.0.2';
        const attempt = await connectFrom(stack, from, 'gw-victim', real);
        expect(attempt.outcome, `attempt ${i} from ${from}`).toBe('accepted');
        expect(attempt.ms).toBeLessThan(1000);
      }
    } finally {
      clearInterval(guesser);
    }
    if (kind === 'embedded') {
      // The stranger's address is past its budget: its failures now wait; another address's do not.
      const slow = await connectFrom(stack, '127.0.0.2', 'gw-victim', 'one-more');
      expect(slow.outcome).not.toBe('accepted');
      expect(slow.ms).toBeGreaterThanOrEqual(1400);
      const fresh = await connectFrom(stack, '127.0.0.3', 'gw-victim', 'first-try');
      expect(fresh.outcome).toBe('refused');
      expect(fresh.ms).toBeLessThan(1000);
      expect(
        await stack.hub.metric('qly_broker_refused_total', { reason: 'connect_throttled' }),
      ).toBeGreaterThan(0);
      expect(await stack.hub.metric('qly_broker_refused_total', { reason: 'connect_rate' })).toBe(0);
    }
  });
});
