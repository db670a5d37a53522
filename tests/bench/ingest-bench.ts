/**
 * `npm run bench:ingest` — ingest throughput and latency through one real Mosquitto, at QoS 1:
 *  (a) raw relay baseline: publisher → broker → a bare subscriber process that only counts;
 *  (b) hub pipeline: the same publisher → broker → hub process (validate, dedup, SQLite, socket.io
 *      fan-out to CLIENTS dashboard sockets).
 * Then publish→socket latency p50/p99 at a fixed rate of half the hub's measured capacity.
 * Prints each figure and ends with one JSON line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { randomSecret } from '../../hub/src/security/passwords.ts';
import { MosquittoBroker } from '../support/mosquitto.ts';
import { MOSQUITTO, systemBinary } from '../support/system.ts';
import { freePort, sleep, waitFor } from '../support/wait.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 40_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 10);
const DEVICES = 100;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5);
const SITE = 'bench';
const GW = 'gw-bench';
const WINDOW = 500; // QoS 1 publishes in flight

if (!systemBinary(MOSQUITTO, 'mosquitto')) process.exit(1);

const children: ChildProcess[] = [];
const broker = new MosquittoBroker();
const passwords = { hub: randomSecret(), gw: randomSecret(), raw: randomSecret() };
broker.addUser('qly-hub', passwords.hub);
broker.addUser(GW, passwords.gw);
broker.addUser('bench-raw', passwords.raw);
// The baseline subscriber reads everything, like the hub.
broker.extraAcl = ['user bench-raw', 'topic read qly/v1/#'];
await broker.start();

function payload(seq: number): string {
  return JSON.stringify({
    seq,
    ts: Date.now(),
    values: { v: seq % 1000, temperature: 20 + (seq % 10) / 10 },
  });
}

/** Publishes `count` telemetry messages as fast as a window of WINDOW in-flight QoS 1 allows. */
async function publishBurst(client: mqtt.MqttClient, fromSeq: number, count: number): Promise<number> {
  const started = Date.now();
  let inflight = 0;
  let seq = fromSeq;
  const end = fromSeq + count;
  await new Promise<void>((resolveAll) => {
    const pump = () => {
      while (inflight < WINDOW && seq < end) {
        const s = seq++;
        inflight++;
        client.publish(topics.telemetry(SITE, GW, `d${s % DEVICES}`), payload(s), { qos: 1 }, () => {
          inflight--;
          if (seq >= end && inflight === 0) resolveAll();
          else pump();
        });
      }
    };
    pump();
  });
  return started;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function startProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ proc: ChildProcess; lines: string[] }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const lines: string[] = [];
  let buf = '';
  proc.stdout?.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { proc, lines };
}

