/** Golden tests: every file under golden/<kind>/ is a payload that must be accepted or rejected. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES, type TopicKind } from '../src/index.ts';
import { decodePayload, validateActionParams, validatePayload } from '../src/validate.ts';

const GOLDEN = fileURLToPath(new URL('./golden', import.meta.url));
const KINDS: TopicKind[] = [
  'state',
  'meta',
  'availability',
  'recordings',
  'telemetry',
  'event',
  'cmd',
  'cmdResult',
];

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
  const telemetry = (ts: number) =>
    Buffer.from(JSON.stringify({ seq: 1, epoch: 'e1', ts, values: { a: 1 } }));

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
      JSON.stringify({ seq: 1, epoch: 'e1', ts: now, samples: [{ ts: now + 3_600_000, values: { a: 1 } }] }),
    );
    expect(decodePayload('telemetry', batch, { now, maxFutureMs: 60_000 })).toMatchObject({
      ok: false,
      reason: 'future_timestamp',
    });
  });

  it('names the failing path in the detail', () => {
    const r = validatePayload('meta', {
      seq: 1,
      epoch: 'e1',
      ts: 1,
      kind: 'camera',
      name: 'x',
      position: { lat: 100, lon: 0 },
      capabilities: [],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail).toContain('/position/lat');
  });

  it('rejects bytes that are not valid UTF-8 instead of replacing them', () => {
    // {"seq":1,"epoch":"e1","ts":1,"values":{"a":"<ff>"}}: JSON-shaped, but 0xFF is never UTF-8.
    const prefix = Buffer.from('{"seq":1,"epoch":"e1","ts":1,"values":{"a":"');
    const bytes = Buffer.concat([prefix, Buffer.from([0xff]), Buffer.from('"}}')]);
    expect(decodePayload('telemetry', bytes)).toMatchObject({ ok: false, reason: 'invalid_json' });
    // An overlong encoding of "/" (0xC0 0xAF) is invalid too.
    const overlong = Buffer.concat([prefix, Buffer.from([0xc0, 0xaf]), Buffer.from('"}}')]);
    expect(decodePayload('telemetry', overlong)).toMatchObject({ ok: false, reason: 'invalid_json' });
    const fine = Buffer.concat([prefix, Buffer.from('千里眼'), Buffer.from('"}}')]);
    expect(decodePayload('telemetry', fine).ok).toBe(true);
  });
});

describe('validateActionParams', () => {
  it('fills defaults and accepts valid params', () => {
    expect(validateActionParams('ptz.move', { pan: 0.5 })).toEqual({
      ok: true,
      value: { pan: 0.5, tilt: 0, zoom: 0, durationMs: 1000 },
    });
    expect(validateActionParams('drone.goto', { lat: 30, lon: 120, alt: 50 })).toMatchObject({ ok: true });
  });

  it('names the failing param, and refuses unknown actions and keys', () => {
    expect(validateActionParams('ptz.move', { pan: 2 })).toMatchObject({
      ok: false,
      detail: expect.stringContaining('params/pan'),
    });
    expect(validateActionParams('drone.goto', { lat: 30, lon: 120 })).toMatchObject({
      ok: false,
      detail: expect.stringContaining('alt'),
    });
    expect(validateActionParams('ptz.stop', { extra: 1 })).toMatchObject({ ok: false });
    expect(validateActionParams('self.destruct', {})).toMatchObject({
      ok: false,
      detail: expect.stringContaining('unknown action'),
    });
    expect(validateActionParams('constructor', {})).toMatchObject({ ok: false });
  });
});
