/**
 * Hand-made fragmented-MP4 boxes for tests that play a hostile or a minimal source: an init segment
 * the hub's reader accepts, and fragments whose first sample is (or is not) a keyframe.
 */

export function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

/** A full box's payload: version/flags, then 32-bit fields. */
export function fullBox(flags: number, ...words: number[]): Buffer {
  const b = Buffer.alloc(4 + words.length * 4);
  b.writeUInt32BE(flags, 0);
  for (const [i, w] of words.entries()) b.writeUInt32BE(w >>> 0, 4 + i * 4);
  return b;
}

/** ftyp + moov with one trex (default sample flags: not a sync sample). */
export const INIT_SEGMENT = Buffer.concat([
  box('ftyp', Buffer.from('isom\0\0\0\0')),
  box('moov', box('mvex', box('trex', fullBox(0, 1, 1, 0, 0, 0x0001_0000)))),
]);

/** The moof of a fragment with one sample, flagged sync or not. */
export function moof(sync: boolean): Buffer {
  const trun = box('trun', fullBox(0x000004, 1, sync ? 0x0200_0000 : 0x0101_0000));
  return box('moof', box('traf', box('tfhd', fullBox(0, 1)), trun));
}

/** A whole fragment: moof + an mdat of `bytes` bytes. */
export function fragment(sync: boolean, bytes: number): Buffer {
  return Buffer.concat([moof(sync), box('mdat', Buffer.alloc(bytes, sync ? 1 : 2))]);
}

/** Just the header of an mdat announcing `total` bytes (the rest is sent piece by piece). */
export function mdatHeader(total: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(total, 0);
  head.write('mdat', 4, 'latin1');
  return head;
}
