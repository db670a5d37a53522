/**
 * The hub as a real process (`hub/src/server.ts --config FILE`), for tests that kill it: it can be
 * SIGKILLed and started again on the same files and ports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export class HubProcess {
  private proc: ChildProcess | undefined;
  output = '';
  readonly configPath: string;

  constructor(
    readonly dataDir: string,
    config: Record<string, unknown>,
    private readonly env: Record<string, string> = {},
  ) {
    this.configPath = join(dataDir, 'hub.json');
    writeFileSync(this.configPath, JSON.stringify({ dataDir, ...config }, null, 2));
  }

  /** Starts the hub and waits until it prints that it is ready. */
  async start(): Promise<void> {
    const marker = this.output.length;
    this.proc = spawn(
      process.execPath,
      // QLY_HUB_NODE_ARGS: extra node flags for the hub only (e.g. `--cpu-prof` when profiling a bench).
      [
        ...(process.env.QLY_HUB_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        '--import',
        'tsx',
        join(ROOT, 'hub/src/server.ts'),
        '--config',
        this.configPath,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...this.env },
      },
    );
    const child = this.proc;
    process.once('exit', () => child.kill('SIGKILL'));
    child.stdout?.on('data', (d) => {
      this.output += d;
    });
    child.stderr?.on('data', (d) => {
      this.output += d;
    });
    await waitFor(
      'hub ready',
      () => {
        if (child.exitCode !== null)
          throw new Error(`hub exited ${child.exitCode}: ${this.output.slice(marker)}`);
        return this.output.slice(marker).includes('hub ready');
      },
      30_000,
    );
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }
}
