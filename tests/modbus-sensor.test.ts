/**
 * A Modbus TCP sensor end to end: the Modbus simulator on loopback, a real edge agent process
 * polling it with `modbus-sensor`, the hub's ingest over the embedded broker. The readings reach the
 * hub scaled, the descriptor with its units is accepted by the contract, and each health reason the
 * gateway reports — including a new one while the sensor stays offline — is what the hub shows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusSimulator, STATION_POINTS } from '../edge-agent/src/adapters/modbus-sensor/simulator.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { waitFor } from './support/wait.ts';

describe('a Modbus TCP sensor through the gateway to the hub', () => {
  let hub: TestHub;
  let edge: EdgeProcess;
  const sim = new ModbusSimulator();
  const KEY = 'gw-modbus.wl-01';
  const device = () => hub.app.registry.getDevice(KEY);

  beforeAll(async () => {
    await sim.start();
    sim.set('water_level', 3.21);
    sim.set('temperature', -2.5);
    hub = await startTestHub();
    edge = new EdgeProcess(
      {
        gateway: { id: 'gw-modbus', site: 'dongshan' },
        mqtt: { url: hub.brokerUrl },
        devices: [
          {
            type: 'modbus-sensor',
            id: 'wl-01',
            name: '东山水位站',
            position: { lat: 30.046, lon: 119.972 },
            host: '127.0.0.1',
            port: sim.port,
            pollIntervalMs: 300,
            timeoutMs: 400,
            offlineAfterPolls: 2,
            reconnectMinMs: 100,
            reconnectMaxMs: 400,
            points: STATION_POINTS,
          },
        ],
      },
      await hub.provisionGateway('gw-modbus', 'dongshan'),
    );
    edge.start();
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    await hub?.close();
    await sim.stop();
  });

  it('readings arrive scaled; the descriptor with units is accepted', async () => {
    await waitFor('readings at the hub', () => device()?.values.water_level === 3.21, 30_000);
    expect(device()?.values).toMatchObject({
      water_level: 3.21,
      temperature: -2.5,
      rainfall: 0,
      humidity: 65,
    });
    expect(device()?.capabilities).toEqual([
      'telemetry.water_level',
      'telemetry.rainfall',
      'telemetry.temperature',
      'telemetry.humidity',
    ]);
    expect(await hub.metric('qly_ingest_rejected_total', { reason: 'schema' })).toBe(0);
  });

  it('the gateway’s health reasons are the hub’s: exception, then time-out while still offline, then online', async () => {
    await sim.setMode('exception');
    await waitFor(
      'exception shown',
      () => device()?.unreachable?.reason.startsWith('MODBUS_EXCEPTION: the device answered exception 4'),
      10_000,
    );
    await sim.setMode('hang');
    await waitFor(
      'time-out shown',
      () => device()?.unreachable?.reason === 'MODBUS_TIMEOUT: no answer within 400 ms (input 0…1)',
      10_000,
    );
    await sim.setMode('normal');
    sim.set('water_level', 3.4);
    await waitFor(
      'online again',
      () => !device()?.unreachable && device()?.values.water_level === 3.4,
      10_000,
    );
  });
});
