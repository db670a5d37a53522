/**
 * Why a Modbus sensor gives no reading, as a code and a sentence. The pair is the device's
 * availability reason (`MODBUS_TIMEOUT: no answer within 1000 ms (input 0…1)`), the label of its
 * failure counter and the key of its throttled log line. Reasons never carry the device's address:
 * they leave the gateway, and the village LAN's layout stays on it (like camera URLs).
 */

export const FAILURE_KINDS = [
  'unreachable',
  'timeout',
  'exception',
  'garbage',
  'closed',
  'bad_value',
  'stale',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export const FAILURE_CODES: Record<FailureKind, string> = {
  unreachable: 'MODBUS_UNREACHABLE',
  timeout: 'MODBUS_TIMEOUT',
  exception: 'MODBUS_EXCEPTION',
  garbage: 'MODBUS_GARBAGE',
  closed: 'MODBUS_CLOSED',
  bad_value: 'MODBUS_BAD_VALUE',
  stale: 'MODBUS_STALE',
};

/** Exception codes, as the Modbus Application Protocol V1.1b3 (section 7) names them. */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export class ModbusFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    /** What the operator reads: no address, no stack. */
    readonly sentence: string,
    /** The Modbus exception code, for `exception`. */
    readonly exceptionCode?: number,
  ) {
    super(sentence);
  }

  get code(): string {
    return FAILURE_CODES[this.kind];
  }

  /** The availability reason: `CODE: sentence`, within the contract's 256 characters. */
  get reason(): string {
    return `${this.code}: ${this.sentence}`.slice(0, 256);
  }
}

export function exceptionFailure(code: number, what: string): ModbusFailure {
  const name = EXCEPTION_NAMES[code] ?? 'unknown exception';
  return new ModbusFailure('exception', `the device answered exception ${code} (${name}) to ${what}`, code);
}
