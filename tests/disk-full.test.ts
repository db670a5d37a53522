/**
 * The field's worst days: the hub's disk fills up. The hub (embedded broker, SQLite) runs with its
 * DATA_DIR on a small tmpfs; a file then takes every free byte. The hub must refuse to store (and
 * so to acknowledge) instead of corrupting anything, say so clearly (log, /api/health, a gauge),
 * and, once the file is deleted, store everything that waited — each message once — by itself.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topics } from '@qianliyan/protocols';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { inCI } from './support/system.ts';
import { startUplink } from './support/uplink.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'village-d';
const GW = 'gw-disk';
const asRoot = process.getuid?.() === 0;
if (!asRoot) {
  const message = 'tests/disk-full.test.ts mounts a small tmpfs and needs root';
  if (inCI) throw new Error(`${message} (CI runs as root)`);
  process.stdout.write(`\n[SKIPPED] ${message}.\n`);
}

/** Writes zeros until the file system refuses (ENOSPC); returns the bytes written. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

describe.skipIf(!asRoot)('the hub’s disk full', () => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'qly-diskfull-'));
  let hub: TestHub | undefined;
  const closers: Array<() => Promise<unknown>> = [];

  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await hub?.close().catch(() => {});
    try {
      execFileSync('umount', ['-l', mountPoint]);
    } catch {
      /* not mounted */
    }
    rmdirSync(mountPoint);
  });

  it('refuses to store with a clear alarm, corrupts nothing, and recovers by itself', async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mountPoint]);
    const dataDir = join(mountPoint, 'data');
    const logLines: string[] = [];
    hub = await startTestHub({ dataDir, logLines, logLevel: 'warn' });
    const uplink = await startUplink(hub.brokerUrl, SITE, GW, await hub.provisionGateway(GW, SITE));
    closers.push(() => uplink.close());
    const sent: number[] = [];
    const send = (n: number) => {
      for (let i = 0; i < n; i++)
        sent.push(uplink.send(topics.telemetry(SITE, GW, `d${i % 4}`), { ts: Date.now(), values: { i } }));
    };
    send(200);
    await waitFor('the first 200 stored', async () => (await hub?.store.countTelemetry()) === 200);

    // Logged in before: a login writes its session, which a full disk refuses too.
    const token = await hub.token();
    const filler = join(mountPoint, 'filler');
    expect(fillDisk(filler)).toBeGreaterThan(0);
    send(3000);
    const health = async () =>
      (
        await hub?.app.inject({
          method: 'GET',
          url: '/api/health',
          headers: { authorization: `Bearer ${token}` },
        })
      )?.json() as { status: string; store: { diskFull: boolean; backlog: number } };
    await waitFor('the hub reports its disk full', async () => (await health()).store.diskFull, 30_000);
    expect((await health()).status).toBe('degraded');
    expect(await hub.metric('qly_store_disk_full')).toBe(1);
    expect(logLines.some((l) => l.includes('DISK FULL'))).toBe(true);
    const storedWhileFull = await hub.store.countTelemetry();
    expect(storedWhileFull).toBeLessThan(3200);

    // Space returns: what waited is stored, each message once, without a restart.
    rmSync(filler);
    await waitFor(
      'every message stored',
      async () => (await hub?.store.countTelemetry()) === sent.length,
      60_000,
    );
    await uplink.drained(60_000);
    expect(hub.store.seqsOf(GW)).toEqual(sent);
    expect((await health()).store.diskFull).toBe(false);
    expect(await hub.metric('qly_store_disk_full')).toBe(0);
    // The state database was never damaged: it still answers and writes.
    expect(hub.app.stateDb.handle.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
  }, 180_000);
});
