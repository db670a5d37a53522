import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWithConfig } from '../../tests/support/config-run.ts';
import { loadHubConfig } from '../src/config.ts';

describe('hub config', () => {
  it('refuses a cluster missing what the hubs must share, naming each', () => {
    const base = { cluster: { redisUrl: 'redis://127.0.0.1:6379' } };
    expect(() => loadHubConfig(undefined, {}, base)).toThrow(
      /state\.backend "postgres"[\s\S]*external broker[\s\S]*influxdb[\s\S]*auth\.jwtSecretFile/,
    );
    expect(() =>
      loadHubConfig(
        undefined,
        {},
        {
          ...base,
          state: { backend: 'postgres' },
          mqtt: { url: 'mqtt://127.0.0.1:1883' },
          timeseries: { backend: 'influxdb' },
          auth: { jwtSecretFile: '/run/secrets/jwt' },
        },
      ),
    ).not.toThrow();
    // One hub needs none of it.
    expect(loadHubConfig(undefined, {}).cluster.redisUrl).toBeUndefined();
  });

  it('applies PORT, DATA_DIR and QLY_* overrides over the file', () => {
    const c = loadHubConfig(undefined, {
      PORT: '9090',
      DATA_DIR: '/srv/qly',
      QLY_MQTT_URL: 'mqtt://broker:1883',
    });
    expect(c.port).toBe(9090);
    expect(c.dataDir).toBe('/srv/qly');
    expect(c.mqtt.url).toBe('mqtt://broker:1883');
    expect(c.mqtt.embeddedPort).toBe(1883);
  });

  it('the hub process prints every error and exits 2 before listening or connecting', () => {
    const run = runWithConfig('hub/src/server.ts', {
      port: 'eighty',
      mqtt: { colour: 'red' },
      sites: [{ id: 'a/b', name: '' }],
      extra: 1,
    });
    expect(run.status).toBe(2);
    for (const where of ['/port', '/mqtt', '/sites/0/id', '/sites/0/name'])
      expect(run.stderr).toContain(where);
    expect(run.stdout).not.toContain('ready');
  });

  it('rejects a config file that is not JSON with its reason', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'qly-hubcfg-')), 'hub.json');
    writeFileSync(path, '{"port": 80,,}');
    expect(() => loadHubConfig(path, {})).toThrow(/not valid JSON/);
  });
});