try {
  const publisher = await mqtt.connectAsync(broker.url, {
    protocolVersion: 4,
    clientId: 'bench-pub',
    username: GW,
    password: passwords.gw,
  });

  // (a) raw relay baseline
  const raw = await startProcess([
    'tests/bench/raw-subscriber.ts',
    broker.url,
    'bench-raw',
    passwords.raw,
    String(MESSAGES),
  ]);
  await waitFor('raw subscriber ready', () => raw.lines.includes('ready'));
  const rawStart = await publishBurst(publisher, 1, MESSAGES);
  const rawResult = await waitFor(
    'raw subscriber result',
    () => raw.lines.find((l) => l.startsWith('{')),
    120_000,
  ).catch(async () => {
    raw.proc.kill('SIGTERM');
    return waitFor('raw subscriber report', () => raw.lines.find((l) => l.startsWith('{')));
  });
  const rawStats = JSON.parse(rawResult) as { count: number; last: number };
  const rawRate = rawStats.count / ((rawStats.last - rawStart) / 1000);
  const rawLost = MESSAGES - rawStats.count;
  console.log(`raw relay:    ${rawRate.toFixed(0)} msgs/s (${rawStats.count}/${MESSAGES} received)`);

  // (b) the hub pipeline, as its own process
  const dataDir = join(broker.dir, 'hub-data');
  const hubPort = await freePort();
  writeFileSync(join(broker.dir, 'hub-password'), passwords.hub);
  writeFileSync(
    join(broker.dir, 'hub.json'),
    JSON.stringify({
      mqtt: { url: broker.url, passwordFile: join(broker.dir, 'hub-password'), clientId: 'bench-hub' },
      host: '127.0.0.1',
    }),
  );
  const hub = await startProcess(['hub/src/server.ts', '--config', join(broker.dir, 'hub.json')], {
    PORT: String(hubPort),
    DATA_DIR: dataDir,
    ADMIN_PASSWORD: 'bench-admin-password',
    QLY_LOG_LEVEL: 'warn',
  });
  await waitFor('hub ready', () => hub.lines.some((l) => l.includes('hub ready')), 60_000);
  const base = `http://127.0.0.1:${hubPort}`;
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }),
  });
  const { token } = (await login.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  await fetch(`${base}/api/gateways`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ id: GW, site: SITE }),
  });
  const metric = async (name: string) => {
    const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  // Dashboard sockets: each measures publish→delta latency from the telemetry timestamps.
  const latencies: number[] = [];
  let measuring = false;
  const sockets: Socket[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const socket = io(base, { path: '/socket.io', auth: { token }, transports: ['websocket'] });
    socket.on('connect', () => socket.emit('subscribe', {}));
    socket.on('delta', (delta: { devices: Array<{ valuesTs: number | null }> }) => {
      if (!measuring) return;
      const now = Date.now();
      for (const d of delta.devices) if (d.valuesTs) latencies.push(now - d.valuesTs);
    });
    sockets.push(socket);
  }
  await waitFor('sockets connected', () => sockets.every((s) => s.connected));
  // Describe the devices, as a gateway does on connect, so they are on the map.
  for (let d = 0; d < DEVICES; d++) {
    const meta = {
      seq: MESSAGES + 1 + d,
      ts: Date.now(),
      kind: 'sensor',
      name: `Bench ${d}`,
      position: { lat: 30 + d / 1000, lon: 120 },
      capabilities: [],
    };
    await publisher.publishAsync(topics.meta(SITE, GW, `d${d}`), JSON.stringify(meta), {
      qos: 1,
      retain: true,
    });
  }

  // Seqs continue after the metas: the hub drops anything at or below a gateway's high-water mark.
  const hubStart = await publishBurst(publisher, MESSAGES + DEVICES + 1, MESSAGES);
  let stored = 0;
  let hubEnd = 0;
  await waitFor(
    'hub stored every message',
    async () => {
      stored = await metric('qly_store_rows_total');
      hubEnd = Date.now();
      return stored >= MESSAGES;
    },
    120_000,
    100,
  ).catch(() => {});
  const hubRate = stored / ((hubEnd - hubStart) / 1000);
  const hubLost = MESSAGES - stored;
  console.log(
    `hub pipeline: ${hubRate.toFixed(0)} msgs/s (${stored}/${MESSAGES} stored, ${CLIENTS} sockets)`,
  );

  // Latency at half the hub's capacity.
  const rate = Math.max(100, Math.floor(hubRate / 2));
  const perTick = Math.max(1, Math.round(rate / 100));
  let seq = 2 * MESSAGES + DEVICES + 1;
  measuring = true;
  const until = Date.now() + LATENCY_SECONDS * 1000;
  while (Date.now() < until) {
    const tick = Date.now();
    for (let k = 0; k < perTick; k++) {
      const s = seq++;
      publisher.publish(topics.telemetry(SITE, GW, `d${s % DEVICES}`), payload(s), { qos: 1 });
    }
    await sleep(Math.max(0, 10 - (Date.now() - tick)));
  }
  await sleep(500);
  measuring = false;
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `latency at ${perTick * 100} msgs/s: p50 ${p50} ms, p99 ${p99} ms over ${latencies.length} socket updates`,
  );
  const duplicates = await metric('qly_ingest_rejected_total{reason="duplicate"}');
  const ratio = hubRate / rawRate;
  console.log(
    `ratio hub/raw: ${ratio.toFixed(2)} (target ≥ 0.5); lost: raw ${rawLost}, hub ${hubLost}; duplicates ${duplicates}`,
  );
  console.log(
    JSON.stringify({
      bench: 'ingest',
      raw_msgs_per_s: Math.round(rawRate),
      hub_msgs_per_s: Math.round(hubRate),
      ratio: Number(ratio.toFixed(3)),
      lost: hubLost + rawLost,
      p50_ms: p50,
      p99_ms: p99,
    }),
  );
  for (const s of sockets) s.disconnect();
  await publisher.endAsync();
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await sleep(300);
  await broker.stop();
}
process.exit(0);
