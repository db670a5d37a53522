import { afterEach, describe, expect, it, vi } from 'vitest';
import { box, fragment, INIT_SEGMENT as init } from '../../../tests/support/fmp4-boxes.ts';
import { Fmp4Error, Fmp4Reader, type Fragment, type InitSegment } from '../../src/video/fmp4.ts';

function read(chunks: Buffer[]): { init: InitSegment[]; fragments: Fragment[] } {
  const out = { init: [] as InitSegment[], fragments: [] as Fragment[] };
  const reader = new Fmp4Reader(
    (i) => out.init.push(i),
    (f) => out.fragments.push(f),
  );
  for (const c of chunks) reader.push(c);
  return out;
}

function split(data: Buffer, sizes: () => number): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = Math.max(1, sizes());
    parts.push(Buffer.from(data.subarray(i, i + n)));
    i += n;
  }
  return parts;
}

describe('Fmp4Reader', () => {
  afterEach(() => vi.restoreAllMocks());

  const stream = Buffer.concat([init, fragment(true, 5000), fragment(false, 300), fragment(true, 70)]);

  it('reads the same segments whatever the chunking: whole, 1-byte, random', () => {
    const whole = read([stream]);
    expect(whole.init).toHaveLength(1);
    expect(whole.fragments.map((f) => [f.keyframe, f.data.length])).toEqual([
      [true, fragment(true, 5000).length],
      [false, fragment(false, 300).length],
      [true, fragment(true, 70).length],
    ]);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % 700;
    };
    for (const chunks of [split(stream, () => 1), split(stream, random), split(stream, () => 13)]) {
      const got = read(chunks);
      expect(got.init[0]?.data.equals(whole.init[0]?.data as Buffer)).toBe(true);
      expect(got.fragments.map((f) => f.data.toString('hex'))).toEqual(
        whole.fragments.map((f) => f.data.toString('hex')),
      );
    }
  });

  it('joins a box pushed in small pieces once: bytes copied stay linear in its size', () => {
    // The attack: one large box in 256-byte WebSocket messages. Re-joining the buffer on every
    // message copied (n²/2)/256 bytes — 2 GB for this 1 MB box, 137 GB for an 8 MB one.
    const big = fragment(true, 1024 * 1024);
    const chunks = split(Buffer.concat([init, big]), () => 256);
    const concat = vi.spyOn(Buffer, 'concat');
    const got = read(chunks);
    const copied = concat.mock.calls.reduce(
      (n, [list]) => n + (list as readonly Uint8Array[]).reduce((m, b) => m + b.length, 0),
      0,
    );
    expect(got.fragments).toHaveLength(1);
    expect(got.fragments[0]?.data.equals(big)).toBe(true);
    expect(copied).toBeLessThan(3 * big.length);
  });

  it('refuses what is not MP4, oversize boxes, and a fragment that never ends', () => {
    expect(() => read([Buffer.from('this is not an MP4 stream at all')])).toThrow(Fmp4Error);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(64 * 1024 * 1024, 0);
    huge.write('mdat', 4, 'latin1');
    expect(() => read([init, huge])).toThrow(/too large/);
    // moof, then free boxes forever instead of its mdat: refused once past the box bound.
    const moof = fragment(true, 0).subarray(0, -8);
    const free = box('free', Buffer.alloc(1024 * 1024));
    expect(() => read([init, moof, ...Array.from({ length: 9 }, () => free)])).toThrow(/fragment too large/);
    expect(() => read([box('moof'), box('mdat')])).toThrow(/before the init segment/);
  });
});
