/**
 * Password and secret hashing.
 *
 * User passwords: scrypt with N = 2^17, r = 8, p = 1 (OWASP's current guidance for scrypt), stored
 * as `scrypt$N$r$p$salt$hash` (base64). The parameters travel with the hash, so a hash made with a
 * lower cost still verifies and is replaced on the next successful login (`needsRehash`).
 *
 * Gateway secrets: 144 random bits issued by the hub, never chosen by a person, so there is nothing
 * to brute-force and a slow hash would only cost CPU when hundreds of gateways reconnect after an
 * outage. They are stored as `sha256$salt$hash` and compared in constant time.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (
  pw: string,
  salt: Buffer,
  keylen: number,
  opts: object,
) => Promise<Buffer>;

export const DEFAULT_SCRYPT_LOG2N = 17;
const R = 8;
const P = 1;
const KEYLEN = 32;
/** scrypt needs 128·N·r bytes; Node's default ceiling (32 MiB) is below N = 2^17. */
const maxmem = (n: number) => 256 * n * R;

export async function hashPassword(password: string, log2N = DEFAULT_SCRYPT_LOG2N): Promise<string> {
  const n = 2 ** log2N;
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEYLEN, { N: n, r: R, p: P, maxmem: maxmem(n) });
  return `scrypt$${n}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Salted SHA-256 of a machine-generated secret (a gateway credential). */
export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  const hash = createHash('sha256').update(salt).update(secret).digest();
  return `sha256$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts[0] === 'sha256' && parts.length === 3) {
    const [, salt, hash] = parts as [string, string, string];
    const expected = Buffer.from(hash, 'base64');
    const actual = createHash('sha256').update(Buffer.from(salt, 'base64')).update(password).digest();
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
  const [scheme, n, r, p, salt, hash] = parts;
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const N = Number(n);
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N,
    r: Number(r),
    p: Number(p),
    maxmem: 256 * N * Number(r),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Whether a stored password hash is weaker than the configured cost. */
export function needsRehash(stored: string, log2N = DEFAULT_SCRYPT_LOG2N): boolean {
  const [scheme, n] = stored.split('$');
  return scheme !== 'scrypt' || Number(n) < 2 ** log2N;
}

/** A random secret that is easy to copy from a terminal: 24 characters of base64url. */
export function randomSecret(bytes = 18): string {
  return randomBytes(bytes).toString('base64url');
}
