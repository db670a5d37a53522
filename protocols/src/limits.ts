/** Limits and rejection reasons of the contract, shared by every side (no schema compiler here). */

/** Why an edge message was rejected; each is a metrics label. See protocols/README.md. */
export const REJECT_REASONS = [
  'unknown_topic',
  'oversize',
  'invalid_json',
  'schema',
  'future_timestamp',
  'duplicate',
  'stale_epoch',
  'unknown_gateway',
  'rate_limited',
  'retained_refused',
  'device_quota',
  'outside_site',
  'store_failed',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Largest payload either side accepts, in bytes. Telemetry batches of 500 samples fit well inside. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
