/**
 * Nothing is acknowledged before it is stored: the hub process is SIGKILLed again and again while
 * two gateways send 5,000 messages a second through Mosquitto (the shipped configuration); after
 * each kill it restarts on the same files. Every seq each gateway sent is stored exactly once.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topics } from '@qianliyan/protocols';
import { afterAll, describe, expect, it } from 'vitest';
import { randomSecret } from '../hub/src/security/passwords.ts';
import { SqliteTimeSeriesStore } from '../hub/src/stores/sqlite-timeseries.ts';
import { HubProcess } from './support/hub-process.ts';
import { MosquittoBroker } from './support/mosquitto.ts';
import { waitForCredential } from './support/stack.ts';
import { MOSQUITTO, systemBinary } from './support/system.ts';
import { startUplink } from './support/uplink.ts';
import { freePort, sleep, waitFor } from './support/wait.ts';

const SITE = 'village-k';
const KILLS = 4;

describe.skipIf(!systemBinary(MOSQUITTO, 'mosquitto'))('hub killed with SIGKILL under load', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it(`stores every seq exactly once across ${KILLS} SIGKILLs at 5,000 msgs/s`, async () => {
    const mosquitto = new MosquittoBroker();
    const hubPassword = randomSecret();
    mosquitto.addUser('qly-hub', hubPassword);
    await mosquitto.start();
    cleanups.push(() => mosquitto.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'qly-hubkill-'));
    const passwordFile = join(dataDir, 'mqtt-password');
    (await import('node:fs')).writeFileSync(passwordFile, hubPassword);
    const port = await freePort();
    const hub = new HubProcess(
      dataDir,
      {
        host: '127.0.0.1',
        port,
        logLevel: 'warn',
        auth: { scryptLog2N: 12 },
        mqtt: {
          url: mosquitto.url,
          passwordFile,
          protocolVersion: 5,
          mosquitto: { passwordFile: mosquitto.passwordFile, pidFile: mosquitto.pidFile },
        },
      },
      { ADMIN_PASSWORD: 'crash-test-admin' },
    );
    cleanups.push(() => hub.stop('SIGKILL'));
    await hub.start();
    const base = `http://127.0.0.1:${port}`;
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'crash-test-admin' }),
    });
    const { token } = (await login.json()) as { token: string };
    const gateways = ['gw-k1', 'gw-k2'];
    const uplinks: Array<{ id: string; uplink: Awaited<ReturnType<typeof startUplink>>; sent: number[] }> =
      [];
    for (const id of gateways) {
      const res = await fetch(`${base}/api/gateways`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ id, site: SITE }),
      });
      expect(res.status).toBe(201);
      const { password } = (await res.json()) as { password: string };
      await waitForCredential(mosquitto.url, id, password);
      const uplink = await startUplink(mosquitto.url, SITE, id, password);
      cleanups.push(() => uplink.close());
      uplinks.push({ id, uplink, sent: [] as number[] });
    }

    // 25 messages per gateway every 10 ms: 5,000 messages a second in all.
    const producer = setInterval(() => {
      for (const g of uplinks)
        for (let k = 0; k < 25; k++)
          g.sent.push(
            g.uplink.send(topics.telemetry(SITE, g.id, `d${k % 5}`), { ts: Date.now(), values: { k } }),
          );
    }, 10);
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        await sleep(1500 + Math.random() * 1000);
        await hub.stop('SIGKILL');
        await sleep(200);
        await hub.start();
      }
      await sleep(1000);
    } finally {
      clearInterval(producer);
    }
    for (const g of uplinks) await g.uplink.drained(60_000);
    const total = uplinks.reduce((n, g) => n + g.sent.length, 0);
    expect(total).toBeGreaterThan(20_000);
    // Read the hub's store from the side (WAL allows a second reader) until everything is there.
    const reader = new SqliteTimeSeriesStore(join(dataDir, 'timeseries.db'));
    cleanups.push(() => reader.close());
    await waitFor(`all ${total} rows stored`, async () => (await reader.countTelemetry()) >= total, 60_000);
    await hub.stop('SIGTERM');
    for (const g of uplinks) expect(reader.seqsOf(g.id)).toEqual(g.sent);
    expect(await reader.countTelemetry()).toBe(total);
  });
});
