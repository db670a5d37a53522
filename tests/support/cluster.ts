/**
 * A cluster of hub processes on one real PostgreSQL, Redis, Mosquitto (the shipped configuration
 * and ACL) and InfluxDB, all on free loopback ports with their own directories, stopped by PID.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomSecret } from '../../hub/src/security/passwords.ts';
import { HubProcess } from './hub-process.ts';
import { InfluxServer, influxdAvailable } from './influxd.ts';
import { MosquittoBroker } from './mosquitto.ts';
import { PostgresServer, postgresAvailable } from './postgres.ts';
import { RedisServer, redisAvailable } from './redis.ts';
import { MOSQUITTO, systemBinary } from './system.ts';
import { freePort } from './wait.ts';

export const ADMIN_PASSWORD = 'cluster-test-admin';

/** Whether every part can run here (CI: throws when one is missing; see system.ts). */
export function clusterPartsAvailable(): boolean {
  // Evaluated one by one, so each missing package is named.
  const found = [
    postgresAvailable(),
    redisAvailable(),
    systemBinary(MOSQUITTO, 'mosquitto'),
    influxdAvailable(),
  ];
  return found.every(Boolean);
}

export class ClusterHub {
  constructor(
    readonly id: string,
    readonly process: HubProcess,
    readonly port: number,
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A Prometheus counter's value (summed over label sets matching `labels`). */
  async metric(token: string, name: string, labels: Record<string, string> = {}): Promise<number> {
    const res = await fetch(`${this.base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`/metrics on ${this.id}: ${res.status}`);
    const text = await res.text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== '{' && rest[0] !== ' ') continue;
      if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
      sum += Number(line.split(' ').pop());
    }
    return sum;
  }
}

export class TestCluster {
  readonly pg = new PostgresServer();
  readonly redis = new RedisServer();
  readonly mosquitto = new MosquittoBroker();
  readonly influx = new InfluxServer();
  readonly hubs: ClusterHub[] = [];
  readonly hubPassword = randomSecret();
  pgUrl = '';

  constructor(private readonly options: { hubs: number; slots: number; extra?: Record<string, unknown> }) {}

  async start(): Promise<void> {
    // No MQTT users: each hub adds the cluster's users it needs (its publisher, the slots' sessions)
    // to the broker's password file and has it reload, as in the compose deployment.
    await Promise.all([this.pg.start(), this.redis.start(), this.mosquitto.start(), this.influx.start()]);
    this.pgUrl = this.pg.createDatabase('qianliyan');
    const jwtSecretFile = join(mkdtempSync(join(tmpdir(), 'qly-cluster-secrets-')), 'jwt-secret');
    writeFileSync(jwtSecretFile, randomSecret(48), { mode: 0o600 });
    for (let n = 1; n <= this.options.hubs; n++) {
      const dataDir = mkdtempSync(join(tmpdir(), `qly-cluster-hub${n}-`));
      const passwordFile = join(dataDir, 'mqtt-password');
      writeFileSync(passwordFile, this.hubPassword);
      const port = await freePort();
      const process = new HubProcess(
        dataDir,
        {
          host: '127.0.0.1',
          port,
          logLevel: 'warn',
          auth: { scryptLog2N: 12, jwtSecretFile },
          mqtt: {
            url: this.mosquitto.url,
            passwordFile,
            protocolVersion: 5,
            mosquitto: { passwordFile: this.mosquitto.passwordFile, pidFile: this.mosquitto.pidFile },
          },
          state: { backend: 'postgres', postgres: { url: this.pgUrl } },
          timeseries: { backend: 'influxdb', influxdb: { url: this.influx.url, database: 'qianliyan' } },
          cluster: {
            redisUrl: this.redis.url,
            hubId: `hub-${n}`,
            ingestSlots: this.options.slots,
            slotPollMs: 200,
            fanoutIntervalMs: 50,
            advertiseUrl: `http://127.0.0.1:${port}`,
          },
          ...this.options.extra,
        },
        { ADMIN_PASSWORD },
      );
      this.hubs.push(new ClusterHub(`hub-${n}`, process, port));
    }
    // One after the other: the first migrates the schema and creates the admin.
    for (const hub of this.hubs) await hub.process.start();
  }

  /** Rows of a SQL query on the shared database, as text columns. */
  sql(query: string): string[][] {
    return this.pg
      .psql(query, 'qianliyan')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('|'));
  }

  async stop(): Promise<void> {
    for (const hub of this.hubs) await hub.process.stop('SIGKILL').catch(() => {});
    await Promise.allSettled([this.mosquitto.stop(), this.redis.destroy(), this.influx.destroy()]);
    await this.pg.destroy();
  }
}

export async function login(base: string, username = 'admin', password = ADMIN_PASSWORD): Promise<string> {
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login on ${base}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export async function api<T = unknown>(
  base: string,
  token: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
