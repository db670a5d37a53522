/** Runs a process entry point with a config file written for the test; returns its exit status and output. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export function runWithConfig(entry: string, config: unknown, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'qly-cfgrun-'));
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(config));
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, entry), '--config', path], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    // A process that wrongly accepts its config runs on (an edge agent retrying its broker) and may
    // not stop on SIGTERM: killed outright, so the test fails instead of hanging and leaving it behind.
    killSignal: 'SIGKILL',
    env: { ...process.env, DATA_DIR: join(dir, 'data'), ...env },
  });
}
