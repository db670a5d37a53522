/**
 * Simulated test devices stay out of production: the production registry (and so the configuration
 * reference generated from it) holds only adapters that speak a device's protocol; a config naming a
 * `sim-*` device is refused, with the reason, unless the agent was started with QLY_DEV_ADAPTERS=1;
 * and no production module imports the simulated devices' code.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@qianliyan/protocols/config';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { configDocs } from '../../../scripts/config-docs.ts';
import { runWithConfig } from '../../../tests/support/config-run.ts';
import { ADAPTERS, DEV_ADAPTER_TYPES } from '../../src/adapters/registry.ts';
import { loadEdgeConfig } from '../../src/config.ts';
import { DEV_ADAPTERS } from '../../src/dev-adapters/registry.ts';

const SRC = resolve(fileURLToPath(new URL('../../src', import.meta.url)));
const simCamera = { type: 'sim-camera', id: 'c1', name: 'C', position: { lat: 30, lon: 120 } };
const config = {
  gateway: { id: 'gw-1', site: 'v1' },
  mqtt: { url: 'mqtt://127.0.0.1:1' },
  devices: [simCamera],
};

function writeConfig(value: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'qly-edgereg-')), 'edge.json');
  writeFileSync(path, JSON.stringify(value));
  return path;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.ts$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

describe('simulated test devices are not production adapters', () => {
  it('the production registry holds none of them', () => {
    expect(Object.keys(ADAPTERS).sort()).toEqual([
      'ip-speaker',
      'mavlink-drone',
      'modbus-sensor',
      'onvif-camera',
    ]);
    for (const type of Object.keys(DEV_ADAPTERS)) expect(ADAPTERS, type).not.toHaveProperty(type);
    // The names production uses to explain a refusal are the development registry's.
    expect([...DEV_ADAPTER_TYPES].sort()).toEqual(Object.keys(DEV_ADAPTERS).sort());
  });

  it('the configuration reference documents none of them', () => {
    const docs = configDocs();
    expect(docs).toContain('onvif-camera');
    for (const type of DEV_ADAPTER_TYPES) expect(docs, type).not.toContain(type);
  });

  it('a config naming one is refused with the reason, and accepted with the development registry', () => {
    let error: unknown;
    try {
      loadEdgeConfig(writeConfig(config), {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      '/devices/0/type: sim-camera is a simulated test device, not a production adapter; it runs only when the agent is started with QLY_DEV_ADAPTERS=1 (tests and development)',
    ]);
    const dev = loadEdgeConfig(writeConfig(config), {}, { ...ADAPTERS, ...DEV_ADAPTERS });
    expect(dev.devices[0]).toMatchObject({ type: 'sim-camera', id: 'c1' });
  });

  it('the agent process refuses it without QLY_DEV_ADAPTERS=1, before connecting anywhere', () => {
    const run = runWithConfig('edge-agent/src/main.ts', config, { QLY_DEV_ADAPTERS: '' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('sim-camera is a simulated test device');
    expect(run.stderr).toContain('QLY_DEV_ADAPTERS=1');
  });

  it('no production module imports them; the entry loads them only behind the switch', () => {
    const importers = sourceFiles(SRC)
      .filter((file) => !relative(SRC, file).startsWith('dev-adapters/'))
      .filter((file) =>
        ts
          .preProcessFile(readFileSync(file, 'utf8'), true, true)
          .importedFiles.some((i) =>
            resolve(dirname(file), i.fileName).startsWith(join(SRC, 'dev-adapters')),
          ),
      )
      .map((file) => relative(SRC, file));
    expect(importers).toEqual(['main.ts']);
    const main = readFileSync(join(SRC, 'main.ts'), 'utf8');
    expect(main).not.toMatch(/^import[^;]*dev-adapters/m);
    expect(main).toMatch(/devAdapters\s*\?[^:]*await import\('\.\/dev-adapters\/registry\.ts'\)/s);
  });
});
