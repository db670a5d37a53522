/**
 * A Modbus TCP sensor station that speaks the real protocol on a TCP port: a water-level gauge, a
 * rain gauge and a temperature/humidity sensor in one register map (`STATION_POINTS`, its
 * datasheet), as a village monitoring station behind a serial-to-TCP gateway presents them.
 *
 * It is its own small MBAP server, not the client library's: the adapter's library and this peer
 * share no code, so a framing mistake on one side cannot be cancelled out by the same mistake on
 * the other. It answers Read Holding Registers (3) and Read Input Registers (4); any other
 * function gets exception 1, an unmapped register exception 2, a bad quantity exception 3, another
 * unit id exception 11 (what a serial-to-TCP gateway answers for a slave that is not there).
 *
 * Readings can be set by a test (`set('water_level', 3.4)`), written as raw registers
 * (`setRegisters`), or follow slow curves (`curve: true`, the demo). Misbehaviour on demand
 * (`setMode`): `exception` replies, `hang` (read, never answer), `garbage` (bytes that are not
 * Modbus: an HTTP error page), `short` (a reply one register short), `close` (drop the connection
 * on each request), `stopped` (listener closed and connections dropped: a powered-off device).
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import {
  decodePoint,
  encodePoint,
  type PointConfig,
  type RegisterTable,
  registerCount,
} from './registers.ts';

export type SimulatorMode = 'normal' | 'exception' | 'hang' | 'garbage' | 'short' | 'close' | 'stopped';

/** The station's register map: what a gateway configures as `points` to read it. */
export const STATION_POINTS: PointConfig[] = [
  // Radar level gauge: metres above the gauge datum, IEEE float, high word first.
  {
    name: 'water_level',
    address: 0,
    function: 'input',
    dataType: 'float32',
    wordOrder: 'ABCD',
    scale: 1,
    offset: 0,
    unit: 'm',
  },
  // Tipping-bucket rain gauge: rainfall since midnight in 0.1 mm, a 32-bit counter low word first.
  {
    name: 'rainfall',
    address: 10,
    function: 'input',
    dataType: 'uint32',
    wordOrder: 'CDAB',
    scale: 0.1,
    offset: 0,
    unit: 'mm',
  },
  // Temperature/humidity probe: tenths, signed for frost.
  {
    name: 'temperature',
    address: 20,
    function: 'input',
    dataType: 'int16',
    wordOrder: 'ABCD',
    scale: 0.1,
    offset: 0,
    unit: '°C',
  },
  {
    name: 'humidity',
    address: 21,
    function: 'input',
    dataType: 'uint16',
    wordOrder: 'ABCD',
    scale: 0.1,
    offset: 0,
    unit: '%',
  },
];

export interface ModbusSimulatorOptions {
  host?: string;
  /** TCP port (0: any free one). */
  port?: number;
  unitId?: number;
  /** Readings follow slow curves (a day's weather in minutes); otherwise they stay where set. */
  curve?: boolean;
  /** Shifts the curves, so stations of one village do not move in step. */
  phase?: number;
  /** The code `exception` mode answers with (default 4, server device failure). */
  exceptionCode?: number;
}

/** MBAP header (7 bytes) + PDU (≤ 253): V1.1b3 4.1 and the Modbus TCP implementation guide. */
const MBAP_BYTES = 7;
const MAX_ADU_BYTES = 260;

const HTTP_ERROR = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');

export class ModbusSimulator {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly tables: Record<RegisterTable, Map<number, number>> = {
    holding: new Map(),
    input: new Map(),
  };
  private curveTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private boundPort = 0;
  private rainMm = 0;
  mode: SimulatorMode = 'normal';
  exceptionCode: number;
  readonly unitId: number;
  /** Requests received, by function code: a test can see that nothing but reads was sent. */
  readonly requests = new Map<number, number>();
  /** Connections accepted since start. */
  connections = 0;

  constructor(private readonly options: ModbusSimulatorOptions = {}) {
    this.unitId = options.unitId ?? 1;
    this.exceptionCode = options.exceptionCode ?? 4;
    this.set('water_level', 2.4);
    this.set('rainfall', 0);
    this.set('temperature', 18);
    this.set('humidity', 65);
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    await this.listen(this.options.port ?? 0);
    if (this.options.curve) {
      this.followCurves();
      this.curveTimer = setInterval(() => this.followCurves(), 1000);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.curveTimer);
    await this.unlisten();
  }

  /** Changes behaviour; `stopped` closes the port, leaving it listens again on the same one. */
  async setMode(mode: SimulatorMode): Promise<void> {
    const was = this.mode;
    this.mode = mode;
    if (mode === 'stopped' && was !== 'stopped') await this.unlisten();
    if (mode !== 'stopped' && was === 'stopped') await this.listen(this.boundPort);
  }

  /** Sets a station reading (by its point name) as the instrument would store it. */
  set(name: string, value: number): void {
    const point = STATION_POINTS.find((p) => p.name === name);
    if (!point) throw new Error(`the station has no ${name}`);
    this.setRegisters(point.function, point.address, encodePoint(value, point));
  }

