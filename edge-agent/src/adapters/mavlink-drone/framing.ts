/**
 * MAVLink framing, separate from decoding: finds frames in bytes, checks them, and counts what it
 * refuses. Decoding a frame's payload into fields is `messages.ts`'s job.
 *
 * v1: 0xFE len seq sysid compid msgid payload[len] crc16               (8 + len bytes)
 * v2: 0xFD len incompat compat seq sysid compid msgid[3] payload[len] crc16 [signature 13]
 * The checksum is X.25 (CRC-16/MCRF4XX) over everything after the start byte, then the message's
 * CRC_EXTRA byte, which only a known message has: a frame of an unknown message cannot be checked
 * and is counted as unknown, never decoded.
 *
 * Written here rather than taken from node-mavlink's splitter: replaying the recorded flight logs in
 * ../shared/fixtures, that splitter lost frames while resynchronising (dronekit: 74,324 valid and
 * 1,557 invalid of 76,791 records, where 75,477 and 1,314 are right).
 */
import { MSG_ID_MAGIC_NUMBER } from 'node-mavlink';

/**
 * CRC_EXTRA of messages the mappings lack: PROTOCOL_VERSION (minimal.xml, id 300), which PX4 sends
 * during the v1→v2 handshake (the recorded PX4 log holds one).
 */
const EXTRA_CRC: Readonly<Record<number, number>> = { 300: 217 };
const crcExtraOf = (msgid: number): number | undefined => MSG_ID_MAGIC_NUMBER[msgid] ?? EXTRA_CRC[msgid];

export const STX_V1 = 0xfe;
export const STX_V2 = 0xfd;
const SIGNED = 0x01;
const SIGNATURE_LENGTH = 13;

export interface Frame {
  version: 1 | 2;
  seq: number;
  sysid: number;
  compid: number;
  msgid: number;
  payload: Buffer;
  signed: boolean;
  /** The whole frame as received, signature included (what MAVLink 2 signing checks). */
  raw: Buffer;
}

export interface FramingCounts {
  frames: number;
  crcErrors: number;
  unknown: number;
  /** Bytes not in an accepted frame: noise, rejected frames, a cut-off frame (timestamps of a log excluded). */
  skippedBytes: number;
  /** A frame cut off at the end of its datagram or file. */
  truncated: number;
}

export const newCounts = (): FramingCounts => ({
  frames: 0,
  crcErrors: 0,
  unknown: 0,
  skippedBytes: 0,
  truncated: 0,
});

type Parsed =
  | { status: 'ok'; frame: Frame; length: number }
  | { status: 'crc' | 'unknown'; length: number }
  | { status: 'short' }
  | { status: 'nostx' };

/** X.25 checksum accumulation (MAVLink's `crc_accumulate`). */
function crcAccumulate(byte: number, crc: number): number {
  let tmp = byte ^ (crc & 0xff);
  tmp = (tmp ^ (tmp << 4)) & 0xff;
  return ((crc >> 8) ^ (tmp << 8) ^ (tmp << 3) ^ (tmp >> 4)) & 0xffff;
}

export function x25(buffer: Buffer, start: number, end: number, extra: number): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = crcAccumulate(buffer[i] as number, crc);
  return crcAccumulate(extra, crc);
}

/** Parses the frame starting at `offset`, whose first byte must be a start byte. */
export function parseFrameAt(buf: Buffer, offset: number): Parsed {
  const stx = buf[offset];
  if (stx !== STX_V1 && stx !== STX_V2) return { status: 'nostx' };
  if (offset + 2 > buf.length) return { status: 'short' };
  const len = buf[offset + 1] as number;
  const v2 = stx === STX_V2;
  const headerLength = v2 ? 10 : 6;
  if (offset + headerLength > buf.length) return { status: 'short' };
  const signed = v2 && ((buf[offset + 2] as number) & SIGNED) !== 0;
  const length = headerLength + len + 2 + (signed ? SIGNATURE_LENGTH : 0);
  if (offset + length > buf.length) return { status: 'short' };
  const msgid = v2 ? buf.readUIntLE(offset + 7, 3) : (buf[offset + 5] as number);
  const extra = crcExtraOf(msgid);
  if (extra === undefined) return { status: 'unknown', length };
  const crcAt = offset + headerLength + len;
  if (x25(buf, offset + 1, crcAt, extra) !== buf.readUInt16LE(crcAt)) return { status: 'crc', length };
  return {
    status: 'ok',
    length,
    frame: {
      version: v2 ? 2 : 1,
      seq: buf[offset + (v2 ? 4 : 2)] as number,
      sysid: buf[offset + (v2 ? 5 : 3)] as number,
      compid: buf[offset + (v2 ? 6 : 4)] as number,
      msgid,
      payload: buf.subarray(offset + headerLength, crcAt),
      signed,
      raw: buf.subarray(offset, offset + length),
    },
  };
}

const isStx = (b: number | undefined) => b === STX_V1 || b === STX_V2;

