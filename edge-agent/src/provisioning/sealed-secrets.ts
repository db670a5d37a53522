/**
 * The gateway's side of sealed device secrets (SEALED_SECRET in protocols/src/provisioning.ts): its
 * X25519 key pair, made at enrolment and kept in the gateway's secret file, and opening what the
 * hub sealed to it. An opened secret lives only in memory, in the device's running config.
 */
import {
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
} from 'node:crypto';
import { SEALED_SECRET } from '@qianliyan/protocols';

export interface GatewayKeyPair {
  /** Raw 32-byte public key, base64url: what the hub seals to. */
  publicKey: string;
  /** The private key as a JWK `d` (base64url); only in the 0600 secret file. */
  privateKey: string;
}

export function newGatewayKeyPair(): GatewayKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: publicKey.export({ format: 'jwk' }).x as string,
    privateKey: privateKey.export({ format: 'jwk' }).d as string,
  };
}

export class SealedSecretError extends Error {}

/** Opens a sealed secret; throws SealedSecretError when it is not for this gateway, device or field. */
export function openSecret(keys: GatewayKeyPair, sealed: string, context: string): string {
  if (!sealed.startsWith(SEALED_SECRET.prefix)) throw new SealedSecretError('unknown sealed-secret format');
  const blob = Buffer.from(sealed.slice(SEALED_SECRET.prefix.length), 'base64url');
  const { publicKeyBytes: pk, nonceBytes: nb, tagBytes: tb } = SEALED_SECRET;
  if (blob.length < pk + nb + tb) throw new SealedSecretError('sealed secret too short');
  const ephemeralRaw = blob.subarray(0, pk);
  const nonce = blob.subarray(pk, pk + nb);
  const body = blob.subarray(pk + nb, blob.length - tb);
  const tag = blob.subarray(blob.length - tb);
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', x: keys.publicKey, d: keys.privateKey },
    format: 'jwk',
  });
  try {
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: ephemeralRaw.toString('base64url') },
      format: 'jwk',
    });
    const shared = diffieHellman({ privateKey, publicKey });
    const salt = Buffer.concat([ephemeralRaw, Buffer.from(keys.publicKey, 'base64url')]);
    const key = Buffer.from(hkdfSync('sha256', shared, salt, SEALED_SECRET.info, 32));
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw new SealedSecretError('cannot open: sealed to another gateway key, device or field, or altered');
  }
}
