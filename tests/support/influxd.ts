/**
 * A real InfluxDB 1.x (Debian's `influxdb`) for tests: its own config and data dir, HTTP on a free
 * loopback port, nothing else listening (no RPC beyond loopback, no reporting, no self-monitoring).
 * It can be stopped and started again on the same port and files (an outage), and is stopped by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemBinary } from './system.ts';
import { freePort, sleep, waitFor } from './wait.ts';

export const INFLUXD = '/usr/bin/influxd';

export function influxdAvailable(): boolean {
  return systemBinary(INFLUXD, 'influxdb');
}

export class InfluxServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'qly-influxd-'));
  private proc: ChildProcess | undefined;
  port = 0;
  output = '';

  /** `auth`: HTTP auth on, with this admin user (created before the first request needs it). */
  constructor(private readonly auth?: { username: string; password: string }) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      const rpc = await freePort();
      writeFileSync(
        join(this.dir, 'influxdb.conf'),
        `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${this.dir}/meta"
[data]
  dir = "${this.dir}/data"
  wal-dir = "${this.dir}/wal"
  query-log-enabled = false
[coordinator]
[retention]
  enabled = true
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${this.port}"
  auth-enabled = ${this.auth ? 'true' : 'false'}
  log-enabled = false
  max-body-size = 100000000
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`,
      );
    }
    this.proc = spawn(INFLUXD, ['run', '-config', join(this.dir, 'influxdb.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = this.proc;
    process.once('exit', () => child.kill('SIGKILL'));
    child.stdout?.on('data', (d) => {
      this.output = (this.output + d).slice(-20_000);
    });
    child.stderr?.on('data', (d) => {
      this.output = (this.output + d).slice(-20_000);
    });
    await waitFor(
      'influxd answering /ping',
      async () => {
        if (child.exitCode !== null) throw new Error(`influxd exited ${child.exitCode}: ${this.output}`);
        return (await fetch(`${this.url}/ping`).catch(() => undefined))?.status === 204;
      },
      30_000,
      100,
    );
    if (this.auth) {
      // With auth on and no user yet, InfluxDB allows exactly this first statement without credentials.
      const q = `CREATE USER "${this.auth.username}" WITH PASSWORD '${this.auth.password}' WITH ALL PRIVILEGES`;
      const res = await fetch(`${this.url}/query`, {
        method: 'POST',
        body: new URLSearchParams({ q }),
        headers: {
          authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`,
        },
      });
      await res.text();
    }
  }

  /** Runs an InfluxQL statement (as the admin when auth is on); returns the JSON answer. */
  async query(q: string, db?: string): Promise<unknown> {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}) });
    const res = await fetch(`${this.url}/query`, {
      method: 'POST',
      body,
      headers: this.auth
        ? {
            authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`,
          }
        : {},
    });
    return res.json();
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Stops it (SIGTERM, then SIGKILL after 10 s), keeping its files and port for `start()`. */
  async stop(): Promise<void> {
    const child = this.proc;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    await sleep(50);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
