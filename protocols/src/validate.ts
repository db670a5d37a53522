/**
 * Payload validation shared by hub and edge. Validators are compiled once at module load.
 * Every rejection carries a reason code from REJECT_REASONS, used as a metrics label.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { ACTIONS, isKnownAction } from './actions.ts';
import { MAX_PAYLOAD_BYTES, type RejectReason } from './limits.ts';
import { PAYLOAD_SCHEMAS, type PayloadOf } from './schemas.ts';
import type { TopicKind } from './topics.ts';

export { MAX_PAYLOAD_BYTES, REJECT_REASONS, type RejectReason } from './limits.ts';

export type Validation<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

/** Strict: a byte sequence that is not valid UTF-8 is an error, never replaced by U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

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
    parsed = JSON.parse(utf8.decode(payload));
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

const ACTION_PARAMS = new Map(
  Object.entries(ACTIONS).map(([name, spec]) => [
    name,
    { schema: spec.params, check: TypeCompiler.Compile(spec.params) },
  ]),
);

/**
 * Checks a command's params against the catalog and fills their defaults. Returns the params to
 * send (or run), or the first problem with its JSON path.
 */
export function validateActionParams(
  action: string,
  params: unknown,
): { ok: true; value: Record<string, unknown> } | { ok: false; detail: string } {
  if (!isKnownAction(action)) return { ok: false, detail: `unknown action ${JSON.stringify(action)}` };
  const entry = ACTION_PARAMS.get(action);
  if (!entry) return { ok: false, detail: `unknown action ${action}` };
  const value = Value.Default(entry.schema, structuredClone(params ?? {}));
  if (entry.check.Check(value)) return { ok: true, value: value as Record<string, unknown> };
  const first = entry.check.Errors(value).First();
  return { ok: false, detail: first ? `params${first.path}: ${first.message}` : 'invalid params' };
}
