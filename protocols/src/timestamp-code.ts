/**
 * The timestamp code burnt into the simulated cameras' picture, so latency can be measured from
 * the glass of the camera to the glass of the browser: 2 rows × 20 cells in the top-left corner,
 * each cell 1/40 of the frame width and as tall as wide, white = 1, MSB first: the low 32 bits of the
 * capture time in milliseconds, then an 8-bit check (the sum of those four bytes). A reader samples
 * the cell centres, so the code survives scaling to the sub-stream and lossy coding (H.264, MPEG-1).
 */

/** The 40 code bits for a time in milliseconds. */
export function timestampBits(nowMs: number): number[] {
  const low = nowMs % 2 ** 32;
  const bytes = [(low >>> 24) & 0xff, (low >>> 16) & 0xff, (low >>> 8) & 0xff, low & 0xff];
  const check = bytes.reduce((a, b) => a + b, 0) & 0xff;
  const bits: number[] = [];
  for (const byte of [...bytes, check]) for (let b = 7; b >= 0; b--) bits.push((byte >> b) & 1);
  return bits;
}

/**
 * Reads the timestamp code from a frame's luma (any size with the code's proportions); returns the
 * full time in ms, resolved against `nearMs` (the reader's clock), or undefined when the check fails.
 */
export function readTimestampCode(
  luma: (x: number, y: number) => number,
  width: number,
  nearMs: number,
): number | undefined {
  const cell = width / 40;
  const bytes = [0, 0, 0, 0, 0];
  for (let i = 0; i < 40; i++) {
    const x = Math.floor((i % 20) * cell + cell / 2);
    const yy = Math.floor(Math.floor(i / 20) * cell + cell / 2);
    const bit = luma(x, yy) > 128 ? 1 : 0;
    bytes[Math.floor(i / 8)] = ((bytes[Math.floor(i / 8)] as number) << 1) | bit;
  }
  const check =
    ((bytes[0] as number) + (bytes[1] as number) + (bytes[2] as number) + (bytes[3] as number)) & 0xff;
  if (check !== bytes[4]) return undefined;
  const low =
    (((bytes[0] as number) << 24) >>> 0) +
    ((bytes[1] as number) << 16) +
    ((bytes[2] as number) << 8) +
    (bytes[3] as number);
  const base = nearMs - (nearMs % 2 ** 32);
  let full = base + low;
  if (full - nearMs > 2 ** 31) full -= 2 ** 32;
  else if (nearMs - full > 2 ** 31) full += 2 ** 32;
  return full;
}
