/**
 * Leaves the machine as the run found it, and keeps concurrent runs apart: every temporary
 * directory the tests make (hub data dirs kept across a restart within a test, outboxes, broker and
 * browser profiles) goes under one directory of this run — `TMPDIR` is pointed at it before any
 * test file starts, so test workers and every process they spawn (hubs, agents, Mosquitto, chromium)
 * inherit it — and that directory is removed when the run ends. (Sweeping `qly-*` entries of the
 * shared temp dir by age removed another run's live hub data when two runs overlapped.)
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const run = mkdtempSync(join(tmpdir(), 'qianliyan-test-run-'));
  // Mosquitto drops root for its own user: it must be able to reach its directory inside ours.
  chmodSync(run, 0o755);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = run;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(run, { recursive: true, force: true, maxRetries: 3 });
    process.stdout.write(`removed ${run}, the temporary directory of this run\n`);
  };
}
