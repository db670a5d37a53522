/**
 * What the hub must never lose, through real brokers and the real edge outbox/uplink:
 *  - a reset outbox (first contact, wiped outbox, hub restarted in between) is stored from seq 1;
 *  - the shipped Mosquitto config queues everything a gateway sent while the hub is down, and a
 *    queue overflow shows as seq gaps;
 *  - a failing store holds acks, stops taking messages at a bounded backlog, then stores
 *    everything exactly once;
 *  - a throwing listener costs no accepted data;
 *  - control messages overtake a telemetry backlog.
 */
import { rmSync } from 'node:fs';
import { topics } from '@qianliyan/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import type { WriteBatch } from '../hub/src/stores/timeseries.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { brokerKinds, type Stack, startStack } from './support/stack.ts';
import { startUplink } from './support/uplink.ts';
import { freePort, sleep, waitFor } from './support/wait.ts';

const SITE = 'village-d';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const sensors = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'sim-sensor',
    id: `s${i + 1}`,
    name: `Sensor ${i + 1}`,
    position: { lat: 30 + i / 1000, lon: 120 },
    intervalMs: 600_000, // one sample at start-up, then quiet
  }));

describe('a reset outbox is stored, not muted', () => {
  it('stores the start-up samples of a wiped outbox, with the hub restarted in between', async () => {
    const GW = 'gw-wipe';
    const port = await freePort();
    let hub: TestHub = await startTestHub({ embeddedPort: port });
    cleanups.push(() => hub.close());
    const password = await hub.provisionGateway(GW, SITE);
    const agent = new EdgeProcess(
      { gateway: { id: GW, site: SITE }, mqtt: { url: hub.brokerUrl }, devices: sensors(8) },
      password,
    );
    cleanups.push(() => agent.stop('SIGKILL'));
    agent.start();
    await waitFor('first 8 samples stored', async () => (await hub.store.countTelemetry()) === 8, 30_000);
    expect(await agent.stop('SIGTERM')).toBe(0);

    // The hub restarts on the same files (its dedup marks reload), then the gateway's disk is wiped.
    const { dataDir } = hub;
    await hub.close();
    hub = await startTestHub({ dataDir, embeddedPort: port });
    rmSync(agent.outboxPath, { force: true });
    rmSync(`${agent.outboxPath}-wal`, { force: true });
    rmSync(`${agent.outboxPath}-shm`, { force: true });
    agent.start();
    await waitFor(
      'the wiped outbox’s 8 samples stored too',
      async () => (await hub.store.countTelemetry()) === 16,
      30_000,
    );
    await hub.app.ingest.flush();
    expect(await hub.metric('qly_ingest_rejected_total', { reason: 'duplicate' })).toBe(0);
    expect(await hub.metric('qly_ingest_seq_gaps_total')).toBe(0);
    // Both epochs' samples, each seq 1–8 of its own epoch's bulk lane.
    expect([...hub.store.seqsOf(GW)].sort((a, b) => a - b)).toEqual([
      1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8,
    ]);
  });

  it('stores a fresh outbox from its first message when the hub already knows the gateway', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.close());
    const GW = 'gw-fresh';
    const password = await hub.provisionGateway(GW, SITE);
    const topic = topics.telemetry(SITE, GW, 'm');
    const first = await startUplink(hub.brokerUrl, SITE, GW, password);
    for (let i = 0; i < 500; i++) first.send(topic, { ts: Date.now(), values: { i } });
    await first.drained();
    await first.close();
    // A different outbox (new epoch), seq 1–20, while the hub's window stands at 500.
    const second = await startUplink(hub.brokerUrl, SITE, GW, password);
    cleanups.push(() => second.close());
    for (let i = 0; i < 20; i++) second.send(topic, { ts: Date.now(), values: { i } });
    await second.drained();
    await waitFor('all 520 stored', async () => (await hub.store.countTelemetry()) === 520);
    expect(await hub.metric('qly_ingest_rejected_total', { reason: 'duplicate' })).toBe(0);
  });
});

