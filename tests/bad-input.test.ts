/**
 * Bad input over MQTT: malformed JSON, invalid UTF-8, schema violations, oversize payloads and
 * far-future timestamps are rejected and counted by reason in /metrics; the hub stays up and the
 * valid traffic interleaved with them is stored in full. Topics outside the contract never reach
 * the hub: both brokers refuse them (the security suite covers that). Runs on both brokers.
 */
import { topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerKinds, connectAsGateway, type Stack, startStack } from './support/stack.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'village-c';
const GW = 'gw-bad';

describe.each(brokerKinds())('bad MQTT input through the %s broker', (kind) => {
  let stack: Stack & { passwords: Map<string, string> };
  beforeAll(async () => {
    stack = await startStack(
      kind,
      [
        [GW, SITE],
        ['gw-stranger', 'village-x'],
      ],
      { hubConfig: { ingest: { maxPayloadBytes: 65536 } } },
    );
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('rejects and counts each kind of bad message while storing every valid one', async () => {
    const client = await connectAsGateway(stack, GW);
    const telemetry = topics.telemetry(SITE, GW, 'probe');
    const now = Date.now();
    const bad: Array<[reason: string, topic: string, payload: string | Buffer]> = [
      ['invalid_json', telemetry, '{"seq": 1, "ts": '],
      ['invalid_json', telemetry, Buffer.from([0xff, 0xfe, 0x00])],
      // JSON-shaped but not UTF-8 (a lenient decoder would store U+FFFD): refused.
      [
        'invalid_json',
        telemetry,
        Buffer.concat([
          Buffer.from(`{"seq":1,"epoch":"bad-input","ts":${now},"values":{"name":"`),
          Buffer.from([0xff]),
          Buffer.from('"}}'),
        ]),
      ],
      ['schema', telemetry, JSON.stringify({ seq: 1, epoch: 'bad-input', ts: now })],
      ['schema', telemetry, JSON.stringify({ seq: -4, epoch: 'bad-input', ts: now, values: { a: 1 } })],
      ['schema', telemetry, JSON.stringify({ seq: 1, ts: now, values: { a: 1 } })],
      ['schema', topics.meta(SITE, GW, 'probe'), JSON.stringify({ seq: 1, ts: now, kind: 'camera' })],
      [
        'schema',
        topics.event(SITE, GW, 'probe'),
        JSON.stringify({ seq: 1, ts: now, type: 'x', severity: 'apocalyptic' }),
      ],
      // Over ingest's limit (64 KiB here) but under the broker's packet limit (256 KiB).
      [
        'oversize',
        telemetry,
        JSON.stringify({ seq: 1, epoch: 'bad-input', ts: now, values: { blob: 'x'.repeat(100 * 1024) } }),
      ],
      [
        'future_timestamp',
        telemetry,
        JSON.stringify({ seq: 1, epoch: 'bad-input', ts: now + 24 * 3600_000, values: { a: 1 } }),
      ],
    ];
    const expected = new Map<string, number>();
    let seq = 0;
    const valid: number[] = [];
    // Interleave: one bad message after every ten valid ones.
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 10; k++) {
        seq += 1;
        valid.push(seq);
        await client.publishAsync(
          telemetry,
          JSON.stringify({ seq, epoch: 'bad-input', ts: Date.now(), values: { n: seq } }),
          {
            qos: 1,
          },
        );
      }
      for (const [reason, topic, payload] of bad) {
        await client.publishAsync(topic, payload, { qos: 1 });
        expected.set(reason, (expected.get(reason) ?? 0) + 1);
      }
    }
    await waitFor(
      'every valid message stored',
      async () => (await stack.hub.store.countTelemetry(`${GW}.probe`)) === valid.length,
    );
    for (const [reason, count] of expected) {
      await waitFor(
        `${count} rejections for ${reason}`,
        async () => (await stack.hub.metric('qly_ingest_rejected_total', { reason })) === count,
      );
    }
    await stack.hub.app.ingest.flush();
    expect(stack.hub.store.seqsOf(GW)).toEqual(valid);
    expect(await stack.hub.metric('qly_ingest_rejected_total', { reason: 'duplicate' })).toBe(0);

    // The hub is still up and serving.
    const health = await stack.hub.app.inject({
      url: '/api/health',
      headers: { authorization: `Bearer ${await stack.hub.token()}` },
    });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok', broker: { connected: true } });
    await client.endAsync();
  });

  it('rejects a registered gateway that publishes under another site than its own', async () => {
    // The embedded broker refuses this publish outright; Mosquitto's ACL lets `+` match any site,
    // so there the hub's own check must catch it.
    const client = await mqtt.connectAsync(stack.brokerUrl, {
      protocolVersion: 4,
      clientId: 'stranger',
      username: 'gw-stranger',
      password: stack.passwords.get('gw-stranger') as string,
      reconnectPeriod: 0,
    });
    const before = await stack.hub.metric('qly_ingest_rejected_total', { reason: 'unknown_gateway' });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(
      topics.telemetry(SITE, 'gw-stranger', 'x'),
      JSON.stringify({ seq: 1, epoch: 'stranger', ts: Date.now(), values: { a: 1 } }),
      { qos: 1 },
    );
    if (kind === 'embedded') {
      await closed; // the embedded broker cuts the offender's connection
    } else {
      await waitFor(
        'unknown_gateway counted',
        async () =>
          (await stack.hub.metric('qly_ingest_rejected_total', { reason: 'unknown_gateway' })) === before + 1,
      );
    }
    expect(await stack.hub.store.countTelemetry('gw-stranger.x')).toBe(0);
    await client.endAsync(true);
  });
});
