/**
 * A streaming reader of fragmented MP4 (ISO/IEC 14496-12) as ffmpeg writes it for live streaming
 * (`empty_moov+default_base_moof`): the init segment (`ftyp` + `moov`) first, then one `moof` +
 * `mdat` pair per fragment. Bytes arrive in any chunking; complete segments come out.
 *
 * For each fragment it tells whether it starts with a sync sample (a keyframe), so a viewer who
 * joins late is sent the init segment and the fragments since the last keyframe, and can decode at
 * once. From the init segment it reads the codec string for MSE (`avc1.PPCCLL` from `avcC`) and the
 * picture size. Boxes are bounded in size; anything that does not parse as MP4 is an error.
 */

export const MAX_BOX_BYTES = 8 * 1024 * 1024;
const MAX_INIT_BYTES = 1024 * 1024;

export class Fmp4Error extends Error {}

export interface InitSegment {
  data: Buffer;
  /** e.g. `video/mp4; codecs="avc1.42C01E"` */
  mime: string;
  width?: number;
  height?: number;
  /** Track defaults from `trex`, needed to read sample flags when a fragment does not carry them. */
  defaultSampleFlags: number;
}

export interface Fragment {
  data: Buffer;
  keyframe: boolean;
}

export class Fmp4Reader {
  /**
   * Bytes received and not yet part of a complete box, as the chunks they arrived in. A box is
   * joined once, when its last byte is here: re-joining a growing buffer on every chunk made a
   * box pushed in small messages cost the square of its size (an 8 MB box in 256-byte messages
   * re-copied gigabytes and stalled the hub for minutes).
   */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private initBoxes: Buffer[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingKey = false;
  init: InitSegment | undefined;

  constructor(
    private readonly onInit: (init: InitSegment) => void,
    private readonly onFragment: (fragment: Fragment) => void,
  ) {}

  /** Bytes held waiting for the rest of a box (bounded by MAX_BOX_BYTES). */
  get bufferedBytes(): number {
    return this.chunkBytes;
  }

  /** Feeds bytes; throws Fmp4Error on malformed input (the caller drops the stream). */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    for (;;) {
      if (this.chunkBytes < 8) return;
      const head = this.peek(Math.min(16, this.chunkBytes));
      let size = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      let header = 8;
      if (size === 1) {
        if (head.length < 16) return;
        const big = head.readBigUInt64BE(8);
        if (big > BigInt(MAX_BOX_BYTES)) throw new Fmp4Error(`box ${printable(type)} too large`);
        size = Number(big);
        header = 16;
      }
      if (!/^[a-zA-Z0-9 ]{4}$/.test(type)) throw new Fmp4Error('not an MP4 stream');
      if (size < header) throw new Fmp4Error(`bad size for box ${type}`);
      if (size > MAX_BOX_BYTES) throw new Fmp4Error(`box ${type} too large (${size} bytes)`);
      if (this.chunkBytes < size) return;
      // A fragment's mdat in pieces, right after its moof (ffmpeg's layout): moof and mdat are joined
      // in one copy, not the mdat first and the pair again (an 8 MB keyframe would be copied twice).
      // In one piece, the pair is usually contiguous already and goes out as a view (see joined).
      if (
        type === 'mdat' &&
        this.init &&
        this.pending.length === 1 &&
        (this.chunks[0] as Buffer).length < size
      ) {
        const moof = this.pending[0] as Buffer;
        const data = this.take(size, moof);
        this.pending = [];
        this.pendingBytes = 0;
        this.onFragment({ data, keyframe: this.pendingKey });
        continue;
      }
      this.onBox(type, this.take(size));
    }
  }

  /** The first `n` buffered bytes (n ≤ 16): a view of the first chunk, or a small copy. */
  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    const parts: Buffer[] = [];
    let have = 0;
    for (const c of this.chunks) {
      parts.push(c);
      have += c.length;
      if (have >= n) break;
    }
    return Buffer.concat(parts, n);
  }

  /**
   * Removes and returns the first `n` buffered bytes. No copy when they lie in one chunk (the
   * caller hands over its chunks: a WebSocket message or a pipe read is not reused), else one join.
   */
  private take(n: number, prefix?: Buffer): Buffer {
    const first = this.chunks[0] as Buffer;
    this.chunkBytes -= n;
    if (prefix) {
      const parts = this.takeParts(n);
      return Buffer.concat([prefix, ...parts], prefix.length + n);
    }
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    return Buffer.concat(this.takeParts(n), n);
  }

  /** The chunks (and part of one) holding the first `n` buffered bytes, removed from the list. */
  private takeParts(n: number): Buffer[] {
    // Whole chunks, then part of the next: one splice (shifting one at a time is quadratic too).
    let whole = 0;
    let need = n;
    while (need >= (this.chunks[whole] as Buffer).length) {
      need -= (this.chunks[whole] as Buffer).length;
      whole += 1;
      if (need === 0) break;
    }
    const parts = this.chunks.splice(0, whole);
    if (need > 0) {
      const c = this.chunks[0] as Buffer;
      parts.push(c.subarray(0, need));
      this.chunks[0] = c.subarray(need);
    }
    return parts;
  }

  private onBox(type: string, box: Buffer): void {
    if (!this.init) {
      if (type === 'moof' || type === 'mdat') throw new Fmp4Error(`${type} before the init segment`);
      this.initBoxes.push(box);
      if (this.initBoxes.reduce((n, b) => n + b.length, 0) > MAX_INIT_BYTES)
        throw new Fmp4Error('init segment too large');
      if (type === 'moov') {
        const data = Buffer.concat(this.initBoxes);
        this.init = { data, ...describeMoov(box) };
        this.initBoxes = [];
        this.onInit(this.init);
      }
      return;
    }
    if (type === 'moof') {
      this.pending = [box];
      this.pendingBytes = box.length;
      this.pendingKey = firstSampleIsSync(box, this.init.defaultSampleFlags);
      return;
    }
    if (this.pending.length === 0) return; // mfra, sidx, free… between fragments: not needed live
    this.pending.push(box);
    this.pendingBytes += box.length;
    // A moof followed by endless boxes other than its mdat would otherwise be kept without bound.
    if (this.pendingBytes > MAX_BOX_BYTES + MAX_INIT_BYTES) throw new Fmp4Error('fragment too large');
    if (type === 'mdat') {
      this.onFragment({ data: joined(this.pending), keyframe: this.pendingKey });
      this.pending = [];
      this.pendingBytes = 0;
    }
  }
}

