/**
 * Seals a device secret to one gateway's X25519 public key (the format is SEALED_SECRET in
 * protocols/src/provisioning.ts; the gateway opens it with its private key, which never leaves it).
 * The hub keeps only what this returns: it cannot open it again, so a password typed once is never
 * shown, logged or exported in clear, and a stolen state database holds nothing usable without the
 * gateway's own key file.
 */
import {
  createCipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { SEALED_SECRET } from '@qianliyan/protocols';

/** A raw 32-byte X25519 public key (base64url) as a KeyObject; throws on anything else. */
export function x25519PublicKey(raw: string) {
  const bytes = Buffer.from(raw, 'base64url');
  if (bytes.length !== SEALED_SECRET.publicKeyBytes) throw new Error('not an X25519 public key');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: bytes.toString('base64url') },
    format: 'jwk',
  });
}

export function sealSecret(gatewayPublicKey: string, secret: string, context: string): string {
  const recipient = x25519PublicKey(gatewayPublicKey);
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralRaw = Buffer.from(ephemeral.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const salt = Buffer.concat([ephemeralRaw, Buffer.from(gatewayPublicKey, 'base64url')]);
  const key = Buffer.from(hkdfSync('sha256', shared, salt, SEALED_SECRET.info, 32));
  const nonce = randomBytes(SEALED_SECRET.nonceBytes);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  const blob = Buffer.concat([ephemeralRaw, nonce, body, cipher.getAuthTag()]);
  return `${SEALED_SECRET.prefix}${blob.toString('base64url')}`;
}
