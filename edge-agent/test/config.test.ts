import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@qianliyan/protocols/config';
import { describe, expect, it } from 'vitest';
import { runWithConfig } from '../../tests/support/config-run.ts';
import { ADAPTERS } from '../src/adapters/registry.ts';
import { loadEdgeConfig } from '../src/config.ts';
import { DEV_ADAPTERS } from '../src/dev-adapters/registry.ts';

function writeConfig(value: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'qly-edgecfg-')), 'edge.json');
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

const minimal = { gateway: { id: 'gw-1', site: 'v1' } };

describe('edge config', () => {
  it('fills defaults for a minimal file', () => {
    const c = loadEdgeConfig(writeConfig(minimal), {});
    expect(c.mqtt.url).toBe('mqtt://127.0.0.1:1883');
    expect(c.outbox.maxMessages).toBe(500000);
    expect(c.devices).toEqual([]);
  });

  it('applies environment overrides and reads the password from a file', () => {
    const pw = writeConfig('s3cret\n');
    const c = loadEdgeConfig(writeConfig(minimal), {
      QLY_MQTT_URL: 'mqtt://10.0.0.1:1883',
      QLY_MQTT_PASSWORD_FILE: pw,
    });
    expect(c.mqtt.url).toBe('mqtt://10.0.0.1:1883');
    expect(c.mqtt.password).toBe('s3cret');
  });

  it('reports every problem at once: unknown keys, bad ids, unknown device types, bad device fields', () => {
    const path = writeConfig({
      gateway: { id: 'gw/1', site: 'v1' },
      mqtt: { url: 'mqtt://x', colour: 'blue' },
      devices: [
        { type: 'toaster', id: 't1' },
        { type: 'sim-sensor', id: 's1', name: 'S', position: { lat: 123, lon: 0 } },
        { type: 'sim-camera', id: 'c1', name: 'C', position: { lat: 1, lon: 1 }, zoom: 3 },
      ],
    });
    let error: unknown;
    try {
      loadEdgeConfig(path, {}, { ...ADAPTERS, ...DEV_ADAPTERS });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).problems.join('\n');
    expect(text).toContain('/gateway/id');
    expect(text).toContain('/mqtt');
    expect(text).toContain('/devices/0/type: unknown device type "toaster"');
    expect(text).toContain('/devices/1/position/lat');
    expect(text).toContain('/devices/2');
  });

  it('a drone on a listening MAVLink link must name its vehicle’s address', () => {
    const drone = { type: 'mavlink-drone', id: 'uav-1', name: 'U', position: { lat: 30, lon: 120 } };
    let error: unknown;
    try {
      loadEdgeConfig(writeConfig({ ...minimal, devices: [drone] }), {});
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).problems.join('\n')).toMatch(
      /^\/devices\/0\/peer: udpin:\/\/127\.0\.0\.1:14550 listens/m,
    );
    const ok = loadEdgeConfig(writeConfig({ ...minimal, devices: [{ ...drone, peer: '192.168.1.20' }] }), {});
    expect(ok.devices[0]).toMatchObject({ link: 'udpin://127.0.0.1:14550', peer: '192.168.1.20' });
  });

  it('onvif-camera: the picture probe is never more often than the health check, and its window fits its interval', () => {
    const camera = {
      type: 'onvif-camera',
      id: 'cam-1',
      name: 'C',
      position: { lat: 30, lon: 120 },
      xaddr: 'http://192.168.1.64/onvif/device_service',
      username: 'admin',
      passwordFile: '/etc/qly/cam.pw',
    };
    // Defaults: probed with every health check, a 5 s window; a 1 s health check gets a 0.5 s window.
    const ok = loadEdgeConfig(
      writeConfig({ ...minimal, devices: [camera, { ...camera, id: 'cam-2', healthIntervalMs: 1000 }] }),
      {},
    );
    expect(ok.devices[0]).toMatchObject({ videoCheck: true, healthIntervalMs: 30_000 });
    let error: unknown;
    try {
      loadEdgeConfig(
        writeConfig({
          ...minimal,
          devices: [
            { ...camera, healthIntervalMs: 10_000, videoCheckIntervalMs: 5000 },
            {
              ...camera,
              id: 'cam-2',
              videoCheckIntervalMs: 4000,
              videoCheckWindowMs: 4000,
              healthIntervalMs: 2000,
            },
          ],
        }),
        {},
      );
    } catch (err) {
      error = err;
    }
    const text = (error as ConfigError).problems.join('\n');
    expect(text).toMatch(
      /^\/devices\/0\/videoCheckIntervalMs: 5000 is shorter than healthIntervalMs \(10000\)/m,
    );
    expect(text).toMatch(
      /^\/devices\/1\/videoCheckWindowMs: 4000 must be shorter than the probe interval \(4000\)/m,
    );
  });

  it('modbus-sensor: defaults filled per device and per register point', () => {
    const c = loadEdgeConfig(
      writeConfig({
        ...minimal,
        devices: [
          {
            type: 'modbus-sensor',
            id: 'wl-1',
            name: 'Gauge',
            position: { lat: 30, lon: 120 },
            host: '192.168.10.20',
            points: [{ name: 'water_level', address: 0, unit: 'm' }],
          },
        ],
      }),
      {},
    );
    expect(c.devices[0]).toMatchObject({
      port: 502,
      unitId: 1,
      pollIntervalMs: 5000,
      timeoutMs: 1000,
      offlineAfterPolls: 3,
      points: [
        {
          name: 'water_level',
          address: 0,
          function: 'holding',
          dataType: 'uint16',
          wordOrder: 'ABCD',
          scale: 1,
          offset: 0,
          unit: 'm',
        },
      ],
    });
  });

  it('modbus-sensor: a register map the schema allows but no device could have is refused, every problem named', () => {
    const gauge = {
      type: 'modbus-sensor',
      name: 'Gauge',
      position: { lat: 30, lon: 120 },
      host: '192.168.10.20',
    };
    const path = writeConfig({
      ...minimal,
      devices: [
        {
          ...gauge,
          id: 'wl-1',
          reconnectMinMs: 5000,
          reconnectMaxMs: 1000,
          points: [
            { name: 'level', address: 0 },
            { name: 'level', address: 1 },
            { name: 'tail', address: 65535, dataType: 'float32' },
          ],
        },
        // Schema errors come first; the cross-field check only runs on a device that passed them.
        { ...gauge, id: 'wl-2', points: [{ name: 'Bad Name', address: -1, function: 'coil' }] },
        { ...gauge, id: 'wl-3', points: [] },
      ],
    });
    let error: unknown;
    try {
      loadEdgeConfig(path, {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).problems.join('\n');
    expect(text).toContain('/devices/0/points/1/name: duplicate point name level');
    expect(text).toContain('/devices/0/points/2/address: a float32 at 65535 ends past register 65535');
    expect(text).toContain('/devices/0/reconnectMinMs: must not exceed reconnectMaxMs');
    expect(text).toContain('/devices/1/points/0/name');
    expect(text).toContain('/devices/1/points/0/address');
    expect(text).toContain('/devices/1/points/0/function');
    expect(text).toContain('/devices/2/points');
  });

  it('rejects a file that is not JSON', () => {
    expect(() => loadEdgeConfig(writeConfig('{ nope'), {})).toThrow(/not valid JSON/);
  });

  it('the agent process prints every error and exits non-zero before connecting anywhere', () => {
    const run = runWithConfig('edge-agent/src/main.ts', {
      gateway: { id: 'gw-1' },
      extra: true,
      mqtt: { url: 'mqtt://127.0.0.1:1' },
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('invalid configuration');
    expect(run.stderr).toContain('/gateway/site');
    expect(run.stderr).toMatch(/Unexpected property|additional/i);
    expect(run.stdout).not.toContain('uplink');
  });
});
