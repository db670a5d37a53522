/** Golden tests: every file under golden/<kind>/ is a payload that must be accepted or rejected. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodePayload, MAX_PAYLOAD_BYTES, type TopicKind, validatePayload } from '../src/index.ts';

const GOLDEN = fileURLToPath(new URL('./golden', import.meta.url));
const KINDS: TopicKind[] = ['state', 'meta', 'telemetry', 'event', 'cmd', 'cmdResult'];

describe.each(KINDS)('golden payloads: %s', (kind) => {
  const files = readdirSync(join(GOLDEN, kind));
  const read = (f: string) => JSON.parse(readFileSync(join(GOLDEN, kind, f), 'utf8'));

  it('has valid and invalid cases', () => {
    expect(files.filter((f) => f.startsWith('valid.')).length).toBeGreaterThan(0);
    expect(files.filter((f) => f.startsWith('invalid.')).length).toBeGreaterThan(0);
  });

  it.each(files.filter((f) => f.startsWith('valid.')))('accepts %s', (file) => {
    const payload = read(file);
    const result = decodePayload(kind, Buffer.from(JSON.stringify(payload)));
    expect(result).toEqual({ ok: true, value: payload });
  });

  it.each(files.filter((f) => f.startsWith('invalid.')))('rejects %s with its reason', (file) => {
    const { reason, payload } = read(file);
    const result = decodePayload(kind, Buffer.from(JSON.stringify(payload)));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe(reason);
      expect(result.detail.length).toBeGreaterThan(0);
    }
  });
});

describe('decodePayload', () => {
  const now = 1_800_000_000_000;
  const telemetry = (ts: number) => Buffer.from(JSON.stringify({ seq: 1, ts, values: { a: 1 } }));

  it('rejects bytes that are not JSON', () => {
    const r = decodePayload('telemetry', Buffer.from('{"seq":1,'));
    expect(r).toMatchObject({ ok: false, reason: 'invalid_json' });
  });

  it('rejects payloads over the size limit before parsing them', () => {
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20);
    expect(decodePayload('telemetry', big)).toMatchObject({ ok: false, reason: 'oversize' });
    expect(decodePayload('telemetry', telemetry(now), { maxBytes: 10 })).toMatchObject({
      ok: false,
      reason: 'oversize',
    });
  });

  it('rejects timestamps too far in the future, including inside a batch', () => {
    expect(decodePayload('telemetry', telemetry(now + 60_001), { now, maxFutureMs: 60_000 })).toMatchObject({
      ok: false,
      reason: 'future_timestamp',
    });
    expect(decodePayload('telemetry', telemetry(now + 59_000), { now, maxFutureMs: 60_000 }).ok).toBe(true);
    const batch = Buffer.from(
      JSON.stringify({ seq: 1, ts: now, samples: [{ ts: now + 3_600_000, values: { a: 1 } }] }),
    );
    expect(decodePayload('telemetry', batch, { now, maxFutureMs: 60_000 })).toMatchObject({
      ok: false,
      reason: 'future_timestamp',
    });
  });

  it('names the failing path in the detail', () => {
    const r = validatePayload('meta', {
      seq: 1,
      ts: 1,
      kind: 'camera',
      name: 'x',
      position: { lat: 100, lon: 0 },
      capabilities: [],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail).toContain('/position/lat');
  });
});
