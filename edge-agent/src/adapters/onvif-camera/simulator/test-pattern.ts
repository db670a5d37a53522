/**
 * The simulated camera's picture: a 360° panorama (coloured sectors every 30° with their bearing,
 * sky, horizon, ground grid) seen through a pan/tilt/zoom viewport, with a burnt-in clock and frame
 * counter for people and a machine-readable timestamp for latency measurement. Frames are YUV 4:2:0
 * planar, what ffmpeg's rawvideo input takes.
 *
 * The timestamp code: 2 rows × 20 cells in the top-left corner, each cell 1/40 of the frame width
 * and as tall as wide, white = 1, MSB first: the low 32 bits of the capture time in milliseconds,
 * then an 8-bit check (the sum of those four bytes). A reader samples the cell centres, so the code
 * survives scaling to the sub-stream and lossy coding. The code is defined (and read) in
 * protocols/src/timestamp-code.ts.
 */
import { timestampBits } from '@qianliyan/protocols';

const PX_PER_DEG = 8;
const PANO_W = 360 * PX_PER_DEG;
/** Vertical coverage: from 45° above the horizon to 100° below (straight down and a bit past). */
const TOP_DEG = 45;
const PANO_H = 145 * PX_PER_DEG;
/** Horizontal field of view at zoom 1. */
export const BASE_FOV_DEG = 80;

const BLACK = 16;
const WHITE = 235;

// Sector colours as Y, U, V (BT.601 limited range), one per 30°.
const SECTORS: [number, number, number][] = [
  [81, 90, 240],
  [145, 54, 34],
  [41, 240, 110],
  [170, 166, 16],
  [106, 202, 222],
  [162, 44, 142],
  [210, 16, 146],
  [120, 180, 60],
  [90, 110, 200],
  [180, 120, 70],
  [60, 200, 170],
  [200, 90, 110],
];

interface Panorama {
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
}

let panorama: Panorama | undefined;

function buildPanorama(): Panorama {
  const y = new Uint8Array(PANO_W * PANO_H);
  const cw = PANO_W / 2;
  const ch = PANO_H / 2;
  const u = new Uint8Array(cw * ch);
  const v = new Uint8Array(cw * ch);
  const horizon = TOP_DEG * PX_PER_DEG;
  for (let row = 0; row < PANO_H; row++) {
    const sky = row < horizon;
    for (let col = 0; col < PANO_W; col++) {
      const sector = SECTORS[Math.floor(col / (30 * PX_PER_DEG)) % 12] as [number, number, number];
      let luma = sky ? Math.min(235, sector[0] + 40) : Math.max(16, sector[0] - 30);
      // A 10° grid below the horizon, a line at the horizon, sector edges.
      if (!sky && (col % (10 * PX_PER_DEG) < 2 || (row - horizon) % (10 * PX_PER_DEG) < 2)) luma = 200;
      if (Math.abs(row - horizon) < 3 || col % (30 * PX_PER_DEG) < 3) luma = 235;
      y[row * PANO_W + col] = luma;
    }
  }
  for (let row = 0; row < ch; row++)
    for (let col = 0; col < cw; col++) {
      const sector = SECTORS[Math.floor((col * 2) / (30 * PX_PER_DEG)) % 12] as [number, number, number];
      const sky = row * 2 < horizon;
      u[row * cw + col] = sky ? (sector[1] + 128) >> 1 : sector[1];
      v[row * cw + col] = sky ? (sector[2] + 128) >> 1 : sector[2];
    }
  // Bearings above each sector edge, big enough to read at the sub-stream's size.
  for (let deg = 0; deg < 360; deg += 30) {
    drawText(y, PANO_W, deg * PX_PER_DEG + 10, horizon - 70, String(deg).padStart(3, '0'), 4, 235);
  }
  return { y, u, v };
}

export interface PtzPosition {
  /** Degrees, 0–360, clockwise from the camera's mounting heading. */
  pan: number;
  /** Degrees, -90 (down) … 30 (up). */
  tilt: number;
  /** 1× … 20×. */
  zoom: number;
}

