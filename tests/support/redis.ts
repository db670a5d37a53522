/**
 * A real Redis (Debian's `redis-server`, 7) for tests: on a free loopback port, no persistence, its
 * own directory; stopped by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemBinary } from './system.ts';
import { freePort, waitFor } from './wait.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';

export function redisAvailable(): boolean {
  return systemBinary(REDIS_SERVER, 'redis-server');
}

export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'qly-redis-'));
  private proc: ChildProcess | undefined;
  port = 0;
  output = '';

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.proc = spawn(
      REDIS_SERVER,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const child = this.proc;
    process.once('exit', () => child.kill('SIGKILL'));
    const collect = (d: Buffer) => {
      this.output = (this.output + d).slice(-20_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    await waitFor(`redis on port ${this.port}`, () => {
      if (child.exitCode !== null) throw new Error(`redis exited ${child.exitCode}: ${this.output}`);
      return this.output.includes('Ready to accept connections');
    });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
    this.proc = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
