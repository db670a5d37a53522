/**
 * Profiles, stream URIs and snapshot URIs through the media service the camera offers: Media2
 * (ONVIF Profile T, `ver20/media`) where GetServices / GetCapabilities list it, Media1 (`ver10/media`)
 * otherwise — and, per request, the other one when the first refuses. Cameras in the field answer
 * one and not the other: one whose Media1 refused GetStreamUri while its Media2 answered came online
 * with no stream at all when only Media1 was asked; others list Media2 profiles bare (no encoder:
 * the recorded ENP1A14), and their details come from Media1's profile of the same token.
 *
 * Requests are sent raw (client.request) and read by converters.ts: the `onvif` library's Media2
 * methods throw on bare profiles and its answers carry no HTTP status.
 */
import type { Logger } from 'pino';
import { CameraError, type OnvifClient } from './client.ts';
import { type MediaProfile, parseMediaUri, parseProfiles } from './converters.ts';
import { escapeXml } from './soap.ts';

const MEDIA1 = 'http://www.onvif.org/ver10/media/wsdl';
const MEDIA2 = 'http://www.onvif.org/ver20/media/wsdl';
const SCHEMA = 'http://www.onvif.org/ver10/schema';

type Media = 'media' | 'media2';

/** The order to ask in: Media2 first where the camera offers it. */
function order(client: OnvifClient): Media[] {
  const { media1, media2 } = client.services;
  return [...(media2 ? (['media2'] as const) : []), ...(media1 ? (['media'] as const) : [])];
}

/** Asks each offered media service in turn; a refusal of the credentials ends it at once. */
async function firstAnswer<T>(
  client: OnvifClient,
  log: Logger,
  what: string,
  ask: (media: Media) => Promise<T>,
): Promise<{ value: T; via: Media }> {
  let last: unknown = new CameraError('no_media', 'the camera offers no media service');
  for (const media of order(client)) {
    try {
      return { value: await ask(media), via: media };
    } catch (err) {
      if (err instanceof CameraError && err.kind === 'unauthorized') throw err;
      last = err;
      log.debug(
        { media, what, err: (err as Error).message },
        'media request refused; trying the other service',
      );
    }
  }
  throw last;
}

const hasEncoder = (p: MediaProfile) => p.encoding !== undefined || p.width !== undefined;

export interface ProfilesRead {
  profiles: MediaProfile[];
  /** The service that named them. */
  via: Media;
}

/** The camera's media profiles: Media2's list where offered, details from Media1 where Media2's are bare. */
export async function readProfiles(client: OnvifClient, log: Logger): Promise<ProfilesRead> {
  const read = (media: Media) =>
    client
      .request(
        media,
        'GetProfiles',
        media === 'media2'
          ? `<GetProfiles xmlns="${MEDIA2}"><Type>All</Type></GetProfiles>`
          : `<GetProfiles xmlns="${MEDIA1}"/>`,
      )
      .then((xml) => {
        try {
          return parseProfiles(xml);
        } catch (err) {
          throw new CameraError(
            'bad_response',
            `the camera answers, but not ONVIF (GetProfiles: ${(err as Error).message})`,
          );
        }
      });
  const first = await firstAnswer(client, log, 'profiles', read);
  const { value: profiles, via } = first;
  if (via === 'media2' && client.services.media1 && profiles.some((p) => !hasEncoder(p))) {
    try {
      const detailed = new Map((await read('media')).map((p) => [p.token, p]));
      return {
        via,
        profiles: profiles.map((p) => {
          const d = detailed.get(p.token);
          return d && !hasEncoder(p)
            ? {
                ...d,
                name: p.name,
                ptz: p.ptz || d.ptz,
                ...((p.ptzConfig ?? d.ptzConfig) ? { ptzConfig: p.ptzConfig ?? d.ptzConfig } : {}),
              }
            : p;
        }),
      };
    } catch (err) {
      if (err instanceof CameraError && err.kind === 'unauthorized') throw err;
      log.debug({ err: (err as Error).message }, 'Media1 profiles unavailable; Media2 profiles kept bare');
    }
  }
  return { profiles, via };
}

/** The RTSP address of a profile's stream (RTP over RTSP; the gateway's relay uses TCP). */
export async function streamUri(
  client: OnvifClient,
  log: Logger,
  token: string,
): Promise<{ uri: string; via: Media }> {
  const t = escapeXml(token);
  const { value, via } = await firstAnswer(client, log, 'stream URI', async (media) =>
    parseUri(
      await client.request(
        media,
        'GetStreamUri',
        media === 'media2'
          ? `<GetStreamUri xmlns="${MEDIA2}"><Protocol>RTSP</Protocol><ProfileToken>${t}</ProfileToken></GetStreamUri>`
          : `<GetStreamUri xmlns="${MEDIA1}"><StreamSetup><Stream xmlns="${SCHEMA}">RTP-Unicast</Stream><Transport xmlns="${SCHEMA}"><Protocol>RTSP</Protocol></Transport></StreamSetup><ProfileToken>${t}</ProfileToken></GetStreamUri>`,
      ),
      'GetStreamUri',
    ),
  );
  return { uri: value, via };
}

/** The HTTP address of a profile's snapshot. */
export async function snapshotUri(
  client: OnvifClient,
  log: Logger,
  token: string,
): Promise<{ uri: string; via: Media }> {
  const t = escapeXml(token);
  const { value, via } = await firstAnswer(client, log, 'snapshot URI', async (media) =>
    parseUri(
      await client.request(
        media,
        'GetSnapshotUri',
        `<GetSnapshotUri xmlns="${media === 'media2' ? MEDIA2 : MEDIA1}"><ProfileToken>${t}</ProfileToken></GetSnapshotUri>`,
      ),
      'GetSnapshotUri',
    ),
  );
  return { uri: value, via };
}

function parseUri(xml: string, operation: string): string {
  try {
    return parseMediaUri(xml);
  } catch (err) {
    throw new CameraError(
      'bad_response',
      `the camera answers, but not ONVIF (${operation}: ${(err as Error).message})`,
    );
  }
}
