/**
 * One Modbus TCP connection to a sensor, through `modbus-serial` (its TCP port and MBAP framing;
 * the library's serial half and its optional native `serialport` dependency are never loaded).
 *
 * The gateway opens the socket itself and hands it to the library (`linkTCP`), so that it can tell
 * what the library lumps together:
 *  - a refused or unanswered connect (`unreachable`) from a request left unanswered (`timeout`);
 *  - a request answered with bytes that never made a reply (`garbage`: a web server on port 502, a
 *    reply for another transaction, a wrong length) from silence — the library waits for a frame
 *    that never completes either way and reports both as a time-out;
 *  - the device closing the connection (`closed`), at once instead of after the time-out.
 * It also bounds what a device may send: more bytes than any reply could hold, or bytes nobody
 * asked for, poison the connection (MBAP has no resynchronisation marker), so it is dropped.
 *
 * Read-only: only functions 3 and 4 are ever sent.
 */
import { Socket } from 'node:net';
import modbusSerial from 'modbus-serial';
import { exceptionFailure, ModbusFailure } from './health.ts';
import type { RegisterTable } from './registers.ts';

/** The largest Modbus TCP ADU: 7 bytes of MBAP header and a 253-byte PDU (V1.1b3, 4.1). */
const MAX_ADU_BYTES = 260;

export interface ConnectionOptions {
  host: string;
  port: number;
  unitId: number;
  timeoutMs: number;
}

// A CommonJS module whose typings declare an ES default export: from ESM the module object is
// what `import` yields, and the library sets `module.exports.default` to the class for this case.
const ModbusRTU = modbusSerial.default;

interface ModbusError {
  name?: string;
  message?: string;
  errno?: string;
  modbusCode?: number;
}

export class ModbusConnection {
  private readonly client = new ModbusRTU();
  /** Bytes received since the request in flight was sent, or since the last reply when none is. */
  private bytesSinceRequest = 0;
  private inFlight = false;
  private unsolicitedBytes = 0;
  private closedReason: ModbusFailure | undefined;
  private onClosed: ((failure: ModbusFailure) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {}

  /** Connects within `timeoutMs`; rejects with an `unreachable` failure. */
  static async open(options: ConnectionOptions): Promise<ModbusConnection> {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new ModbusFailure(
            'unreachable',
            `the device did not accept a connection within ${options.timeoutMs} ms`,
          ),
        );
      }, options.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ModbusFailure('unreachable', connectErrorSentence(err)));
      });
      socket.connect({ host: options.host, port: options.port });
    });
    const connection = new ModbusConnection(socket, options);
    await connection.link();
    return connection;
  }

  private async link(): Promise<void> {
    const { socket, client } = this;
    // Every emitter gets an 'error' listener: an unhandled one would take the gateway down.
    socket.on('error', () => undefined);
    client.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (!this.inFlight) this.unsolicitedBytes += chunk.length;
      this.bytesSinceRequest += chunk.length;
      if (this.bytesSinceRequest > 2 * MAX_ADU_BYTES)
        this.fail(
          new ModbusFailure(
            'garbage',
            `the device sent ${this.bytesSinceRequest} bytes, more than any reply holds`,
          ),
        );
    });
    socket.once('close', () => this.fail(new ModbusFailure('closed', 'the device closed the connection')));
    await client.linkTCP(socket, { port: this.options.port });
    client.setID(this.options.unitId);
    // Set after linking: given to linkTCP it would also become an idle time-out on the socket.
    client.setTimeout(this.options.timeoutMs);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Why the connection ended, once it has. */
  get failure(): ModbusFailure | undefined {
    return this.closedReason;
  }

  /** Reads `count` registers from `address`; rejects with a classified `ModbusFailure`. */
  async read(table: RegisterTable, address: number, count: number): Promise<number[]> {
    const what = `${table} ${address}${count > 1 ? `…${address + count - 1}` : ''}`;
    if (this.closedReason) throw this.closedReason;
    if (this.unsolicitedBytes > 0) {
      const failure = new ModbusFailure(
        'garbage',
        `the device sent ${this.unsolicitedBytes} bytes nobody asked for`,
      );
      this.fail(failure);
      throw failure;
    }
    this.bytesSinceRequest = 0;
    this.inFlight = true;
    const request =
      table === 'holding'
        ? this.client.readHoldingRegisters(address, count)
        : this.client.readInputRegisters(address, count);
    let guard: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        request,
        new Promise<never>((_, reject) => {
          this.onClosed = reject;
          // The library times out on its own; this guard only keeps a poll from hanging on a bug.
          guard = setTimeout(
            () =>
              reject(new ModbusFailure('timeout', `no answer within ${this.options.timeoutMs} ms (${what})`)),
            this.options.timeoutMs + 1000,
          );
        }),
      ]);
      if (!Array.isArray(result.data) || result.data.length !== count)
        throw new ModbusFailure(
          'garbage',
          `the reply to ${what} held ${result.data?.length ?? 0} registers instead of ${count}`,
        );
      return result.data;
    } catch (err) {
      const failure = this.classify(err as ModbusError, what);
      // An exception is a well-formed answer: the connection is still in step. Anything else leaves
      // the byte stream in an unknown state, and MBAP cannot resynchronise: start afresh.
      if (failure.kind !== 'exception') this.fail(failure);
      throw failure;
    } finally {
      this.inFlight = false;
      this.onClosed = undefined;
      clearTimeout(guard);
      // A rejection after the race was decided (e.g. after close) must not go unhandled.
      request.catch(() => undefined);
    }
  }

  private classify(err: ModbusError, what: string): ModbusFailure {
    if (err instanceof ModbusFailure) return err;
    if (this.closedReason) return this.closedReason;
    if (typeof err.modbusCode === 'number') return exceptionFailure(err.modbusCode, `a read of ${what}`);
    if (err.errno === 'ETIMEDOUT' || err.name === 'TransactionTimedOutError')
      return this.bytesSinceRequest > 0
        ? new ModbusFailure(
            'garbage',
            `${this.bytesSinceRequest} bytes came back for ${what}, none of them a reply to it`,
          )
        : new ModbusFailure('timeout', `no answer within ${this.options.timeoutMs} ms (${what})`);
    if (err.name === 'PortNotOpenError')
      return new ModbusFailure('closed', 'the device closed the connection');
    // "Data length error", "Unexpected data error" (another unit or function), a parse that ran off
    // the end of the reply: the device answered, with something that is not this reply.
    return new ModbusFailure(
      'garbage',
      `the reply to ${what} does not parse: ${String(err.message).slice(0, 120)}`,
    );
  }

  /** Marks the connection dead with its reason, fails the request in flight, frees the socket. */
  private fail(failure: ModbusFailure): void {
    if (this.closedReason) return;
    this.closedReason = failure;
    this.close();
  }

  close(): void {
    this.closedReason ??= new ModbusFailure('closed', 'the gateway closed the connection');
    // The request in flight ends now: destroy() cancels the library's time-out, so it never would.
    this.onClosed?.(this.closedReason);
    this.client.destroy(() => undefined);
    this.socket.destroy();
  }
}

function connectErrorSentence(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'the device refused the connection (nothing listens on its Modbus port)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the device';
    case 'ETIMEDOUT':
      return 'the device did not accept a connection in time';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the device’s host name does not resolve';
    case 'ECONNRESET':
      return 'the device reset the connection';
    default:
      return `cannot connect to the device (${err.code ?? err.message})`;
  }
}
