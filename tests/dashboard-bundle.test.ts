/**
 * The production dashboard carries no test hook: `window.__qly` (what browser tests used to read)
 * and its successor `window.__qlyTest` exist only in the test build. Both builds are made here from
 * the dashboard's own vite config, into temporary folders; the test build must contain the hook
 * (else this check could not see one), the production build must not.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { describe, expect, it } from 'vitest';

const CONFIG = fileURLToPath(new URL('../dashboard/vite.config.ts', import.meta.url));

async function bundle(mode: 'production' | 'test'): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), `qly-bundle-${mode}-`));
  await build({ configFile: CONFIG, mode, logLevel: 'silent', build: { outDir, emptyOutDir: true } });
  const assets = join(outDir, 'assets');
  return readdirSync(assets)
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(assets, f), 'utf8'))
    .join('\n');
}

describe('dashboard bundles', () => {
  it('the test build installs the test hook', async () => {
    const js = await bundle('test');
    expect(js).toContain('__qlyTest');
  }, 120_000);

  it('the production build holds no test hook, nor the names it reads', async () => {
    const js = await bundle('production');
    expect(js).not.toContain('__qly');
    // What only the hook exposes (the lag probe's buffer) is gone with it.
    expect(js).not.toMatch(/lagSamples|probeLag|measureLatency/);
  }, 120_000);
});
