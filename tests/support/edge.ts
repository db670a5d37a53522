/**
 * Runs the real edge agent: as a child process (`edge-agent/src/main.ts`, for SIGKILL tests and the
 * browser test) with a config file written for the test. Tests may configure the simulated test
 * devices (`sim-*`): the agent is started with `QLY_DEV_ADAPTERS=1` unless `devAdapters: false`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export class EdgeProcess {
  readonly dir = mkdtempSync(join(tmpdir(), 'qly-edge-'));
  readonly configPath = join(this.dir, 'edge.json');
  readonly outboxPath = join(this.dir, 'outbox.db');
  private proc: ChildProcess | undefined;
  output = '';

  constructor(
    config: Record<string, unknown>,
    password: string,
    private readonly options: { devAdapters?: boolean } = {},
  ) {
    writeFileSync(join(this.dir, 'password'), password);
    const full = {
      ...config,
      mqtt: {
        reconnectMinMs: 100,
        reconnectMaxMs: 1000,
        ...(config.mqtt as object),
        passwordFile: join(this.dir, 'password'),
      },
      outbox: { path: this.outboxPath, ...(config.outbox as object) },
    };
    writeFileSync(this.configPath, JSON.stringify(full, null, 2));
  }

  start(): void {
    this.proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'edge-agent/src/main.ts'), '--config', this.configPath],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          QLY_LOG_LEVEL: 'info',
          QLY_DEV_ADAPTERS: this.options.devAdapters === false ? '' : '1',
        },
      },
    );
    // A test that times out before its cleanup must not leave the agent behind.
    const child = this.proc;
    process.once('exit', () => child.kill('SIGKILL'));
    this.proc.stdout?.on('data', (d) => {
      this.output += d;
    });
    this.proc.stderr?.on('data', (d) => {
      this.output += d;
    });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Sends a signal and waits for the process to exit; returns its exit code (null when killed). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill(signal);
    return exited;
  }
}