describe.skipIf(!brokerKinds().includes('mosquitto'))('the shipped Mosquitto configuration', () => {
  it('queues everything sent while the hub is down; nothing the gateway deleted is lost', async () => {
    const stack = await startStack('mosquitto', [['gw-queue', SITE]]);
    cleanups.push(() => stack.close());
    const edge = await startUplink(
      stack.brokerUrl,
      SITE,
      'gw-queue',
      stack.passwords.get('gw-queue') as string,
    );
    cleanups.push(() => edge.close());
    const { dataDir } = stack.hub;
    const hubConfig = stack.hub.app.config;
    await stack.hub.close();
    const topic = topics.telemetry(SITE, 'gw-queue', 'm');
    for (let i = 0; i < 3000; i++) edge.send(topic, { ts: Date.now(), values: { i } });
    await edge.drained(); // the broker acknowledged all 3,000: the outbox no longer has them
    const hub = await startTestHub({
      dataDir,
      mqttUrl: stack.brokerUrl,
      mqttPassword: stack.hub.app.secrets.mqttPassword as string,
      config: { mqtt: { protocolVersion: 5, mosquitto: hubConfig.mqtt.mosquitto } },
    });
    cleanups.push(() => hub.close());
    await waitFor('all 3,000 stored', async () => (await hub.store.countTelemetry()) === 3000, 30_000);
    expect(await hub.metric('qly_ingest_seq_gaps_total')).toBe(0);
  });

  it('shows a queue overflow as seq gaps (queue limit lowered to 200 for this test)', async () => {
    const stack = await startStack('mosquitto', [['gw-overflow', SITE]], {
      mosquitto: { overrides: { max_queued_messages: '200' } },
    });
    cleanups.push(() => stack.close());
    const edge = await startUplink(
      stack.brokerUrl,
      SITE,
      'gw-overflow',
      stack.passwords.get('gw-overflow') as string,
    );
    cleanups.push(() => edge.close());
    const { dataDir } = stack.hub;
    const mosquittoSync = stack.hub.app.config.mqtt.mosquitto;
    await stack.hub.close();
    const topic = topics.telemetry(SITE, 'gw-overflow', 'm');
    for (let i = 0; i < 3000; i++) edge.send(topic, { ts: Date.now(), values: { i } });
    await edge.drained();
    const hub = await startTestHub({
      dataDir,
      mqttUrl: stack.brokerUrl,
      mqttPassword: stack.hub.app.secrets.mqttPassword as string,
      config: { mqtt: { protocolVersion: 5, mosquitto: mosquittoSync } },
    });
    cleanups.push(() => hub.close());
    await sleep(1000);
    edge.send(topic, { ts: Date.now(), values: { i: 3000 } }); // the next message reveals the hole
    await edge.drained();
    await waitFor(
      'the last message stored',
      async () => hub.app.ingest.seqHighWater('gw-overflow') === 3001,
      15_000,
    );
    await hub.app.ingest.flush();
    const stored = await hub.store.countTelemetry();
    const gaps = await hub.metric('qly_ingest_seq_gaps_total');
    expect(stored).toBeLessThan(3001);
    expect(gaps).toBeGreaterThan(0);
    expect(stored + gaps).toBe(3001); // every message is either stored or counted missing
  });
});

describe.each(brokerKinds())('a failing store (%s broker)', (kind) => {
  it('holds acks, stops taking messages at a bounded backlog, then stores everything exactly once', async () => {
    const GW = 'gw-store';
    const stack: Stack & { passwords: Map<string, string> } = await startStack(kind, [[GW, SITE]], {
      hubConfig: { ingest: { maxBacklogRows: 500, retryMinMs: 50, retryMaxMs: 200 } },
    });
    cleanups.push(() => stack.close());
    const { app } = stack.hub;
    const store = app.timeseries;
    const write = store.write.bind(store);
    let failing = true;
    let largestBatch = 0;
    store.write = async (batch: WriteBatch) => {
      if (failing) throw new Error('disk full (injected)');
      largestBatch = Math.max(largestBatch, batch.telemetry.length);
      return write(batch);
    };
    const edge = await startUplink(stack.brokerUrl, SITE, GW, stack.passwords.get(GW) as string);
    cleanups.push(() => edge.close());
    const topic = topics.telemetry(SITE, GW, 'm');
    const sent: number[] = [];
    for (let i = 0; i < 3000; i++) sent.push(edge.send(topic, { ts: Date.now(), values: { i } }));
    await waitFor(
      'the hub stops taking messages',
      async () => (await stack.hub.metric('qly_ingest_saturated')) === 1,
    );
    await sleep(500);
    // Bounded: the backlog stops near its limit instead of growing with what the broker holds.
    expect(app.ingest.backlog).toBeGreaterThanOrEqual(500);
    expect(app.ingest.backlog).toBeLessThan(500 + 1500);
    expect(await stack.hub.metric('qly_store_write_failures_total')).toBeGreaterThan(0);
    expect(await stack.hub.store.countTelemetry()).toBe(0);
    failing = false;
    await waitFor('all 3,000 stored', async () => (await stack.hub.store.countTelemetry()) === 3000, 30_000);
    await app.ingest.flush();
    expect(stack.hub.store.seqsOf(GW)).toEqual(sent);
    expect(await stack.hub.metric('qly_ingest_seq_gaps_total')).toBe(0);
    expect(await stack.hub.metric('qly_ingest_saturated')).toBe(0);
    expect(largestBatch).toBeGreaterThan(0);
  });
});