  /** A station reading as stored (at the register's resolution). */
  get(name: string): number {
    const point = STATION_POINTS.find((p) => p.name === name);
    if (!point) throw new Error(`the station has no ${name}`);
    return decodePoint(
      this.getRegisters(point.function, point.address, registerCount(point.dataType)),
      point,
    );
  }

  /** Maps registers (raw 16-bit words) from `address` on. */
  setRegisters(table: RegisterTable, address: number, words: readonly number[]): void {
    for (const [i, w] of words.entries()) this.tables[table].set(address + i, w & 0xffff);
  }

  getRegisters(table: RegisterTable, address: number, count: number): number[] {
    return Array.from({ length: count }, (_, i) => this.tables[table].get(address + i) ?? 0);
  }

  /** Sends bytes to every connected client unasked: a device (or something else) talking out of turn. */
  broadcast(bytes: Buffer): void {
    for (const socket of this.sockets) socket.write(bytes);
  }

  private followCurves(): void {
    const t = (Date.now() - this.startedAt) / 1000;
    const phase = this.options.phase ?? 0;
    const wave = (period: number, shift = 0) => Math.sin((2 * Math.PI * t) / period + phase + shift);
    // A radar gauge resolves millimetres.
    this.set('water_level', Math.round((2.4 + 0.9 * wave(600) + 0.02 * (Math.random() - 0.5)) * 1000) / 1000);
    // Showers: up to 12 mm/h while the rain wave is positive, accumulated since start (kept apart
    // from the register, whose 0.1 mm steps would round each second's rain away).
    const raining = wave(900, 1) > 0;
    this.rainMm += Math.max(0, 12 * wave(900, 1)) / 3600;
    this.set('rainfall', this.rainMm);
    this.set('temperature', 18 + 6 * wave(1200, 2));
    this.set('humidity', Math.min(100, 65 + 15 * wave(1500, 3) + (raining ? 10 : 0)));
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  private async unlisten(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.connections += 1;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= MBAP_BYTES) {
        const protocol = buffer.readUInt16BE(2);
        const length = buffer.readUInt16BE(4);
        // Protocol 0 is Modbus; the length counts the unit id and a PDU of 1–253 bytes.
        if (protocol !== 0 || length < 2 || length > MAX_ADU_BYTES - 6) {
          socket.destroy();
          return;
        }
        if (buffer.length < 6 + length) break;
        const frame = buffer.subarray(0, 6 + length);
        buffer = buffer.subarray(6 + length);
        this.handle(socket, frame);
        if (socket.destroyed) return;
      }
      if (buffer.length > MAX_ADU_BYTES) socket.destroy();
    });
  }

  private handle(socket: Socket, frame: Buffer): void {
    const transaction = frame.readUInt16BE(0);
    const unit = frame.readUInt8(6);
    const pdu = frame.subarray(MBAP_BYTES);
    const fc = pdu.readUInt8(0);
    this.requests.set(fc, (this.requests.get(fc) ?? 0) + 1);
    if (this.mode === 'hang') return;
    if (this.mode === 'close') {
      socket.destroy();
      return;
    }
    if (this.mode === 'garbage') {
      socket.write(HTTP_ERROR);
      return;
    }
    const body = this.answer(unit, pdu);
    const header = Buffer.alloc(MBAP_BYTES);
    header.writeUInt16BE(transaction, 0);
    header.writeUInt16BE(0, 2);
    header.writeUInt16BE(body.length + 1, 4);
    header.writeUInt8(unit, 6);
    socket.write(Buffer.concat([header, body]));
  }

  /** The reply PDU the station gives to a request PDU. */
  private answer(unit: number, pdu: Buffer): Buffer {
    const fc = pdu.readUInt8(0);
    const exception = (code: number) => Buffer.from([fc | 0x80, code]);
    if (this.mode === 'exception') return exception(this.exceptionCode);
    if (unit !== this.unitId) return exception(11);
    if (fc !== 3 && fc !== 4) return exception(1);
    if (pdu.length !== 5) return exception(3);
    const address = pdu.readUInt16BE(1);
    const count = pdu.readUInt16BE(3);
    if (count < 1 || count > 125) return exception(3);
    const table = this.tables[fc === 3 ? 'holding' : 'input'];
    const words: number[] = [];
    for (let a = address; a < address + count; a++) {
      const w = table.get(a);
      if (w === undefined) return exception(2);
      words.push(w);
    }
    // `short`: the byte count and the data disagree with what was asked, by one register.
    const sent = this.mode === 'short' ? words.slice(0, -1) : words;
    const body = Buffer.alloc(2 + 2 * sent.length);
    body.writeUInt8(fc, 0);
    body.writeUInt8(2 * sent.length, 1);
    for (const [i, w] of sent.entries()) body.writeUInt16BE(w, 2 + 2 * i);
    return body;
  }
}