/** The boxes as one buffer: a view when they lie back to back in one chunk (the usual case), else a copy. */
function joined(boxes: Buffer[]): Buffer {
  const first = boxes[0] as Buffer;
  let end = first.byteOffset + first.length;
  for (const box of boxes.slice(1)) {
    if (box.buffer !== first.buffer || box.byteOffset !== end) return Buffer.concat(boxes);
    end += box.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');

/** Child boxes of a container box's payload. */
function* children(
  buf: Buffer,
  start: number,
  end: number,
): Generator<{ type: string; start: number; end: number }> {
  let i = start;
  while (i + 8 <= end) {
    const size = buf.readUInt32BE(i);
    const type = buf.toString('latin1', i + 4, i + 8);
    if (size < 8 || i + size > end) return;
    yield { type, start: i + 8, end: i + size };
    i += size;
  }
}

function find(
  buf: Buffer,
  start: number,
  end: number,
  path: string[],
): { start: number; end: number } | undefined {
  let range = { start, end };
  for (const type of path) {
    const next = [...children(buf, range.start, range.end)].find((c) => c.type === type);
    if (!next) return undefined;
    range = next;
  }
  return range;
}

function describeMoov(moov: Buffer): Omit<InitSegment, 'data'> {
  const trak = find(moov, 8, moov.length, ['trak']);
  let mime = 'video/mp4; codecs="avc1.42E01E"';
  let width: number | undefined;
  let height: number | undefined;
  if (trak) {
    const stsd = find(moov, trak.start, trak.end, ['mdia', 'minf', 'stbl', 'stsd']);
    // stsd: version/flags (4), entry count (4), then sample entries.
    if (stsd && stsd.end - stsd.start > 8) {
      for (const entry of children(moov, stsd.start + 8, stsd.end)) {
        if (entry.type !== 'avc1' && entry.type !== 'avc3') continue;
        // VisualSampleEntry: 6 reserved + 2 index + 16 predefined, then width and height.
        width = moov.readUInt16BE(entry.start + 24);
        height = moov.readUInt16BE(entry.start + 26);
        const avcC = [...children(moov, entry.start + 78, entry.end)].find((c) => c.type === 'avcC');
        if (avcC && avcC.end - avcC.start >= 4) {
          const hex = moov
            .subarray(avcC.start + 1, avcC.start + 4)
            .toString('hex')
            .toUpperCase();
          mime = `video/mp4; codecs="${entry.type}.${hex}"`;
        }
      }
    }
  }
  const trex = find(moov, 8, moov.length, ['mvex', 'trex']);
  // trex: version/flags, track id, default description index, duration, size, flags.
  const defaultSampleFlags = trex && trex.end - trex.start >= 24 ? moov.readUInt32BE(trex.start + 20) : 0;
  return { mime, ...(width ? { width } : {}), ...(height ? { height } : {}), defaultSampleFlags };
}

/** Whether the fragment's first sample is a sync sample (sample_is_non_sync_sample == 0). */
function firstSampleIsSync(moof: Buffer, trexFlags: number): boolean {
  const traf = find(moof, 8, moof.length, ['traf']);
  if (!traf) return false;
  let flags = trexFlags;
  for (const box of children(moof, traf.start, traf.end)) {
    const v = moof.readUInt32BE(box.start);
    const boxFlags = v & 0xffffff;
    if (box.type === 'tfhd') {
      // tfhd: track id, then optional fields in this order.
      let i = box.start + 8;
      if (boxFlags & 0x01) i += 8;
      if (boxFlags & 0x02) i += 4;
      if (boxFlags & 0x08) i += 4;
      if (boxFlags & 0x10) i += 4;
      if (boxFlags & 0x20 && i + 4 <= box.end) flags = moof.readUInt32BE(i);
    } else if (box.type === 'trun') {
      let i = box.start + 8; // version/flags, sample count
      if (boxFlags & 0x01) i += 4; // data offset
      if (boxFlags & 0x04 && i + 4 <= box.end) return !((moof.readUInt32BE(i) >> 16) & 1);
      if (boxFlags & 0x400) {
        if (boxFlags & 0x100) i += 4;
        if (boxFlags & 0x200) i += 4;
        if (i + 4 <= box.end) return !((moof.readUInt32BE(i) >> 16) & 1);
      }
      return !((flags >> 16) & 1);
    }
  }
  return !((flags >> 16) & 1);
}