/** The offset of the next frame that passes its check at or after `from`, or -1. */
function nextGoodFrame(buf: Buffer, from: number): number {
  for (let j = from; j < buf.length; j++) {
    if (isStx(buf[j]) && parseFrameAt(buf, j).status === 'ok') return j;
  }
  return -1;
}

/**
 * Frames in one datagram (a MAVLink-over-UDP packet holds whole frames, often several: a router or
 * a log replay packs them). Noise is skipped byte by byte. A frame that fails its check counts as
 * ONE rejected frame, whatever is inside it:
 *  - when its length byte leads exactly to the end of the datagram or to another start byte, the
 *    length is taken as true (a frame boundary, as the log-file path knows it from its records)
 *    and the whole frame is skipped;
 *  - otherwise the length byte itself is suspect, and the search resumes at the next frame that
 *    passes its check. Start bytes inside the damaged region are not frames: they are neither
 *    counted as more bad frames nor allowed to end the datagram.
 * Only a frame that claims more bytes than remain and is followed by no good frame is cut off.
 *
 * Before this, a failed check resumed one byte past the start byte and counted every start byte
 * inside the damaged frame as another bad frame (2,059 rejected where the log path counted 1,967
 * for the same bytes), and a phantom frame claiming more bytes than remained ended the datagram,
 * dropping the good frames after it (17 in one flight).
 */
export function framesIn(datagram: Buffer, counts: FramingCounts): Frame[] {
  const frames: Frame[] = [];
  let i = 0;
  while (i < datagram.length) {
    if (!isStx(datagram[i])) {
      counts.skippedBytes += 1;
      i += 1;
      continue;
    }
    const parsed = parseFrameAt(datagram, i);
    if (parsed.status === 'ok') {
      counts.frames += 1;
      frames.push(parsed.frame);
      i += parsed.length;
      continue;
    }
    if (parsed.status === 'crc' || parsed.status === 'unknown') {
      const end = i + parsed.length;
      if (end === datagram.length || isStx(datagram[end])) {
        countRejected(counts, parsed.status);
        counts.skippedBytes += parsed.length;
        i = end;
        continue;
      }
    }
    // A damaged frame of unknown extent (or one cut off): resynchronise on the next good frame.
    const next = nextGoodFrame(datagram, i + 1);
    if (next < 0) {
      if (parsed.status === 'short') counts.truncated += 1;
      else countRejected(counts, parsed.status === 'unknown' ? 'unknown' : 'crc');
      counts.skippedBytes += datagram.length - i;
      break;
    }
    // A start byte whose frame does not fit before the next good one is a damaged frame too.
    countRejected(counts, parsed.status === 'unknown' ? 'unknown' : 'crc');
    counts.skippedBytes += next - i;
    i = next;
  }
  return frames;
}

function countRejected(counts: FramingCounts, status: 'crc' | 'unknown'): void {
  if (status === 'crc') counts.crcErrors += 1;
  else counts.unknown += 1;
}

/**
 * Records of a telemetry log (QGroundControl / Mission Planner `.tlog`): each is an 8-byte
 * big-endian Unix time in microseconds followed by one frame. A frame that fails its check is
 * skipped whole (the record boundary is known); a cut-off last record ends the log.
 */
export function* tlogRecords(
  buf: Buffer,
  counts: FramingCounts,
): Generator<{ timeUs: bigint; frame: Frame }> {
  let p = 0;
  while (p + 8 < buf.length) {
    const parsed = parseFrameAt(buf, p + 8);
    if (parsed.status === 'ok') {
      counts.frames += 1;
      yield { timeUs: buf.readBigUInt64BE(p), frame: parsed.frame };
      p += 8 + parsed.length;
    } else if (parsed.status === 'crc' || parsed.status === 'unknown') {
      countRejected(counts, parsed.status);
      counts.skippedBytes += parsed.length;
      p += 8 + parsed.length;
    } else if (parsed.status === 'short') {
      counts.truncated += 1;
      counts.skippedBytes += buf.length - (p + 8);
      return;
    } else {
      // Not a record boundary: look for the next timestamp followed by a start byte.
      counts.skippedBytes += 1;
      p += 1;
    }
  }
}

/**
 * The bytes of each record's frame in a telemetry log, checked or not (a failed one and a cut-off
 * last one included), as a replay sends them over UDP: what the live path must count like the log
 * path does.
 */
export function* tlogFrameBytes(buf: Buffer): Generator<{ timeUs: bigint; bytes: Buffer }> {
  let p = 0;
  while (p + 8 < buf.length) {
    const parsed = parseFrameAt(buf, p + 8);
    if (parsed.status === 'nostx') {
      p += 1;
      continue;
    }
    const end = parsed.status === 'short' ? buf.length : p + 8 + parsed.length;
    yield { timeUs: buf.readBigUInt64BE(p), bytes: buf.subarray(p + 8, end) };
    p = end;
  }
}
