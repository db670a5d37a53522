/** The edge agent's real outbox and uplink, run in-process so a test can publish exact sequences. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Outbox } from '../../edge-agent/src/uplink/outbox.ts';
import { Uplink } from '../../edge-agent/src/uplink/uplink.ts';
import { waitFor } from './wait.ts';

export async function startUplink(
  url: string,
  site: string,
  gateway: string,
  password: string,
  maxMessages = 1_000_000,
  /** An outbox to send from (it stays open when this uplink closes); a fresh one otherwise. */
  existing?: Outbox,
  /** PEM of the CA for mqtts://. */
  ca?: string,
) {
  const outbox =
    existing ??
    new Outbox({
      path: join(mkdtempSync(join(tmpdir(), 'qly-uplink-')), 'outbox.db'),
      maxMessages,
      fsync: false,
    });
  const uplink = new Uplink(
    {
      url,
      username: gateway,
      password,
      ...(ca ? { ca } : {}),
      site,
      gateway,
      keepaliveS: 30,
      reconnectMinMs: 100,
      reconnectMaxMs: 1000,
      inflightWindow: 100,
    },
    outbox,
    pino({ level: process.env.QLY_TEST_LOG_LEVEL ?? 'silent' }),
  );
  uplink.start();
  await waitFor(`uplink ${gateway} connected`, () => uplink.connected);
  return {
    outbox,
    uplink,
    send(topic: string, body: object, retain = false) {
      const seq = outbox.enqueue(topic, body, { retain });
      uplink.pump();
      return seq;
    },
    async drained(timeoutMs = 30_000) {
      await waitFor(`outbox of ${gateway} drained`, () => outbox.depth === 0, timeoutMs);
    },
    async close() {
      await uplink.stop();
      if (!existing) outbox.close();
    },
  };
}
