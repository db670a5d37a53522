/**
 * MAVLink 2 message signing (https://mavlink.io/en/guide/message_signing.html), both directions.
 *
 * A signed frame has incompat flag 0x01 and 13 more bytes after its checksum:
 *   link id (1) | timestamp (6, little-endian, 10 µs units since 2015-01-01 00:00 UTC) | signature (6)
 * where signature = the first 48 bits of SHA-256(secret key (32 bytes) + the frame from its start
 * byte through the timestamp).
 *
 * Accepting (the spec's "Accepting Signed Packets"): the signature must match; the timestamp must be
 * newer than the last one of the same stream (system id, component id, link id), else it is a
 * replay; a stream not seen before must not be more than one minute behind our own timestamp
 * (a capture replayed later). Our timestamp is the larger of our clock and the newest accepted one.
 *
 * node-mavlink can append a signature, but stamps it from Date.now() in milliseconds (two frames in
 * the same millisecond share a timestamp, which the receiver must refuse as a replay) and leaves the
 * incompat flag to the caller; it has no receiving side. Both are small, so they are written here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type MavLinkData, MavLinkProtocolV2 } from 'node-mavlink';
import type { Frame } from './framing.ts';

export const SIGNATURE_LENGTH = 13;
const IFLAG_SIGNED = 0x01;
const EPOCH_2015_MS = Date.UTC(2015, 0, 1);
/** One minute in signing units (10 µs). */
const NEW_STREAM_WINDOW = 6_000_000;
/** Streams remembered per key; only frames that carry a valid signature create one. */
const MAX_STREAMS = 256;

export type SigningRefusal = 'unsigned' | 'bad_signature' | 'replayed' | 'stale';

/** Now in signing units: 10 µs since 2015-01-01. */
export const signingNow = (): number => (Date.now() - EPOCH_2015_MS) * 100;

/**
 * Reads a 32-byte secret key from a file: 64 hex digits (whitespace ignored), as ArduPilot's
 * SETUP_SIGNING and MAVProxy take it. A passphrase-based key (Mission Planner) is its SHA-256:
 * `printf %s 'passphrase' | sha256sum | cut -c1-64 > key`.
 */
export function readSigningKey(file: string): Buffer {
  const hex = readFileSync(file, 'utf8').replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new Error(`${file} must hold the 32-byte signing key as 64 hex digits`);
  return Buffer.from(hex, 'hex');
}

function signatureOf(key: Buffer, frameUpToTimestamp: Buffer): Buffer {
  return createHash('sha256').update(key).update(frameUpToTimestamp).digest().subarray(0, 6);
}

/** One side's signing state: its key, its link id, and the streams it has accepted. */
export class MavlinkSigning {
  private lastSent = 0;
  private newest = 0;
  private readonly streams = new Map<string, number>();

  constructor(
    private readonly key: Buffer,
    readonly linkId: number,
  ) {
    if (key.length !== 32) throw new Error('a MAVLink signing key is 32 bytes');
  }

  /** Our timestamp: never behind the newest accepted one, and strictly increasing. */
  private nextTimestamp(): number {
    const next = Math.max(signingNow(), this.newest, this.lastSent + 1);
    this.lastSent = next;
    return next;
  }

  /** Serializes and signs one message (always MAVLink 2). */
  serialize(protocol: SignedProtocol, message: MavLinkData, seq: number): Buffer {
    const unsigned = protocol.serialize(message, seq);
    const frame = Buffer.alloc(unsigned.length + SIGNATURE_LENGTH);
    unsigned.copy(frame);
    const at = unsigned.length;
    frame.writeUInt8(this.linkId, at);
    frame.writeUIntLE(this.nextTimestamp(), at + 1, 6);
    signatureOf(this.key, frame.subarray(0, at + 7)).copy(frame, at + 7);
    return frame;
  }

  /** Why a received frame is refused, or undefined when it is accepted (and its stream advanced). */
  check(frame: Frame): SigningRefusal | undefined {
    if (frame.version !== 2 || !frame.signed) return 'unsigned';
    const raw = frame.raw;
    const at = raw.length - SIGNATURE_LENGTH;
    const expected = signatureOf(this.key, raw.subarray(0, at + 7));
    if (!timingSafeEqual(expected, raw.subarray(at + 7))) return 'bad_signature';
    const linkId = raw.readUInt8(at);
    const timestamp = raw.readUIntLE(at + 1, 6);
    const stream = `${frame.sysid}/${frame.compid}/${linkId}`;
    const last = this.streams.get(stream);
    if (last !== undefined && timestamp <= last) return 'replayed';
    if (last === undefined && timestamp + NEW_STREAM_WINDOW < Math.max(signingNow(), this.newest))
      return 'stale';
    if (last === undefined && this.streams.size >= MAX_STREAMS) this.streams.clear();
    this.streams.set(stream, timestamp);
    this.newest = Math.max(this.newest, timestamp);
    return undefined;
  }
}

/** A MAVLink 2 serializer whose frames carry the "signed" incompat flag (covered by the checksum). */
export class SignedProtocol extends MavLinkProtocolV2 {
  constructor(sysid: number, compid: number) {
    super(sysid, compid, IFLAG_SIGNED);
  }
}
