/**
 * `npm run bench:ingest` — ingest throughput and latency through one real Mosquitto, at QoS 1:
 *  (a) raw relay baseline: PUBLISHERS publisher processes (one gateway each) → broker → a bare
 *      subscriber process that only counts;
 *  (b) hub pipeline: the same publishers → broker → a hub process (validate, dedup, SQLite,
 *      socket.io fan-out to CLIENTS dashboard sockets).
 * Then publish→socket latency p50/p99 at a fixed rate of half the hub's measured capacity.
 * The hub acknowledges a message only after storing it (its PUBACKs are held until the batch
 * commits). CPU per message, read from /proc in the same run: the hub's CPU microseconds per stored
 * message in (b), Mosquitto's per relayed message in (a), and their ratio.
 * Prints each figure and ends with one JSON line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { topics } from '@qianliyan/protocols';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { randomSecret } from '../../hub/src/security/passwords.ts';
import { MosquittoBroker } from '../support/mosquitto.ts';
import { MOSQUITTO, systemBinary } from '../support/system.ts';
import { freePort, sleep, waitFor } from '../support/wait.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 2);
const PER_PUBLISHER = Math.floor(Number(process.env.BENCH_MESSAGES ?? 60_000) / PUBLISHERS);
const MESSAGES = PER_PUBLISHER * PUBLISHERS;
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 10);
const DEVICES = 100;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5);
/** Bursts per phase; rates and CPU figures are their medians (a 2-core machine is noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SITE = 'bench';
const gateways = Array.from({ length: PUBLISHERS }, (_, i) => `gw-bench-${i + 1}`);

if (!systemBinary(MOSQUITTO, 'mosquitto')) process.exit(1);

const children: ChildProcess[] = [];
const broker = new MosquittoBroker();
const passwords = new Map<string, string>([
  ['qly-hub', randomSecret()],
  ['bench-raw', randomSecret()],
  ...gateways.map((g): [string, string] => [g, randomSecret()]),
]);
for (const [user, pw] of passwords) broker.addUser(user, pw);
broker.extraAcl = ['user bench-raw', 'topic read qly/v1/#']; // the baseline reads everything, like the hub
await broker.start();

/** `nodeFlags`: e.g. BENCH_PROFILE=DIR writes a V8 CPU profile of the hub there. */
function startProcess(args: string[], env: Record<string, string> = {}, nodeFlags: string[] = []) {
  const proc = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
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

/** Runs one burst from every publisher at once; returns the time the burst started. */
async function burst(fromSeq: number): Promise<number> {
  const pubs = gateways.map((g) =>
    startProcess([
      'tests/bench/publisher.ts',
      broker.url,
      SITE,
      g,
      passwords.get(g) as string,
      String(fromSeq),
      String(PER_PUBLISHER),
    ]),
  );
  await waitFor('publishers ready', () => pubs.every((p) => p.lines.includes('ready')), 60_000);
  const started = Date.now();
  for (const p of pubs) p.proc.stdin?.write('go\n');
  await waitFor('publishers done', () => pubs.every((p) => p.lines.includes('done')), 300_000, 20);
  return started;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks). */
const TICKS_PER_SECOND = 100;
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

try {
  // (a) raw relay baseline: ROUNDS bursts, each to a fresh bare subscriber.
  const rawRounds: Array<{ rate: number; cpuUs: number; lost: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const raw = startProcess([
      'tests/bench/raw-subscriber.ts',
      broker.url,
      'bench-raw',
      passwords.get('bench-raw') as string,
      String(MESSAGES),
    ]);
    await waitFor('raw subscriber ready', () => raw.lines.includes('ready'), 60_000);
    const brokerCpuBefore = cpuSeconds(broker.pid);
    const rawStart = await burst(1);
    const rawLine = await waitFor(
      'raw subscriber result',
      () => raw.lines.find((l) => l.startsWith('{')),
      60_000,
    ).catch(async () => {
      raw.proc.kill('SIGTERM');
      return waitFor('raw subscriber report', () => raw.lines.find((l) => l.startsWith('{')));
    });
    const brokerCpu = cpuSeconds(broker.pid) - brokerCpuBefore;
    const stats = JSON.parse(rawLine) as { count: number; last: number };
    const rate = stats.count / ((stats.last - rawStart) / 1000);
    rawRounds.push({
      rate,
      cpuUs: (brokerCpu / Math.max(1, stats.count)) * 1e6,
      lost: MESSAGES - stats.count,
    });
    console.log(
      `raw relay, round ${round + 1}: ${rate.toFixed(0)} msgs/s (${stats.count}/${MESSAGES} received), Mosquitto ${rawRounds.at(-1)?.cpuUs.toFixed(1)} µs/msg`,
    );
    await waitFor('raw subscriber exited', () => raw.proc.exitCode !== null, 10_000).catch(() =>
      raw.proc.kill(),
    );
  }
  const rawRate = median(rawRounds.map((r) => r.rate));
  const brokerUs = median(rawRounds.map((r) => r.cpuUs));
  const rawLost = rawRounds.reduce((n, r) => n + r.lost, 0);

  // (b) the hub pipeline, as its own process
  const hubPort = await freePort();
  writeFileSync(join(broker.dir, 'hub-password'), passwords.get('qly-hub') as string);
  writeFileSync(
    join(broker.dir, 'hub.json'),
    JSON.stringify({
      mqtt: { url: broker.url, passwordFile: join(broker.dir, 'hub-password'), protocolVersion: 5 },
      host: '127.0.0.1',
      // The benchmark measures the pipeline's capacity, not the per-gateway rate policy.
      limits: { gatewayMessagesPerSecond: 1_000_000, gatewayBurst: 1_000_000 },
    }),
  );
  const hub = startProcess(
    ['hub/src/server.ts', '--config', join(broker.dir, 'hub.json')],
    {
      PORT: String(hubPort),
      DATA_DIR: join(broker.dir, 'hub-data'),
      ADMIN_PASSWORD: 'bench-admin-password',
      QLY_LOG_LEVEL: 'warn',
    },
    [
      ...(process.env.BENCH_HUB_NODE_FLAGS ? process.env.BENCH_HUB_NODE_FLAGS.split(' ') : []),
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
    ],
  );
  await waitFor('hub ready', () => hub.lines.some((l) => l.includes('hub ready')), 60_000);
  const base = `http://127.0.0.1:${hubPort}`;
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }),
  });
  const { token } = (await login.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  for (const g of gateways)
    await fetch(`${base}/api/gateways`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ id: g, site: SITE }),
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

  // Describe each gateway's devices, as a gateway does on connect, so they are on the map. The
  // connection then closes: a client id is its username, so the publisher process takes it over.
  const connectAs = (g: string) =>
    mqtt.connectAsync(broker.url, {
      protocolVersion: 4,
      clientId: g,
      username: g,
      password: passwords.get(g) as string,
    });
  for (const g of gateways) {
    const c = await connectAs(g);
    for (let d = 0; d < DEVICES; d++) {
      const meta = {
        seq: 1 + d, // the control lane: its own seq space
        epoch: `bench-${g}`,
        ts: Date.now(),
        kind: 'sensor',
        name: `${g} ${d}`,
        position: { lat: 30 + d / 1000, lon: 120 },
        capabilities: [],
      };
      await c.publishAsync(topics.meta(SITE, g, `d${d}`), JSON.stringify(meta), { qos: 1, retain: true });
    }
    await c.endAsync();
  }

  // (b) ROUNDS bursts through the hub; each gateway's seqs continue from round to round.
  const hubPid = hub.proc.pid;
  const reader = new Database(join(broker.dir, 'hub-data', 'timeseries.db'), { readonly: true });
  const count = reader.prepare('SELECT count(*) AS n FROM telemetry');
  const hubRounds: Array<{ rate: number; cpuUs: number; lost: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = (count.get() as { n: number }).n;
    const hubCpuBefore = cpuSeconds(hubPid);
    const hubStart = await burst(1 + round * PER_PUBLISHER);
    // Completion is read from the hub's store file by this process (a read-only reader beside the
    // hub's writer, as WAL allows): polling the hub's /metrics would bill the hub for the measurement.
    let stored = 0;
    let hubEnd = 0;
    await waitFor(
      'hub stored every message',
      () => {
        stored = (count.get() as { n: number }).n - before;
        hubEnd = Date.now();
        return stored >= MESSAGES;
      },
      120_000,
      20,
    ).catch(() => {});
    const hubCpu = cpuSeconds(hubPid) - hubCpuBefore;
    const rate = stored / ((hubEnd - hubStart) / 1000);
    hubRounds.push({ rate, cpuUs: (hubCpu / Math.max(1, stored)) * 1e6, lost: MESSAGES - stored });
    console.log(
      `hub pipeline, round ${round + 1}: ${rate.toFixed(0)} msgs/s (${stored}/${MESSAGES} stored, ${CLIENTS} sockets), hub ${hubRounds.at(-1)?.cpuUs.toFixed(1)} µs/msg`,
    );
  }
  reader.close();
  const batches = await metric('qly_store_batches_total');
  const rows = await metric('qly_store_rows_total');
  console.log(
    `store batches: ${batches}, ${(rows / Math.max(1, batches)).toFixed(0)} rows per batch on average`,
  );
  const hubRate = median(hubRounds.map((r) => r.rate));
  const hubUs = median(hubRounds.map((r) => r.cpuUs));
  const hubLost = hubRounds.reduce((n, r) => n + r.lost, 0);

  // Latency at half the hub's capacity, from the first gateway (its publisher has exited).
  const latencyClient = await connectAs(gateways[0] as string);
  const rate = Math.max(100, Math.floor(hubRate / 2));
  const perTick = Math.max(1, Math.round(rate / 100));
  let seq = ROUNDS * PER_PUBLISHER + 1;
  measuring = true;
  const until = Date.now() + LATENCY_SECONDS * 1000;
  while (Date.now() < until) {
    const tick = Date.now();
    for (let k = 0; k < perTick; k++) {
      const s = seq++;
      const payload = JSON.stringify({
        seq: s,
        epoch: `bench-${gateways[0]}`,
        ts: Date.now(),
        values: { v: s % 1000 },
      });
      latencyClient.publish(topics.telemetry(SITE, gateways[0] as string, `d${s % DEVICES}`), payload, {
        qos: 1,
      });
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
  const histogram = (await (await fetch(`${base}/metrics`, { headers: auth })).text())
    .split('\n')
    .filter((l) => l.startsWith('qly_store_write_seconds_bucket'))
    .map((l) => `${l.match(/le="([^"]+)"/)?.[1]}:${l.split(' ').at(-1)}`)
    .join(' ');
  console.log(`store write seconds (cumulative buckets): ${histogram}`);
  const loopP99 = await metric('qly_hub_nodejs_eventloop_lag_p99_seconds');
  const loopMax = await metric('qly_hub_nodejs_eventloop_lag_max_seconds');
  console.log(
    `hub event-loop delay: p99 ${(loopP99 * 1000).toFixed(1)} ms, max ${(loopMax * 1000).toFixed(1)} ms`,
  );
  const duplicates = await metric('qly_ingest_rejected_total{reason="duplicate"}');
  const ratio = hubRate / rawRate;
  console.log(
    `ratio hub/raw: ${ratio.toFixed(2)} (target ≥ 0.5); lost: raw ${rawLost}, hub ${hubLost}; duplicates ${duplicates}`,
  );
  const cpuRatio = hubUs / brokerUs;
  console.log(
    `CPU per message (medians of ${ROUNDS} rounds): hub ${hubUs.toFixed(1)} µs per stored message, Mosquitto ${brokerUs.toFixed(1)} µs per relayed message; ratio ${cpuRatio.toFixed(2)} (target ≤ 3)`,
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
      acked_after_store: true,
      hub_cpu_us_per_msg: Number(hubUs.toFixed(1)),
      broker_cpu_us_per_msg: Number(brokerUs.toFixed(1)),
      cpu_ratio: Number(cpuRatio.toFixed(2)),
    }),
  );
  for (const s of sockets) s.disconnect();
  await latencyClient.endAsync();
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await sleep(300);
  await broker.stop();
}
process.exit(0);
