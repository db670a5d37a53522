/**
 * Payload validation shared by hub and edge. Validators are compiled once at module load.
 * Every rejection carries a reason code from REJECT_REASONS, used as a metrics label.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { PAYLOAD_SCHEMAS, type PayloadOf } from './schemas.ts';
import type { TopicKind } from './topics.ts';

export const REJECT_REASONS = [
  'unknown_topic',
  'oversize',
  'invalid_json',
  'schema',
  'future_timestamp',
  'duplicate',
  'unknown_gateway',
  'store_failed',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Largest payload either side accepts, in bytes. Telemetry batches of 500 samples fit well inside. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

export type Validation<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

const COMPILED = Object.fromEntries(
  Object.entries(PAYLOAD_SCHEMAS).map(([kind, schema]) => [kind, TypeCompiler.Compile(schema)]),
) as { [K in TopicKind]: ReturnType<typeof TypeCompiler.Compile<(typeof PAYLOAD_SCHEMAS)[K]>> };

export interface DecodeOptions {
  maxBytes?: number;
  /** Reject timestamps further than this in the future of `now` (clock skew allowance). */
  maxFutureMs?: number;
  now?: number;
}

/** Checks an already-parsed value against the schema of a topic kind. */
export function validatePayload<K extends TopicKind>(kind: K, value: unknown): Validation<PayloadOf[K]> {
  const check = COMPILED[kind];
  if (check.Check(value)) return { ok: true, value: value as PayloadOf[K] };
  const first = check.Errors(value).First();
  const detail = first ? `${first.path || '/'}: ${first.message}` : 'does not match the schema';
  return { ok: false, reason: 'schema', detail };
}

/** Decodes raw MQTT payload bytes for a topic kind: size, JSON, schema, then timestamp sanity. */
export function decodePayload<K extends TopicKind>(
  kind: K,
  payload: Uint8Array,
  options: DecodeOptions = {},
): Validation<PayloadOf[K]> {
  const maxBytes = options.maxBytes ?? MAX_PAYLOAD_BYTES;
  if (payload.byteLength > maxBytes) {
    return { ok: false, reason: 'oversize', detail: `${payload.byteLength} bytes > ${maxBytes}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(payload));
  } catch (err) {
    return { ok: false, reason: 'invalid_json', detail: (err as Error).message };
  }
  const result = validatePayload(kind, parsed);
  if (!result.ok) return result;
  if (options.maxFutureMs !== undefined) {
    const limit = (options.now ?? Date.now()) + options.maxFutureMs;
    const ts = latestTimestamp(result.value);
    if (ts !== undefined && ts > limit) {
      return {
        ok: false,
        reason: 'future_timestamp',
        detail: `ts ${ts} is more than ${options.maxFutureMs} ms ahead`,
      };
    }
  }
  return result;
}

function latestTimestamp(value: object): number | undefined {
  let ts = 'ts' in value && typeof value.ts === 'number' ? value.ts : undefined;
  if ('samples' in value && Array.isArray(value.samples)) {
    for (const s of value.samples as Array<{ ts: number }>) ts = Math.max(ts ?? 0, s.ts);
  }
  return ts;
}

export function encodePayload(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
