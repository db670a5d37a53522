/**
 * A PTZ position as the hub takes it: pan degrees 0…360 from the camera's heading, tilt degrees
 * -90…90, zoom factor 1…20 — from whatever units the camera reports.
 *
 * ONVIF's generic position space is pan and tilt -1…1 and zoom 0…1 (Core spec, PTZ §5.7), but a
 * camera advertises the ranges it really uses (GetConfigurationOptions / GetNode:
 * AbsolutePanTiltPositionSpace, AbsoluteZoomPositionSpace), and some advertise the generic URI with
 * their own units: a head reporting tilt 2,949,120 and zoom 240,237 (16.16 fixed-point degrees) had
 * its tilt published as 265 million degrees and the map's view cone followed it. So:
 *  - the space a reading is in is the one it names, else the profile's default absolute space,
 *    else the generic one;
 *  - an advertised range beyond the normalised one (|min| or |max| > 1) is the camera's own units,
 *    rescaled linearly onto the generic range; a range within it is the generic space (some cameras
 *    advertise zoom as -1…1 and report 0 for wide: read as the spec says, 0 = wide);
 *  - a value outside its range is clamped to it and flagged; a value in a space nobody advertised
 *    that is outside the generic range cannot be normalised: it is dropped and flagged.
 * Turning the generic space into degrees assumes the common head (pan ±180°, tilt ±90°, zoom 1–20×).
 */
import type { Logger } from 'pino';
import { CameraError, type OnvifClient } from './client.ts';
import {
  type MediaProfile,
  type PositionSpace,
  type PtzConfigRef,
  type PtzSpaces,
  type PtzStatus,
  parsePtzSpaces,
} from './converters.ts';
import { escapeXml } from './soap.ts';

const PTZ = 'http://www.onvif.org/ver20/ptz/wsdl';

export const GENERIC_PAN_TILT = 'http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace';
export const GENERIC_ZOOM = 'http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace';

const NORMALISED: Record<'pan' | 'tilt' | 'zoom', [number, number]> = {
  pan: [-1, 1],
  tilt: [-1, 1],
  zoom: [0, 1],
};

export type Axis = 'pan' | 'tilt' | 'zoom';

export interface NormalisedPosition {
  /** Degrees 0…360 from the camera's heading. */
  pan?: number;
  /** Degrees, -90 (down) … 90. */
  tilt?: number;
  /** Zoom factor, 1…20. */
  zoom?: number;
  /** Axes whose value lay outside its range and was clamped. */
  clamped: Axis[];
  /** Axes whose value could not be normalised (an unknown space, out of the generic range): left out. */
  dropped: Axis[];
}

export class PtzNormaliser {
  constructor(
    private readonly spaces: PtzSpaces = { panTilt: [], zoom: [] },
    private readonly defaults: PtzConfigRef = {},
  ) {}

  normalise(status: PtzStatus): NormalisedPosition {
    const out: NormalisedPosition = { clamped: [], dropped: [] };
    const panTiltUri = status.panTiltSpace ?? this.defaults.panTiltSpace ?? GENERIC_PAN_TILT;
    const zoomUri = status.zoomSpace ?? this.defaults.zoomSpace ?? GENERIC_ZOOM;
    const panTilt = this.spaces.panTilt.find((s) => s.uri === panTiltUri);
    const zoom = this.spaces.zoom.find((s) => s.uri === zoomUri);
    const generic = (axis: Axis, value: number | undefined, space: PositionSpace | undefined) => {
      if (value === undefined) return undefined;
      return this.toGeneric(axis, value, axis === 'tilt' ? space?.y : space?.x, out);
    };
    const pan = generic('pan', status.pan, panTilt);
    const tilt = generic('tilt', status.tilt, panTilt);
    const z = generic('zoom', status.zoom, zoom);
    if (pan !== undefined) out.pan = round1((((pan * 180) % 360) + 360) % 360);
    if (tilt !== undefined) out.tilt = round1(tilt * 90);
    if (z !== undefined) out.zoom = round1(1 + z * 19);
    return out;
  }

  private toGeneric(
    axis: Axis,
    value: number,
    advertised: [number, number] | undefined,
    out: NormalisedPosition,
  ): number | undefined {
    const [lo, hi] = NORMALISED[axis];
    if (!Number.isFinite(value)) {
      out.dropped.push(axis);
      return undefined;
    }
    if (!advertised) {
      // Nobody said what this space is: only a value already in the generic range is usable.
      if (value < lo || value > hi) {
        out.dropped.push(axis);
        return undefined;
      }
      return value;
    }
    const [min, max] = advertised;
    let v = value;
    if (v < min || v > max) {
      out.clamped.push(axis);
      v = Math.min(max, Math.max(min, v));
    }
    const ownUnits = Math.abs(min) > 1 || Math.abs(max) > 1;
    if (ownUnits) return lo + ((v - min) / (max - min)) * (hi - lo);
    // A range within the normalised one: the value is normalised already (clamped to its axis).
    if (v < lo || v > hi) {
      if (!out.clamped.includes(axis)) out.clamped.push(axis);
      v = Math.min(hi, Math.max(lo, v));
    }
    return v;
  }
}

const round1 = (v: number) => Math.round(v * 10) / 10;

/**
 * The absolute position spaces the camera advertises for a profile: its PTZ configuration's options
 * (GetConfigurationOptions), else its nodes (GetNodes). None (the generic space assumed) when it
 * tells neither; only refused credentials are an error.
 */
export async function readPtzSpaces(
  client: OnvifClient,
  profile: MediaProfile,
  log: Logger,
): Promise<PtzSpaces> {
  const token = profile.ptzConfig?.token;
  const asks: Array<[string, string]> = [
    ...(token
      ? ([
          [
            'GetConfigurationOptions',
            `<GetConfigurationOptions xmlns="${PTZ}"><ConfigurationToken>${escapeXml(token)}</ConfigurationToken></GetConfigurationOptions>`,
          ],
        ] as Array<[string, string]>)
      : []),
    ['GetNodes', `<GetNodes xmlns="${PTZ}"/>`],
  ];
  for (const [operation, body] of asks) {
    try {
      const spaces = parsePtzSpaces(await client.request('ptz', operation, body));
      if (spaces.panTilt.length || spaces.zoom.length) return spaces;
    } catch (err) {
      if (err instanceof CameraError && err.kind === 'unauthorized') throw err;
      log.debug({ operation, err: (err as Error).message }, 'PTZ spaces not read');
    }
  }
  return { panTilt: [], zoom: [] };
}
