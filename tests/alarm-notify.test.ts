/**
 * Notifications beyond the screen, through real receivers started here: an HTTP server that checks
 * the webhook's HMAC-SHA256 signature (and answers 500 once, to get the retry), an SMTP server (the
 * `smtp-server` package) that receives the mail, and a fake SMS gateway that receives the filled-in
 * template. Alarms come from a gateway speaking the MQTT contract to the hub's embedded broker.
 *
 * Also: quiet hours hold a warning (sent when they end) and pass a critical; one delivery per alarm
 * and subscription (dedup); the delivery log over REST; secrets never in the state DB or the log.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlarmView, DeliveryView } from '@qianliyan/protocols';
import { topics } from '@qianliyan/protocols';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { cameraMeta, startVillageGateway, type VillageGateway } from './support/village-gateway.ts';
import { waitFor } from './support/wait.ts';

const WEBHOOK_SECRET = 'whsec-test-0123456789abcdef';
const SMTP_PASSWORD = 'smtp-pass-test-4711';
const SMS_TOKEN = 'sms-token-test-9876';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

function listen(server: Server | SMTPServer): Promise<number> {
  return new Promise((resolve) => {
    (server as Server).listen(0, '127.0.0.1', () => {
      const address = ((server as SMTPServer).server ?? server).address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

function httpReceiver(answer: (n: number) => number): { server: Server; received: Received[] } {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = answer(received.length);
      res.end();
    });
  });
  return { server, received };
}

describe('notifications: webhook, e-mail, SMS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qly-notify-'));
  const logLines: string[] = [];
  let hub: TestHub;
  let gw: VillageGateway;
  let seq = 5000;
  let admin: string;
  const webhook = httpReceiver((n) => (n === 1 ? 500 : 200));
  const sms = httpReceiver(() => 200);
  const mails: Array<{ from: string; to: string[]; data: string; user?: string; pass?: string }> = [];
  const smtp = new SMTPServer({
    secure: false,
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, callback) {
      if (auth.username === 'hub' && auth.password === SMTP_PASSWORD) callback(null, { user: 'hub' });
      else callback(new Error('bad credentials'));
    },
    onData(stream, session, callback) {
      let data = '';
      stream.on('data', (c) => {
        data += c;
      });
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
          ...(session.user ? { user: String(session.user) } : {}),
        });
        callback();
      });
    },
  });

  const api = async (method: string, url: string, payload?: unknown) => {
    const res = await hub.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${admin}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: res.statusCode, body: res.body ? (res.json() as unknown) : undefined };
  };
  const raise = async (type: string, severity: string): Promise<AlarmView> => {
    await gw.client.publishAsync(
      topics.event(gw.site, gw.id, 'cam'),
      JSON.stringify({ seq: ++seq, epoch: `test-${gw.id}`, ts: Date.now(), type, severity }),
      { qos: 1 },
    );
    return waitFor(`${type} alarm`, () => hub.app.alarms.list({ type, limit: 1 })[0]);
  };
  const deliveries = async (alarm: number) =>
    (await api('GET', `/api/notifications/deliveries?alarm=${alarm}`)).body as DeliveryView[];

  beforeAll(async () => {
    const webhookPort = await listen(webhook.server);
    const smsPort = await listen(sms.server);
    const smtpPort = await listen(smtp);
    writeFileSync(join(dir, 'webhook.key'), `${WEBHOOK_SECRET}\n`);
    writeFileSync(join(dir, 'smtp.pw'), SMTP_PASSWORD);
    writeFileSync(join(dir, 'sms.token'), SMS_TOKEN);
    hub = await startTestHub({
      logLines,
      logLevel: 'debug',
      config: {
        alarms: { healthStartupGraceMs: 3_600_000, renotifyAfterMs: 0, escalateAfterMs: 0 },
        notifications: {
          retryBaseMs: 200,
          channels: [
            {
              id: 'ops-hook',
              type: 'webhook',
              url: `http://127.0.0.1:${webhookPort}/hook`,
              secretFile: join(dir, 'webhook.key'),
            },
            {
              id: 'mail',
              type: 'email',
              host: '127.0.0.1',
              port: smtpPort,
              username: 'hub',
              passwordFile: join(dir, 'smtp.pw'),
              from: 'alarms@qly.test',
            },
            {
              id: 'sms',
              type: 'sms',
              url: `http://127.0.0.1:${smsPort}/send?to={{to}}`,
              contentType: 'application/json',
              bodyTemplate: '{"phone":"{{to}}","message":"{{text}}","level":"{{severity}}"}',
              tokenFile: join(dir, 'sms.token'),
            },
          ],
        },
      },
    });
    admin = await hub.token();
    gw = await startVillageGateway(hub, 'gw-notify', 'dongshan', {
      cam: { ...cameraMeta('东门摄像头'), position: { lat: 30.046, lon: 119.972 } },
    });
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await hub?.close();
    webhook.server.close();
    sms.server.close();
    await new Promise<void>((r) => smtp.close(() => r()));
  });

  it('subscriptions are checked: an unknown channel, user or site is refused with its field', async () => {
    const bad = await api('POST', '/api/notifications/subscriptions', {
      channel: 'pager',
      minSeverity: 'alarm',
    });
    expect(bad.status).toBe(400);
    expect((bad.body as { field: string }).field).toBe('channel');
    expect(
      (await api('POST', '/api/notifications/subscriptions', { channel: 'sms', minSeverity: 'loud' })).status,
    ).toBe(400);
    const channels = (await api('GET', '/api/notifications/channels')).body;
    expect(channels).toEqual([
      { id: 'ops-hook', type: 'webhook' },
      { id: 'mail', type: 'email' },
      { id: 'sms', type: 'sms' },
    ]);
  });

  it('webhook: signed JSON, retried after a 500 with backoff; e-mail over SMTP; SMS from its template', async () => {
    for (const sub of [
      { channel: 'ops-hook', minSeverity: 'alarm', site: 'qianli-town' },
      { channel: 'mail', minSeverity: 'alarm', to: ['duty@qly.test'] },
      { channel: 'sms', minSeverity: 'critical', to: ['13800000000'] },
      // Another village's subscription gets nothing of dongshan's.
      { channel: 'sms', minSeverity: 'warning', to: ['13900000000'], site: 'xihe' },
    ])
      expect((await api('POST', '/api/notifications/subscriptions', sub)).status).toBe(201);
    const alarm = await raise('intrusion', 'critical');

    // The webhook: first answer 500, then the retry is accepted.
    await waitFor('webhook retried', () => webhook.received.length >= 2, 10_000);
    for (const r of webhook.received) {
      const ts = r.headers['x-qly-timestamp'] as string;
      const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${ts}.${r.body}`).digest('hex');
      expect(r.headers['x-qly-signature']).toBe(`sha256=${expected}`);
    }
    const hook = JSON.parse(webhook.received[1]?.body as string) as {
      alarm: AlarmView;
      reason: string;
      text: string;
    };
    expect(hook).toMatchObject({ reason: 'raised', alarm: { id: alarm.id, severity: 'critical' } });
    expect(hook.text).toContain('东门摄像头');
    await waitFor('webhook delivered', async () =>
      (await deliveries(alarm.id)).find((d) => d.channel === 'ops-hook' && d.status === 'sent'),
    );
    const hookDelivery = (await deliveries(alarm.id)).find((d) => d.channel === 'ops-hook') as DeliveryView;
    expect(hookDelivery).toMatchObject({ attempts: 2, status: 'sent', error: null });

    // The mail, authenticated with the password from its file.
    await waitFor('mail', () => mails.length >= 1, 10_000);
    expect(mails[0]).toMatchObject({ from: 'alarms@qly.test', to: ['duty@qly.test'], user: 'hub' });
    expect(mails[0]?.data).toMatch(/Subject: /);

    // The SMS gateway got its template filled in, JSON-escaped, with the bearer token.
    await waitFor('sms', () => sms.received.length >= 1, 10_000);
    expect(sms.received).toHaveLength(1);
    const message = JSON.parse(sms.received[0]?.body as string) as Record<string, string>;
    expect(message).toMatchObject({ phone: '13800000000', level: 'critical' });
    expect(message.message).toContain('东门摄像头');
    expect(sms.received[0]?.headers.authorization).toBe(`Bearer ${SMS_TOKEN}`);
    await hub.app.notifications.settled();
    const log = await deliveries(alarm.id);
    expect(log.map((d) => d.status).sort()).toEqual(['sent', 'sent', 'sent']);

    // Announced again (a second hub, a restart): deduplicated by the delivery log.
    hub.app.bus.emit('alarmNotify', { alarm, reason: 'raised', step: 0 });
    await hub.app.notifications.settled();
    expect(await deliveries(alarm.id)).toHaveLength(3);
    expect(sms.received).toHaveLength(1);
  }, 30_000);

  it('quiet hours hold a warning until they end and pass a critical', async () => {
    for (const s of (await api('GET', '/api/notifications/subscriptions')).body as Array<{ id: number }>)
      await api('DELETE', `/api/notifications/subscriptions/${s.id}`);
    // Quiet hours around "now" in the report's time zone (China), an hour either side.
    const local = new Date(hub.app.alarmClock.now() + 8 * 3_600_000);
    const hh = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`;
    const quietHours = { from: hh(local.getUTCHours() - 1), to: hh(local.getUTCHours() + 1) };
    const res = await api('POST', '/api/notifications/subscriptions', {
      channel: 'sms',
      minSeverity: 'warning',
      to: ['13700000000'],
      quietHours,
    });
    expect(res.status).toBe(201);
    const before = sms.received.length;
    const warning = await raise('motion', 'warning');
    const critical = await raise('tamper', 'critical');
    await waitFor('critical sent at once', () => sms.received.length === before + 1, 10_000);
    expect(JSON.parse(sms.received.at(-1)?.body as string).level).toBe('critical');
    const held = (await deliveries(warning.id))[0] as DeliveryView;
    expect(held).toMatchObject({ status: 'held', attempts: 0 });
    expect(held.nextAt).toBeGreaterThan(hub.app.alarmClock.now());
    expect((await deliveries(critical.id))[0]?.status).toBe('sent');
    // Quiet hours over: the warning (still unacknowledged) goes out.
    hub.app.alarmClock.set((held.nextAt as number) + 1000);
    hub.app.alarmScheduler.tick();
    await hub.app.notifications.settled();
    expect((await deliveries(warning.id))[0]?.status).toBe('sent');
    expect(JSON.parse(sms.received.at(-1)?.body as string).level).toBe('warning');
  });

  it('secrets are read from their files and are nowhere in the state DB or the log', async () => {
    const db = readFileSync(join(hub.dataDir, 'state.db')).toString('latin1');
    const log = logLines.join('\n');
    for (const secret of [WEBHOOK_SECRET, SMTP_PASSWORD, SMS_TOKEN]) {
      expect(db).not.toContain(secret);
      expect(log).not.toContain(secret);
    }
  });
});
