/**
 * The modbus-sensor adapter against the Modbus TCP simulator over real TCP on loopback:
 *  - readings decoded, typed and scaled for every data type and word order, the register map
 *    read in as few requests as the protocol allows, nothing but reads ever sent;
 *  - each misbehaviour of the device → offline with the right reason, counted, logged (throttled),
 *    then online again when the device behaves;
 *  - a device that stops → offline only after the configured number of poll intervals;
 *  - through the real agent, a new reason while offline reaches the outbox;
 *  - the demo village's sensor stations are simulators read by this adapter.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../../../tests/support/wait.ts';
import { modbusSensor } from '../../src/adapters/modbus-sensor/index.ts';
import { planBlocks } from '../../src/adapters/modbus-sensor/registers.ts';
import {
  ModbusSimulator,
  type SimulatorMode,
  STATION_POINTS,
} from '../../src/adapters/modbus-sensor/simulator.ts';
import type { AdapterContext, DeviceAdapter } from '../../src/adapters/types.ts';
import { EdgeAgent } from '../../src/agent.ts';
import { loadEdgeConfig } from '../../src/config.ts';
import { startVillage } from '../../src/village.ts';

type Counters = {
  polls: number;
  readings: number;
  connects: number;
  failures: Record<string, number>;
};
type Sensor = DeviceAdapter & { counters: Counters };

/** A context that records what the adapter reports, with when, and its log lines. */
function recorder() {
  const rec = {
    telemetry: [] as Array<{ at: number; values: Record<string, unknown> }>,
    events: [] as Array<{ type: string }>,
    availability: [] as Array<{ at: number; online: boolean; reason?: string }>,
    logs: [] as Array<{ level: number; msg: string; kind?: string; repeated?: number }>,
  };
  // Debug level: every failure is there too, besides the throttled warnings.
  const log = pino({ level: 'debug' }, { write: (line: string) => void rec.logs.push(JSON.parse(line)) });
  const ctx: AdapterContext = {
    dataDir: '/nonexistent/qly-test-device',
    cacheDir: '/nonexistent/qly-test-cache',
    log,
    telemetry: (values) => rec.telemetry.push({ at: Date.now(), values }),
    event: (type) => rec.events.push({ type }),
    availability: (online, reason) =>
      rec.availability.push({ at: Date.now(), online, ...(reason ? { reason } : {}) }),
    hub: undefined,
    metaChanged: () => undefined,
  };
  return { rec, ctx };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function station(options: ConstructorParameters<typeof ModbusSimulator>[0] = {}) {
  const sim = new ModbusSimulator(options);
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

function sensor(port: number, overrides: Record<string, unknown> = {}) {
  const { rec, ctx } = recorder();
  const config = {
    type: 'modbus-sensor',
    id: 'wl-01',
    name: '水位站 01',
    position: { lat: 30.042, lon: 119.951 },
    host: '127.0.0.1',
    port,
    unitId: 1,
    pollIntervalMs: 200,
    timeoutMs: 300,
    offlineAfterPolls: 1,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    points: STATION_POINTS,
    ...overrides,
  };
  // Defaults filled as the agent fills them.
  const withDefaults = Value.Default(modbusSensor.configSchema, structuredClone(config));
  const adapter = modbusSensor.create(withDefaults as never, ctx) as unknown as Sensor;
  adapter.start();
  cleanups.push(() => adapter.stop());
  return { rec, adapter };
}

const lastValues = (rec: ReturnType<typeof recorder>['rec']) => rec.telemetry.at(-1)?.values ?? {};

describe('readings', () => {
  it('the station: float32, uint32 low word first, signed tenths — scaled, with units in the descriptor', async () => {
    const sim = await station();
    sim.set('water_level', 3.37);
    sim.set('rainfall', 12.6);
    sim.set('temperature', -4.5);
    sim.set('humidity', 97.3);
    const { rec, adapter } = sensor(sim.port);
    await waitFor('online', () => rec.availability.at(-1)?.online === true, 5000);
    expect(lastValues(rec)).toEqual({ water_level: 3.37, rainfall: 12.6, temperature: -4.5, humidity: 97.3 });
    // The gauge driven up and down by the test, as a river would.
    sim.set('water_level', 4.02);
    await waitFor('level up', () => lastValues(rec).water_level === 4.02, 3000);
    sim.set('water_level', 1.5);
    await waitFor('level down', () => lastValues(rec).water_level === 1.5, 3000);
    expect(adapter.describe()).toEqual({
      kind: 'sensor',
      name: '水位站 01',
      model: 'Modbus TCP sensor',
      position: { lat: 30.042, lon: 119.951 },
      capabilities: [
        'telemetry.water_level',
        'telemetry.rainfall',
        'telemetry.temperature',
        'telemetry.humidity',
      ],
      units: { water_level: 'm', rainfall: 'mm', temperature: '°C', humidity: '%' },
    });
    expect(rec.events).toEqual([]); // readings only: thresholds are the hub's
    // Only reads went over the wire (read-only adapter): functions 3 and 4, nothing else.
    expect([...sim.requests.keys()].every((fc) => fc === 3 || fc === 4)).toBe(true);
  });

  it('every data type and word order, from raw registers written by hand', async () => {
    const sim = await station();
    // Words as the device sends them, worked out by hand from the datasheet convention:
    // -10 = 0xFFF6; -123456 = 0xFFFE1DC0; 3,000,000,000 = 0xB2D05E00; 12.345f = 0x4145851F.
    sim.setRegisters('holding', 100, [0xfff6, 0xfff6]);
    sim.setRegisters('holding', 102, [0xfffe, 0x1dc0, 0x1dc0, 0xfffe]);
    sim.setRegisters('holding', 106, [0xb2d0, 0x5e00, 0x5e00, 0xb2d0]);
    sim.setRegisters('holding', 110, [0x4145, 0x851f, 0x851f, 0x4145, 0x4541, 0x1f85, 0x1f85, 0x4541]);
    sim.setRegisters('input', 7, [0x8000]);
    const h = (name: string, address: number, dataType: string, extra: Record<string, unknown> = {}) => ({
      name,
      address,
      function: 'holding',
      dataType,
      wordOrder: 'ABCD',
      scale: 1,
      offset: 0,
      ...extra,
    });
    const points = [
      h('i16', 100, 'int16', { scale: 0.1 }),
      h('u16', 101, 'uint16'),
      h('i32_abcd', 102, 'int32', { scale: 0.01, offset: 10 }),
      h('i32_cdab', 104, 'int32', { wordOrder: 'CDAB' }),
      h('u32_abcd', 106, 'uint32'),
      h('u32_cdab', 108, 'uint32', { wordOrder: 'CDAB' }),
      h('f_abcd', 110, 'float32'),
      h('f_cdab', 112, 'float32', { wordOrder: 'CDAB' }),
      h('f_badc', 114, 'float32', { wordOrder: 'BADC' }),
      h('f_dcba', 116, 'float32', { wordOrder: 'DCBA', scale: 100, offset: -300 }),
      { ...h('i16_input', 7, 'int16'), function: 'input' },
    ];
    const { rec } = sensor(sim.port, { points });
    await waitFor('online', () => rec.availability.at(-1)?.online === true, 5000);
    expect(lastValues(rec)).toEqual({
      i16: -1,
      u16: 65526,
      i32_abcd: -1224.56,
      i32_cdab: -123456,
      u32_abcd: 3_000_000_000,
      u32_cdab: 3_000_000_000,
      f_abcd: 12.345,
      f_cdab: 12.345,
      f_badc: 12.345,
      f_dcba: 934.5,
      i16_input: -32768,
    });
    for (const value of Object.values(lastValues(rec))) expect(typeof value).toBe('number');
    // Eighteen contiguous holding registers are one read, the input register another.
    const before = sim.requests.get(3) ?? 0;
    const polls = rec.telemetry.length;
    await waitFor('two more polls', () => rec.telemetry.length >= polls + 2, 3000);
    expect((sim.requests.get(3) ?? 0) - before).toBeLessThanOrEqual(rec.telemetry.length - polls + 1);
  });

  it('reads are grouped: touching registers share a request, gaps and tables never do, 125 at most', () => {
    const p = (name: string, address: number, fn: 'holding' | 'input', dataType: 'uint16' | 'float32') => ({
      name,
      address,
      function: fn,
      dataType,
      wordOrder: 'ABCD' as const,
      scale: 1,
      offset: 0,
    });
    const blocks = planBlocks([
      p('a', 0, 'input', 'float32'),
      p('b', 2, 'input', 'uint16'),
      p('c', 4, 'input', 'uint16'), // a gap of one register at 3
      p('d', 0, 'holding', 'uint16'),
      p('e', 200, 'holding', 'uint16'),
      p('f', 324, 'holding', 'uint16'), // 200…324 would be 125 registers: allowed
      p('g', 325, 'holding', 'uint16'), // 200…325 would be 126: a new read
    ]);
    expect(blocks.map((b) => [b.table, b.address, b.count, b.points.map((x) => x.name).join('')])).toEqual([
      ['holding', 0, 1, 'd'],
      ['holding', 200, 1, 'e'],
      ['holding', 324, 2, 'fg'],
      ['input', 0, 3, 'ab'],
      ['input', 4, 1, 'c'],
    ]);
  });
});

describe('health', () => {
  const cases: Array<[SimulatorMode, string, string, RegExp]> = [
    ['exception', 'exception', 'MODBUS_EXCEPTION', /exception 4 \(server device failure\)/],
    ['hang', 'timeout', 'MODBUS_TIMEOUT', /no answer within 300 ms \(input 0…1\)/],
    ['garbage', 'garbage', 'MODBUS_GARBAGE', /bytes came back for input 0…1, none of them a reply/],
    ['short', 'garbage', 'MODBUS_GARBAGE', /does not parse: Data length error/],
    ['close', 'closed', 'MODBUS_CLOSED', /the device closed the connection/],
    ['stopped', 'unreachable', 'MODBUS_UNREACHABLE', /refused the connection/],
  ];

  it.each(cases)(
    '%s → offline (%s) with its reason, counted, then back online',
    async (mode, kind, code, sentence) => {
      const sim = await station();
      const { rec, adapter } = sensor(sim.port);
      await waitFor('online', () => rec.availability.at(-1)?.online === true, 5000);
      await sim.setMode(mode);
      const off = await waitFor(
        `offline with ${code}`,
        () => rec.availability.find((a) => !a.online && a.reason?.startsWith(`${code}: `)),
        5000,
      );
      expect(off.reason).toMatch(sentence);
      // The address of the device stays on the gateway.
      expect(off.reason).not.toContain('127.0.0.1');
      expect(adapter.counters.failures[kind]).toBeGreaterThan(0);
      expect(rec.logs.some((l) => l.level === 40 && l.kind === kind)).toBe(true);
      const samples = rec.telemetry.length;
      await sim.setMode('normal');
      await waitFor('back online', () => rec.availability.at(-1)?.online === true, 5000);
      await waitFor('readings again', () => rec.telemetry.length > samples, 3000);
      expect(lastValues(rec).water_level).toBe(2.4);
      expect(rec.logs.some((l) => l.msg === 'modbus sensor reads again')).toBe(true);
    },
  );

  it('the exception code is named: illegal data address for an unmapped point, gateway target for another unit', async () => {
    const sim = await station();
    // A point the device does not have: the others are still read and published.
    const { rec } = sensor(sim.port, {
      points: [...STATION_POINTS, { name: 'flow', address: 40, function: 'input', dataType: 'uint16' }],
    });
    const off = await waitFor('refused read', () => rec.availability.find((a) => !a.online), 5000);
    expect(off.reason).toBe(
      'MODBUS_EXCEPTION: the device answered exception 2 (illegal data address) to a read of input 40',
    );
    await waitFor('the rest published', () => lastValues(rec).water_level === 2.4, 3000);
    expect(lastValues(rec)).not.toHaveProperty('flow');
    expect(rec.availability.some((a) => a.online)).toBe(false);

    const other = sensor(sim.port, { id: 'wl-09', unitId: 9 });
    const gone = await waitFor('no such unit', () => other.rec.availability.find((a) => !a.online), 5000);
    expect(gone.reason).toMatch(/exception 11 \(gateway target device failed to respond\)/);
  });

  it('stopped: online until the configured intervals have passed without a reading, then offline', async () => {
    const sim = await station();
    const { rec } = sensor(sim.port, { pollIntervalMs: 300, offlineAfterPolls: 3 });
    await waitFor('online', () => rec.availability.at(-1)?.online === true, 5000);
    await waitFor('a few readings', () => rec.telemetry.length >= 3, 5000);
    await sim.setMode('stopped');
    const lastReading = rec.telemetry.at(-1)?.at as number;
    const off = await waitFor('offline', () => rec.availability.find((a) => !a.online), 5000);
    const silentMs = off.at - lastReading;
    expect(silentMs).toBeGreaterThanOrEqual(3 * 300);
    expect(silentMs).toBeLessThan(3 * 300 + 300 + 500); // checked every poll interval, plus timer lag
    expect(off.reason).toMatch(/^MODBUS_UNREACHABLE: /);
    await sim.setMode('normal');
    await waitFor('back online', () => rec.availability.at(-1)?.online === true, 5000);
  });

  it('reads slower than the window: MODBUS_STALE first, then the time-out as the new reason', async () => {
    const sim = await station();
    const { rec } = sensor(sim.port, { pollIntervalMs: 200, offlineAfterPolls: 2, timeoutMs: 2500 });
    await waitFor('online', () => rec.availability.at(-1)?.online === true, 5000);
    await sim.setMode('hang');
    const stale = await waitFor('stale', () => rec.availability.find((a) => !a.online), 3000);
    expect(stale.reason).toBe('MODBUS_STALE: no reading for 2 polls (0.4 s): the device is slow to answer');
    const timeout = await waitFor(
      'the time-out',
      () => rec.availability.find((a) => a.reason?.startsWith('MODBUS_TIMEOUT')),
      5000,
    );
    expect(timeout.online).toBe(false);
    expect(timeout.reason).toBe('MODBUS_TIMEOUT: no answer within 2500 ms (input 0…1)');
    await sim.setMode('normal');
    await waitFor('back online', () => rec.availability.at(-1)?.online === true, 8000);
  });

  it('a device answering garbage for a while: no crash, every failure counted, one log line, reconnects backed off', async () => {
    const sim = await station();
    // Four polls (800 ms) before offline: well past a poll's start and its read's time-out
    // (200 + 300 ms), so the garbage is the reason from the start, never MODBUS_STALE first.
    const { rec, adapter } = sensor(sim.port, {
      reconnectMinMs: 400,
      reconnectMaxMs: 1600,
      offlineAfterPolls: 4,
    });
    await waitFor('online', () => rec.availability.at(-1)?.online === true, 5000);
    const connectsBefore = sim.connections;
    await sim.setMode('garbage');
    await waitFor('a first garbage reply', () => (adapter.counters.failures.garbage ?? 0) >= 1, 3000);
    const first = Date.now();
    await waitFor('four garbage replies', () => (adapter.counters.failures.garbage ?? 0) >= 4, 10_000);
    // Each garbage reply drops the connection (MBAP cannot resynchronise) and a new one is opened,
    // no sooner than the backoff: at least 0.5 × (400 + 800 + 1600) ms for three reconnects, where
    // polling alone (every 200 ms) would have taken 0.6 s.
    expect(Date.now() - first).toBeGreaterThanOrEqual(1350);
    expect(sim.connections - connectsBefore).toBeGreaterThanOrEqual(3);
    // Every failure at debug level, one warning: the rest are held back for a minute.
    expect(rec.logs.filter((l) => l.kind === 'garbage' && l.level === 20).length).toBeGreaterThanOrEqual(4);
    expect(rec.logs.filter((l) => l.kind === 'garbage' && l.level === 40)).toHaveLength(1);
    // The same reason is not reported again and again.
    expect(rec.availability.filter((a) => !a.online)).toHaveLength(1);
    await sim.setMode('normal');
    await waitFor('back online', () => rec.availability.at(-1)?.online === true, 5000);
    expect(adapter.counters.readings).toBeGreaterThan(1);
    expect(adapter.counters.polls).toBeGreaterThan(adapter.counters.readings);
  });

  it('bytes nobody asked for, and a flood, poison the connection: garbage, then a fresh one', async () => {
    const sim = await station();
    const { rec, adapter } = sensor(sim.port, { pollIntervalMs: 300 });
    await waitFor('online', () => rec.availability.at(-1)?.online === true, 5000);
    const garbage = () => adapter.counters.failures.garbage ?? 0;
    // Waits until a reading came over a connection opened after the previous one was dropped.
    const readingOnConnection = async (n: number) => {
      await waitFor(`connection ${n}`, () => sim.connections === n, 3000);
      const readings = adapter.counters.readings;
      await waitFor(`a reading on connection ${n}`, () => adapter.counters.readings > readings, 3000);
    };
    sim.broadcast(Buffer.from('unsolicited'));
    await waitFor('unsolicited bytes refused', () => garbage() === 1, 3000);
    expect(rec.logs.find((l) => l.kind === 'garbage')?.msg).toBe('the device sent 11 bytes nobody asked for');
    expect(rec.logs.filter((l) => l.kind === 'garbage' && l.level === 40)).toHaveLength(1);
    await readingOnConnection(2);
    sim.broadcast(Buffer.alloc(4096, 0x41));
    await waitFor('flood refused', () => garbage() === 2, 3000);
    // At debug level: the warning for garbage was written a moment ago and is held back.
    expect(rec.logs.filter((l) => l.kind === 'garbage' && l.level === 40)).toHaveLength(1);
    expect(rec.logs.filter((l) => l.kind === 'garbage').at(-1)?.msg).toMatch(
      /^the device sent \d+ bytes, more than any reply holds$/,
    );
    await readingOnConnection(3);
    await waitFor('online', () => rec.availability.at(-1)?.online === true, 3000);
  });
});

describe('through the agent', () => {
  it('a new reason while the sensor stays offline reaches the outbox', async () => {
    const sim = await station();
    const dir = mkdtempSync(join(tmpdir(), 'qly-modbus-agent-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const configPath = join(dir, 'edge.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        gateway: { id: 'gw-mb', site: 'v1' },
        // Nothing listens there: every message stays in the outbox, where the test reads it.
        mqtt: { url: `mqtt://127.0.0.1:${await freePort()}`, reconnectMinMs: 5000 },
        outbox: { path: join(dir, 'outbox.db') },
        devices: [
          {
            type: 'modbus-sensor',
            id: 'wl-01',
            name: 'Gauge',
            position: { lat: 30, lon: 120 },
            host: '127.0.0.1',
            port: sim.port,
            pollIntervalMs: 200,
            timeoutMs: 300,
            offlineAfterPolls: 1,
            reconnectMinMs: 50,
            reconnectMaxMs: 200,
            points: STATION_POINTS,
          },
        ],
      }),
    );
    const agent = new EdgeAgent(loadEdgeConfig(configPath, {}), pino({ level: 'silent' }));
    await agent.start();
    cleanups.push(() => agent.stop(0));
    const availability = () =>
      agent.outbox
        .peek('control', 0, 1000)
        .filter((r) => r.topic.endsWith('/wl-01/availability'))
        .map((r) => JSON.parse(r.payload.toString()) as { online: boolean; reason?: string });
    await waitFor('online in the outbox', () => availability().at(-1)?.online === true, 5000);
    await sim.setMode('exception');
    await waitFor('exception', () => availability().at(-1)?.reason?.startsWith('MODBUS_EXCEPTION'), 5000);
    await sim.setMode('hang');
    await waitFor('timeout', () => availability().at(-1)?.reason?.startsWith('MODBUS_TIMEOUT'), 5000);
    expect(availability().at(-1)?.online).toBe(false);
  });
});

describe('the demo village', () => {
  it('its sensor stations are Modbus TCP simulators read by this adapter, with no alarm of their own', async () => {
    const village = await startVillage(
      {
        center: { lat: 30.042, lon: 119.951 },
        radiusM: 900,
        cameras: 0,
        speakers: 0,
        drones: 0,
        sensors: 2,
        intervalMs: 500,
        droneRateHz: 10,
        seed: 1,
      },
      join(mkdtempSync(join(tmpdir(), 'qly-village-')), 'outbox.db'),
    );
    cleanups.push(() => village.stop());
    expect(village.devices.map((d) => [d.id, d.type])).toEqual([
      ['env-01', 'modbus-sensor'],
      ['env-02', 'modbus-sensor'],
    ]);
    // Each station's config is one a real gateway could load.
    for (const d of village.devices) {
      const config = Value.Default(modbusSensor.configSchema, structuredClone(d));
      expect([...Value.Errors(modbusSensor.configSchema, config)].map((e) => e.path)).toEqual([]);
      expect(modbusSensor.check?.(config as never)).toEqual([]);
    }
    const station = village.devices[0] as Record<string, unknown>;
    const { rec } = sensor(station.port as number, station);
    await waitFor('readings', () => rec.telemetry.length >= 2, 5000);
    expect(Object.keys(lastValues(rec)).sort()).toEqual([
      'humidity',
      'rainfall',
      'temperature',
      'water_level',
    ]);
    const level = lastValues(rec).water_level as number;
    expect(level).toBeGreaterThan(1.4);
    expect(level).toBeLessThan(3.4);
    expect(rec.events).toEqual([]);
  });
});
