import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadHubConfig } from '../src/config.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('hub config', () => {
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
    const dir = mkdtempSync(join(tmpdir(), 'qly-hubcfg-'));
    const path = join(dir, 'hub.json');
    writeFileSync(
      path,
      JSON.stringify({ port: 'eighty', mqtt: { colour: 'red' }, sites: [{ id: 'a/b', name: '' }], extra: 1 }),
    );
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'hub/src/server.ts'), '--config', path],
      {
        cwd: root,
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, DATA_DIR: join(dir, 'data') },
      },
    );
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
