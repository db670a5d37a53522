/**
 * Edge uplink → real broker (embedded aedes, and Mosquitto) → hub ingest → SQLite:
 * N messages published = N rows stored; duplicates dropped; gaps counted.
 */
import { topics } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerKinds, connectAsGateway, type Stack, startStack } from './support/stack.ts';
import { startUplink } from './support/uplink.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'village-a';
const GW = 'gw-int';
const N = 3000;

describe.each(brokerKinds())('ingest through the %s broker', (kind) => {
  let stack: Stack & { passwords: Map<string, string> };
  let edge: Awaited<ReturnType<typeof startUplink>>;
  let lastSeq = 0;

  beforeAll(async () => {
    stack = await startStack(kind, [[GW, SITE]]);
    edge = await startUplink(stack.brokerUrl, SITE, GW, stack.passwords.get(GW) as string);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it(`stores exactly N=${N} telemetry rows for N published messages, in seq order`, async () => {
    const ts = Date.now() - N; // samples 1 ms apart, the newest now
    edge.send(
      topics.meta(SITE, GW, 'd1'),
      {
        ts,
        kind: 'sensor',
        name: 'Sensor 1',
        position: { lat: 30, lon: 120 },
        capabilities: ['telemetry.temperature'],
      },
      true,
    );
    const seqs: number[] = [];
    for (let i = 0; i < N; i++)
      seqs.push(edge.send(topics.telemetry(SITE, GW, 'd1'), { ts: ts + i, values: { temperature: i } }));
    lastSeq = seqs.at(-1) as number;
    await edge.drained();
    await waitFor('all rows stored', async () => (await stack.hub.store.countTelemetry(`${GW}.d1`)) === N);
    await stack.hub.app.ingest.flush();
    expect(await stack.hub.store.countTelemetry(`${GW}.d1`)).toBe(N);
    expect(stack.hub.store.seqsOf(GW)).toEqual(seqs);
    expect(await stack.hub.metric('qly_ingest_seq_gaps_total')).toBe(0);
    expect(await stack.hub.metric('qly_ingest_rejected_total', { reason: 'duplicate' })).toBe(0);
    expect(await stack.hub.metric('qly_ingest_messages_total', { kind: 'telemetry' })).toBe(N);
    // the registry shows the device with its latest value
    // …and its history is there through the REST API, downsampled into buckets
    const history = await stack.hub.app.inject({
      url: `/api/devices/${GW}.d1/history?field=temperature&from=${ts}&to=${ts + N}&bucketMs=1000`,
      headers: { authorization: `Bearer ${await stack.hub.token()}` },
    });
    expect(history.statusCode).toBe(200);
    const points = history.json().points as Array<{ count: number; min: number; max: number }>;
    expect(points.reduce((n, p) => n + p.count, 0)).toBe(N);
    expect(Math.min(...points.map((p) => p.min))).toBe(0);
    expect(Math.max(...points.map((p) => p.max))).toBe(N - 1);
    const device = stack.hub.app.registry.getDevice(`${GW}.d1`);
    expect(device?.values.temperature).toBe(N - 1);
    expect(device?.status).toBe('online');
  });

  it('drops re-sent seqs as duplicates and counts the gap when seqs jump', async () => {
    const rowsBefore = await stack.hub.store.countTelemetry();
    // The gateway's session resumed by another connection replays messages the hub already has.
    await edge.close();
    const raw = await connectAsGateway(stack, GW);
    const topic = topics.telemetry(SITE, GW, 'd1');
    for (let seq = lastSeq - 99; seq <= lastSeq; seq++) {
      await raw.publishAsync(
        topic,
        JSON.stringify({ seq, epoch: edge.outbox.epoch, ts: Date.now(), values: { temperature: -1 } }),
        {
          qos: 1,
        },
      );
    }
    await waitFor(
      '100 duplicates counted',
      async () => (await stack.hub.metric('qly_ingest_rejected_total', { reason: 'duplicate' })) === 100,
    );
    // Ten messages lost upstream: the next seq is 11 ahead.
    await raw.publishAsync(
      topic,
      JSON.stringify({
        seq: lastSeq + 11,
        epoch: edge.outbox.epoch,
        ts: Date.now(),
        values: { temperature: 42 },
      }),
      { qos: 1 },
    );
    await waitFor('gap counted', async () => (await stack.hub.metric('qly_ingest_seq_gaps_total')) === 10);
    await stack.hub.app.ingest.flush();
    expect(await stack.hub.store.countTelemetry()).toBe(rowsBefore + 1);
    expect(stack.hub.app.registry.getDevice(`${GW}.d1`)?.values.temperature).toBe(42);
    await raw.endAsync();
  });
});