export class TestPattern {
  readonly frame: Buffer;
  private readonly ySize: number;
  private readonly cSize: number;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    if (width % 40 !== 0 || height % 2 !== 0) throw new Error('width must be a multiple of 40, height even');
    this.ySize = width * height;
    this.cSize = (width / 2) * (height / 2);
    this.frame = Buffer.alloc(this.ySize + 2 * this.cSize);
    panorama ??= buildPanorama();
  }

  /** Renders the view at `ptz` with the clock `nowMs` and frame number burnt in; returns `frame`. */
  render(ptz: PtzPosition, nowMs: number, frameNo: number): Buffer {
    const pano = panorama as Panorama;
    const { width: w, height: h } = this;
    const yPlane = this.frame.subarray(0, this.ySize);
    const uPlane = this.frame.subarray(this.ySize, this.ySize + this.cSize);
    const vPlane = this.frame.subarray(this.ySize + this.cSize);
    // Panorama pixels per output pixel.
    const step = (BASE_FOV_DEG * PX_PER_DEG) / ptz.zoom / w;
    const cx = (((ptz.pan % 360) + 360) % 360) * PX_PER_DEG;
    const cy = (TOP_DEG - ptz.tilt) * PX_PER_DEG;
    const x0 = cx - (w / 2) * step;
    const y0 = cy - (h / 2) * step;
    const cw = w / 2;
    for (let row = 0; row < h; row++) {
      const py = clamp(Math.floor(y0 + row * step), 0, PANO_H - 1);
      const src = py * PANO_W;
      const dst = row * w;
      if (step === 1) {
        // Zoom 1: whole rows are copies (with the 360° wrap), the common case kept cheap.
        const start = ((Math.floor(x0) % PANO_W) + PANO_W) % PANO_W;
        const first = Math.min(w, PANO_W - start);
        yPlane.set(pano.y.subarray(src + start, src + start + first), dst);
        if (first < w) yPlane.set(pano.y.subarray(src, src + w - first), dst + first);
      } else {
        for (let col = 0; col < w; col++) {
          const px = ((Math.floor(x0 + col * step) % PANO_W) + PANO_W) % PANO_W;
          yPlane[dst + col] = pano.y[src + px] as number;
        }
      }
      if (row % 2 === 0) {
        const cy2 = clamp(Math.floor(py / 2), 0, PANO_H / 2 - 1) * (PANO_W / 2);
        const cdst = (row / 2) * cw;
        for (let col = 0; col < cw; col++) {
          const px = ((Math.floor((x0 + col * 2 * step) / 2) % (PANO_W / 2)) + PANO_W / 2) % (PANO_W / 2);
          uPlane[cdst + col] = pano.u[cy2 + px] as number;
          vPlane[cdst + col] = pano.v[cy2 + px] as number;
        }
      }
    }
    this.drawTimestampCode(yPlane, uPlane, vPlane, nowMs);
    // The clock (UTC+8, the command room's time) and the frame number, bottom left.
    const scale = Math.max(1, Math.round(w / 320));
    const clock = new Date(nowMs + 8 * 3600_000).toISOString().slice(11, 23);
    const textY = h - 12 * scale - 4;
    neutralChroma(
      uPlane,
      vPlane,
      cw,
      0,
      Math.floor((textY - 2) / 2),
      Math.ceil((13 * 8 * scale) / 2),
      7 * scale,
    );
    fillRect(yPlane, w, 0, textY - 2, 13 * 8 * scale, 12 * scale + 4, BLACK);
    drawText(yPlane, w, 2, textY, clock, scale, WHITE);
    drawText(yPlane, w, w - 8 * 6 * scale, textY, String(frameNo % 1_000_000).padStart(6, '0'), scale, WHITE);
    return this.frame;
  }

  private drawTimestampCode(y: Uint8Array, u: Uint8Array, v: Uint8Array, nowMs: number): void {
    const cell = this.width / 40;
    const bits = timestampBits(nowMs);
    for (let i = 0; i < 40; i++) {
      const r = Math.floor(i / 20);
      const c = i % 20;
      fillRect(y, this.width, c * cell, r * cell, cell, cell, bits[i] ? WHITE : BLACK);
    }
    neutralChroma(u, v, this.width / 2, 0, 0, (20 * cell) / 2, cell);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function fillRect(
  plane: Uint8Array,
  stride: number,
  x: number,
  y: number,
  w: number,
  h: number,
  value: number,
) {
  for (let r = Math.max(0, y); r < y + h; r++) plane.fill(value, r * stride + x, r * stride + x + w);
}

function neutralChroma(
  u: Uint8Array,
  v: Uint8Array,
  stride: number,
  x: number,
  y: number,
  w: number,
  h: number,
) {
  fillRect(u, stride, x, y, w, h, 128);
  fillRect(v, stride, x, y, w, h, 128);
}

/**
 * Seven-segment glyphs: bits a b c d e f g (top, top-right, bottom-right, bottom, bottom-left,
 * top-left, middle). Each glyph is 6×10 units in an 8×12 cell, scaled.
 */
const GLYPHS: Record<string, number> = {
  '0': 0b1111110,
  '1': 0b0110000,
  '2': 0b1101101,
  '3': 0b1111001,
  '4': 0b0110011,
  '5': 0b1011011,
  '6': 0b1011111,
  '7': 0b1110000,
  '8': 0b1111111,
  '9': 0b1111011,
  '-': 0b0000001,
  ' ': 0,
};

function drawText(
  plane: Uint8Array,
  stride: number,
  x: number,
  y: number,
  text: string,
  s: number,
  value: number,
) {
  let cx = x;
  for (const ch of text) {
    if (ch === ':' || ch === '.') {
      if (ch === ':') fillRect(plane, stride, cx + 3 * s, y + 2 * s, 2 * s, 2 * s, value);
      fillRect(plane, stride, cx + 3 * s, y + 8 * s, 2 * s, 2 * s, value);
    } else {
      const g = GLYPHS[ch] ?? 0;
      const seg = (bit: number, sx: number, sy: number, w: number, h: number) => {
        if (g & (1 << (6 - bit))) fillRect(plane, stride, cx + sx * s, y + sy * s, w * s, h * s, value);
      };
      seg(0, 1, 0, 5, 1);
      seg(1, 5, 0, 1, 6);
      seg(2, 5, 5, 1, 6);
      seg(3, 1, 10, 5, 1);
      seg(4, 0, 5, 1, 6);
      seg(5, 0, 0, 1, 6);
      seg(6, 1, 5, 5, 1);
    }
    cx += 8 * s;
  }
}