describe('a throwing listener', () => {
  it('costs no accepted data and is counted by listener, not as a schema rejection', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.close());
    const GW = 'gw-listener';
    const password = await hub.provisionGateway(GW, SITE);
    hub.app.bus.on('deviceChanged', 'test-broken', () => {
      throw new Error('a broken listener');
    });
    const registry = hub.app.registry;
    const applyTelemetry = registry.applyTelemetry.bind(registry);
    let calls = 0;
    registry.applyTelemetry = (...args) => {
      calls += 1;
      if (calls % 2 === 0) throw new Error('a broken live-state update');
      applyTelemetry(...args);
    };
    const edge = await startUplink(hub.brokerUrl, SITE, GW, password);
    cleanups.push(() => edge.close());
    edge.send(topics.meta(SITE, GW, 'm'), {
      ts: Date.now(),
      kind: 'sensor',
      name: 'M',
      position: { lat: 30, lon: 120 },
      capabilities: [],
    });
    // Batches of 10 samples: a throw in the middle of one must not drop the rest of it.
    // (Each sample at its own time: stores keep one value per device, time and message.)
    for (let i = 0; i < 100; i++) {
      const now = Date.now();
      edge.send(topics.telemetry(SITE, GW, 'm'), {
        ts: now,
        samples: Array.from({ length: 10 }, (_, k) => ({ ts: now - k, values: { v: i * 10 + k } })),
      });
    }
    await edge.drained();
    await waitFor('all 1,000 samples stored', async () => (await hub.store.countTelemetry()) === 1000);
    expect(await hub.metric('qly_ingest_rejected_total', { reason: 'schema' })).toBe(0);
    expect(await hub.metric('qly_ingest_apply_errors_total', { step: 'telemetry' })).toBeGreaterThan(0);
    expect(
      await hub.metric('qly_bus_listener_errors_total', { event: 'deviceChanged', listener: 'test-broken' }),
    ).toBeGreaterThan(0);
  });
});

describe('control before bulk', () => {
  it('an event and a command result overtake a backlog of 20,000 telemetry rows', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.close());
    const GW = 'gw-lanes';
    const password = await hub.provisionGateway(GW, SITE);
    const edge = await startUplink(hub.brokerUrl, SITE, GW, password);
    cleanups.push(() => edge.close());
    await edge.uplink.stop(); // offline: the backlog builds up on disk
    const topic = topics.telemetry(SITE, GW, 'm');
    for (let i = 0; i < 20_000; i++) edge.outbox.enqueue(topic, { ts: Date.now(), values: { i } });
    edge.outbox.enqueue(topics.cmdResult(SITE, GW), { ts: Date.now(), id: 'c-first', status: 'ok' });
    let telemetryWhenResultArrived = -1;
    hub.app.bus.on('commandResult', 'test', () => {
      void hub.metric('qly_ingest_messages_total', { kind: 'telemetry' }).then((n) => {
        telemetryWhenResultArrived = n;
      });
    });
    const online = await startUplink(hub.brokerUrl, SITE, GW, password, 1_000_000, edge.outbox);
    cleanups.push(() => online.close());
    await waitFor('the result arrived', () => telemetryWhenResultArrived >= 0, 30_000);
    expect(telemetryWhenResultArrived).toBeLessThan(1000);
    await online.drained(60_000);
    await waitFor('the backlog stored', async () => (await hub.store.countTelemetry()) === 20_000, 30_000);
  });
});
