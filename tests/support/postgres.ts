/**
 * A real PostgreSQL (Debian's `postgresql`, 15) for tests: a fresh cluster made by `initdb` in a
 * temporary directory owned by the `postgres` user (PostgreSQL refuses to run as root), listening on
 * a free loopback port only, trust authentication for loopback (the test's own throwaway cluster).
 * Stopped by PID (SIGINT: fast shutdown), its directory removed by `destroy()`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemBinary } from './system.ts';
import { freePort, waitFor } from './wait.ts';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export function postgresAvailable(): boolean {
  return systemBinary(`${PG_BIN}/postgres`, 'postgresql');
}

/** Runs a command as the `postgres` user when we are root (initdb and postgres refuse root). */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

export class PostgresServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'qly-pg-'));
  private proc: ChildProcess | undefined;
  port = 0;
  output = '';

  constructor(private readonly settings: Record<string, string> = {}) {}

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** A libpq connection string for `database` (default `postgres`). */
  url(database = 'postgres'): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      chmodSync(this.dir, 0o755);
      if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', this.dir]);
      const [cmd, args] = asPostgres(`${PG_BIN}/initdb`, [
        '-D',
        this.dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ]);
      execFileSync(cmd, args, { stdio: 'ignore' });
    }
    const options = {
      listen_addresses: '127.0.0.1',
      port: String(this.port),
      unix_socket_directories: this.dir,
      fsync: 'off',
      max_connections: '200',
      ...this.settings,
    };
    const [cmd, args] = asPostgres(`${PG_BIN}/postgres`, [
      '-D',
      this.dataDir,
      ...Object.entries(options).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ]);
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const child = this.proc;
    process.once('exit', () => child.kill('SIGKILL'));
    const collect = (d: Buffer) => {
      this.output = (this.output + d).slice(-20_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    await waitFor(
      `postgres on port ${this.port}`,
      () => {
        if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}: ${this.output}`);
        return this.output.includes('database system is ready to accept connections');
      },
      30_000,
    );
  }

  /** Runs SQL through psql as the superuser (creating databases for tests). */
  psql(sql: string, database = 'postgres'): string {
    return execFileSync(
      '/usr/bin/psql',
      ['-X', '-q', '-A', '-t', '-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', database],
      { input: sql, encoding: 'utf8' },
    );
  }

  /** A new empty database; returns its connection string. */
  createDatabase(name: string): string {
    this.psql(`CREATE DATABASE ${name};`);
    return this.url(name);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The postmaster's own PID (the child we spawned may be `runuser`, which forwards no signal). */
  get serverPid(): number | undefined {
    try {
      return Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  }

  /** Stops the server by PID (SIGINT is PostgreSQL's fast shutdown) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    const pid = this.serverPid;
    if (pid) process.kill(pid, signal);
    else proc.kill(signal);
    await exited;
    this.proc = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}
