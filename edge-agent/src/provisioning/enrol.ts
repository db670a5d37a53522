/**
 * `edge-agent enroll <hub URL> <code>`: the gateway trades a one-time code for its MQTT identity and
 * writes its secret file (0600): gateway id and site, broker URL and password, hub URL, and the
 * X25519 key pair device secrets are sealed to (its private half never leaves this file).
 *
 * The hub is checked before the code is sent: over HTTPS its certificate must verify against the
 * system CAs or the CA given (`--ca`); a failure names the reason and sends nothing. Over plain HTTP
 * the code and the answer cross the network readable (a LAN-only set-up): a warning says so.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname } from 'node:path';
import { AGENT_VERSION, ENROLMENT_CODE_PATTERN, type EnrolAnswer } from '@qianliyan/protocols';
import { type GatewayKeyPair, newGatewayKeyPair } from './sealed-secrets.ts';

export interface GatewaySecret {
  version: 1;
  gateway: { id: string; site: string };
  mqtt: { url: string; username: string; password: string };
  hubUrl: string;
  /** The CA file the hub's certificate was verified with, kept for video pushes and mqtts://. */
  caFile?: string;
  keys: GatewayKeyPair;
  enrolledAt: number;
}

/** An enrolment that did not happen, with the sentence to print. */
export class EnrolError extends Error {
  constructor(
    message: string,
    /** Process exit code: 3 refused by the hub, 4 hub not trusted or unreachable, 2 bad input. */
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

function postJson(
  url: URL,
  body: unknown,
  ca: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const options = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': data.length },
      timeout: timeoutMs,
      ...(ca ? { ca } : {}),
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) req.destroy(new Error('answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON: reported as it is */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(data);
  });
}

export async function enrol(options: {
  hubUrl: string;
  code: string;
  secretFile: string;
  caFile?: string;
  force?: boolean;
  timeoutMs?: number;
  warn?: (message: string) => void;
}): Promise<GatewaySecret> {
  const code = options.code.trim().toUpperCase();
  let url: URL;
  try {
    url = new URL(options.hubUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new EnrolError(`enrolment: ${options.hubUrl} is not a hub URL (https://host[:port])`, 2);
  }
  if (!new RegExp(ENROLMENT_CODE_PATTERN).test(code))
    throw new EnrolError('enrolment: that is not an enrolment code (QLY-XXXXXX-XXXXXXXXXXXXXXXXXXXX)', 2);
  if (existsSync(options.secretFile) && !options.force)
    throw new EnrolError(
      `enrolment: this gateway is already enrolled (${options.secretFile}); pass --force to enrol it again`,
      2,
    );
  if (url.protocol === 'http:')
    options.warn?.(
      'enrolment over plain HTTP: the code and the gateway password cross the network unencrypted',
    );
  let ca: string | undefined;
  if (options.caFile) {
    try {
      ca = readFileSync(options.caFile, 'utf8');
    } catch (err) {
      throw new EnrolError(
        `enrolment: cannot read the CA file ${options.caFile}: ${(err as Error).message}`,
        2,
      );
    }
  }
  const keys = newGatewayKeyPair();
  let answer: { status: number; body: unknown };
  try {
    answer = await postJson(
      new URL('/api/enrol', url),
      { code, publicKey: keys.publicKey, agentVersion: AGENT_VERSION },
      ca,
      options.timeoutMs ?? 15_000,
    );
  } catch (err) {
    const errCode = (err as { code?: string }).code ?? '';
    if (TLS_TRUST_CODES.has(errCode))
      throw new EnrolError(
        `enrolment refused by this gateway: the hub's TLS certificate is not trusted (${errCode}: ${(err as Error).message}). Nothing was sent. Check the hub URL, or pass the CA that signed the hub's certificate with --ca FILE`,
        4,
      );
    throw new EnrolError(
      `enrolment: cannot reach the hub at ${url.origin}: ${errCode || (err as Error).message}`,
      4,
    );
  }
  if (answer.status !== 200) {
    const message =
      (answer.body as { message?: string } | undefined)?.message ?? String(answer.body).slice(0, 200);
    throw new EnrolError(`enrolment refused by the hub (${answer.status}): ${message}`, 3);
  }
  const body = answer.body as EnrolAnswer;
  const secret: GatewaySecret = {
    version: 1,
    gateway: body.gateway,
    mqtt: body.mqtt,
    hubUrl: body.hubUrl,
    ...(options.caFile ? { caFile: options.caFile } : {}),
    keys,
    enrolledAt: Date.now(),
  };
  writeSecretFile(options.secretFile, secret);
  return secret;
}

/** Written whole or not at all (temp file, then rename), readable by this user only. */
export function writeSecretFile(path: string, secret: GatewaySecret): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(secret, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function readSecretFile(path: string): GatewaySecret | undefined {
  if (!existsSync(path)) return undefined;
  const secret = JSON.parse(readFileSync(path, 'utf8')) as GatewaySecret;
  if (secret.version !== 1 || !secret.gateway?.id || !secret.mqtt?.password || !secret.keys?.privateKey)
    throw new Error(`${path} is not a gateway secret file`);
  return secret;
}
