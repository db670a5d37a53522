/**
 * The durable outbox under failure:
 *  - the broker (real Mosquitto) is stopped while the gateway keeps producing, then started again:
 *    every message arrives once, in order;
 *  - the edge agent process is killed with SIGKILL mid-stream and restarted: nothing lost, nothing
 *    stored twice.
 */
import { topics } from '@qianliyan/protocols';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from '../edge-agent/src/uplink/outbox.ts';
import { EdgeProcess } from './support/edge.ts';
import { brokerKinds, type Stack, startStack } from './support/stack.ts';
import { startUplink } from './support/uplink.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'village-b';

describe.skipIf(!brokerKinds().includes('mosquitto'))('outbox across a Mosquitto outage', () => {
  let stack: (Stack & { passwords: Map<string, string> }) | undefined;
  afterAll(async () => {
    await stack?.close();
  });

  it('delivers every message once and in order after the broker comes back', async () => {
    stack = await startStack('mosquitto', [['gw-outage', SITE]]);
    const broker = stack.mosquitto as NonNullable<Stack['mosquitto']>;
    const edge = await startUplink(
      stack.brokerUrl,
      SITE,
      'gw-outage',
      stack.passwords.get('gw-outage') as string,
    );
    const topic = topics.telemetry(SITE, 'gw-outage', 'meter');
    const sent: number[] = [];
    let i = 0;
    // ~500 messages/s from the "devices", for 3 s, whatever the uplink is doing.
    const producer = setInterval(() => {
      for (let k = 0; k < 10; k++) sent.push(edge.send(topic, { ts: Date.now(), values: { i: i++ } }));
    }, 20);
    try {
      await sleep(800);
      await broker.stop();
      const depthAtStop = edge.outbox.depth;
      await sleep(1200);
      // While the broker is down, messages pile up on disk instead of being lost.
      expect(edge.uplink.connected).toBe(false);
      expect(edge.outbox.depth).toBeGreaterThan(depthAtStop + 200);
      await broker.start();
      await sleep(1000);
    } finally {
      clearInterval(producer);
    }
    await edge.drained();
    await waitFor(
      `all ${sent.length} rows stored`,
      async () => (await stack?.hub.store.countTelemetry()) === sent.length,
      30_000,
    );
    await stack.hub.app.ingest.flush();
    expect(stack.hub.store.seqsOf('gw-outage')).toEqual(sent);
    expect(await stack.hub.metric('qly_ingest_seq_gaps_total')).toBe(0);
    await edge.close();
  });
});

describe('edge agent killed with SIGKILL mid-stream', () => {
  let stack: (Stack & { passwords: Map<string, string> }) | undefined;
  let agent: EdgeProcess | undefined;
  afterAll(async () => {
    await agent?.stop('SIGKILL');
    await stack?.close();
  });

  it('loses nothing and stores nothing twice after a restart', async () => {
    const GW = 'gw-kill';
    stack = await startStack('embedded', [[GW, SITE]]);
    const hub = stack.hub;
    const sensors = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({
      type: 'sim-sensor',
      id: `s${n}`,
      name: `Sensor ${n}`,
      position: { lat: 30 + n / 1000, lon: 120 },
      intervalMs: 50,
    }));
    agent = new EdgeProcess(
      { gateway: { id: GW, site: SITE }, mqtt: { url: stack.brokerUrl }, devices: sensors },
      stack.passwords.get(GW) as string,
    );
    agent.start();
    await waitFor('first telemetry stored', async () => (await hub.store.countTelemetry()) > 150, 30_000);
    expect(await agent.stop('SIGKILL')).toBeNull();
    // The broker publishes the gateway's last will: the hub shows it offline at once.
    await waitFor(
      'gateway offline by its last will',
      () => hub.app.registry.getGateway(GW)?.online === false,
      10_000,
    );
    expect(hub.app.registry.getDevice(`${GW}.s1`)?.status).toBe('offline');
    const storedAtKill = await hub.store.countTelemetry();

    agent.start();
    await waitFor(
      'telemetry resumes after restart',
      async () => (await hub.store.countTelemetry()) > storedAtKill + 150,
      30_000,
    );
    expect(await agent.stop('SIGTERM')).toBe(0); // a clean stop drains the outbox first

    const outbox = new Outbox({ path: agent.outboxPath, maxMessages: 1_000_000, fsync: false });
    const lastSeq = outbox.nextSeqOf('bulk') - 1;
    expect(outbox.depth).toBe(0);
    expect(outbox.dropped).toBe(0);
    outbox.close();

    // Every seq 1..lastSeq was accepted exactly once: no gap, and the high-water mark is the last seq.
    await waitFor(
      'hub caught up with the last seq',
      () => hub.app.ingest.seqHighWater(GW) === lastSeq,
      15_000,
    );
    await hub.app.ingest.flush();
    expect(await hub.metric('qly_ingest_seq_gaps_total')).toBe(0);
    const seqs = hub.store.seqsOf(GW);
    expect(new Set(seqs).size).toBe(seqs.length); // nothing stored twice
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // in order
    expect(seqs.length).toBeGreaterThan(300);
  });
});
