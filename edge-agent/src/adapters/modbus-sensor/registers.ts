/**
 * Register maps: which registers a sensor's points live in, how they are read in as few requests as
 * the protocol allows, and the two converters between register words and numbers (device → value
 * for the adapter, value → device for the simulator).
 *
 * Modbus itself knows only 16-bit registers sent high byte first (Modbus Application Protocol
 * V1.1b3, 4.2). Anything wider is the vendor's choice of word and byte order, which is why each
 * point names its `wordOrder`: the letters are the bytes of the big-endian value A B C D in the
 * order they arrive — `ABCD` high word first (the usual), `CDAB` low word first (many PLCs and
 * Chinese RS-485 sensors behind a TCP gateway), `BADC` and `DCBA` with the bytes of each word
 * swapped.
 */

export const DATA_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type DataType = (typeof DATA_TYPES)[number];

export const WORD_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type WordOrder = (typeof WORD_ORDERS)[number];

/** `holding`: read with function 3; `input`: read with function 4. Both read-only here. */
export const REGISTER_TABLES = ['holding', 'input'] as const;
export type RegisterTable = (typeof REGISTER_TABLES)[number];

export const FUNCTION_CODE: Record<RegisterTable, 3 | 4> = { holding: 3, input: 4 };

/**
 * The most registers one read may ask for: a Read Holding/Input Registers request carries a
 * quantity of 1 to 125 (V1.1b3, 6.3 and 6.4), so that its reply fits the 253-byte PDU.
 */
export const MAX_READ_REGISTERS = 125;

/** The highest register address (addresses are 16 bits on the wire, 0-based). */
export const MAX_ADDRESS = 0xffff;

export interface PointConfig {
  name: string;
  address: number;
  function: RegisterTable;
  dataType: DataType;
  wordOrder: WordOrder;
  scale: number;
  offset: number;
  unit?: string;
}

export function registerCount(type: DataType): 1 | 2 {
  return type === 'int16' || type === 'uint16' ? 1 : 2;
}

/** One request: consecutive registers of one table, and the points decoded from them. */
export interface ReadBlock {
  table: RegisterTable;
  address: number;
  count: number;
  points: PointConfig[];
}

/**
 * Groups points into reads: points of the same table whose registers touch or overlap share one
 * request, up to 125 registers. Gaps are never bridged: a real device answers "illegal data
 * address" for a register it does not have, and one unmapped register would fail every point of
 * the read.
 */
export function planBlocks(points: readonly PointConfig[]): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  for (const table of REGISTER_TABLES) {
    const sorted = points.filter((p) => p.function === table).sort((a, b) => a.address - b.address);
    let current: ReadBlock | undefined;
    for (const point of sorted) {
      const end = point.address + registerCount(point.dataType);
      if (
        current &&
        point.address <= current.address + current.count &&
        end - current.address <= MAX_READ_REGISTERS
      ) {
        current.count = Math.max(current.count, end - current.address);
        current.points.push(point);
      } else {
        current = { table, address: point.address, count: end - point.address, points: [point] };
        blocks.push(current);
      }
    }
  }
  return blocks;
}

/** The four bytes of a 32-bit value as big-endian A B C D, from two registers as they arrived. */
function valueBytes(hi: number, lo: number, order: WordOrder): Buffer {
  const wire = Buffer.alloc(4);
  wire.writeUInt16BE(hi, 0);
  wire.writeUInt16BE(lo, 2);
  const [w0, w1, w2, w3] = wire as unknown as [number, number, number, number];
  switch (order) {
    case 'ABCD':
      return wire;
    case 'CDAB':
      return Buffer.from([w2, w3, w0, w1]);
    case 'BADC':
      return Buffer.from([w1, w0, w3, w2]);
    case 'DCBA':
      return Buffer.from([w3, w2, w1, w0]);
  }
}

/** The raw number in the registers (before scale and offset); NaN or ±Infinity for such floats. */
export function decodeRaw(words: readonly number[], type: DataType, order: WordOrder): number {
  const [hi = 0, lo = 0] = words;
  switch (type) {
    case 'uint16':
      return hi;
    case 'int16':
      return hi >= 0x8000 ? hi - 0x10000 : hi;
    case 'uint32':
      return valueBytes(hi, lo, order).readUInt32BE(0);
    case 'int32':
      return valueBytes(hi, lo, order).readInt32BE(0);
    case 'float32':
      // float32 holds about 7 significant digits; more would print the binary rounding (2.4000000953…).
      return Number(valueBytes(hi, lo, order).readFloatBE(0).toPrecision(7));
  }
}

/** A point's reading: raw × scale + offset, without the binary noise of the multiplication. */
export function decodePoint(words: readonly number[], point: PointConfig): number {
  const raw = decodeRaw(words, point.dataType, point.wordOrder);
  const value = raw * point.scale + point.offset;
  return Number.isFinite(value) ? Number(value.toPrecision(12)) : value;
}

/** Reads every point of a block from the registers it returned. */
export function decodeBlock(block: ReadBlock, words: readonly number[]): Map<PointConfig, number> {
  const out = new Map<PointConfig, number>();
  for (const point of block.points) {
    const at = point.address - block.address;
    out.set(point, decodePoint(words.slice(at, at + registerCount(point.dataType)), point));
  }
  return out;
}

/**
 * The registers a device holds for `value` (the simulator's side): the inverse of `decodePoint`,
 * rounded to the register's resolution and clamped to its range, as a real device would store it.
 */
export function encodePoint(
  value: number,
  point: Pick<PointConfig, 'dataType' | 'wordOrder' | 'scale' | 'offset'>,
): number[] {
  const raw = (value - point.offset) / point.scale;
  return encodeRaw(raw, point.dataType, point.wordOrder);
}

export function encodeRaw(raw: number, type: DataType, order: WordOrder): number[] {
  const clampInt = (min: number, max: number) => Math.min(max, Math.max(min, Math.round(raw)));
  if (type === 'uint16') return [clampInt(0, 0xffff)];
  if (type === 'int16') return [clampInt(-0x8000, 0x7fff) & 0xffff];
  const be = Buffer.alloc(4);
  if (type === 'uint32') be.writeUInt32BE(clampInt(0, 0xffffffff), 0);
  else if (type === 'int32') be.writeInt32BE(clampInt(-0x80000000, 0x7fffffff), 0);
  else be.writeFloatBE(raw, 0);
  // The wire order is the value order's own inverse for all four (each is an involution).
  const wire = valueBytes(be.readUInt16BE(0), be.readUInt16BE(2), order);
  return [wire.readUInt16BE(0), wire.readUInt16BE(2)];
}
