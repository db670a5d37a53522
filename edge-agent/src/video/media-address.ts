/**
 * Which media addresses a camera names may be used with the camera's credentials.
 *
 * A camera names its stream and snapshot addresses itself (GetStreamUri, GetSnapshotUri), and a
 * camera can be in an attacker's hands: one that names another host would have the gateway send
 * that host the camera's password (Basic, a Digest response to a chosen challenge, or `user:pass@`
 * in an RTSP URL). So an address is used only on the camera's own host — the host of the ONVIF
 * service the gateway was configured with or discovered at; the port may differ (RTSP on 554, the
 * snapshot on 80). Anything else is refused and not contacted at all: a camera whose media lives
 * elsewhere must be configured so that the service and its media share one host. A camera behind
 * NAT or port forwarding (it names its internal address) can be told to use the path and port it
 * names on its configured host instead (`rewrite`): the credentials still go only there.
 */
export type MediaRefusal = 'foreign_host' | 'bad_scheme' | 'bad_uri';

export type MediaCheck = { ok: true; url: URL } | { ok: false; reason: MediaRefusal; host: string };

/** Checks `uri` against the camera's own host and the schemes this kind of media may use. */
export function checkMediaUri(
  uri: string,
  cameraHost: string,
  schemes: readonly string[],
  rewrite = false,
): MediaCheck {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { ok: false, reason: 'bad_uri', host: '' };
  }
  if (!schemes.includes(url.protocol)) return { ok: false, reason: 'bad_scheme', host: url.hostname };
  if (url.hostname.toLowerCase() !== cameraHost.toLowerCase()) {
    if (!rewrite) return { ok: false, reason: 'foreign_host', host: url.hostname };
    url.hostname = cameraHost;
  }
  // Credentials in the camera's own answer are not ours to use; ours are added where they go.
  url.username = '';
  url.password = '';
  return { ok: true, url };
}

/** A URL with its `user:password@` removed, for logs. */
export function stripUserinfo(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#\s]*@/i, '$1');
}
