/**
 * The simulated PTZ head: continuous moves integrate velocity over time until a stop or their
 * timeout, presets store positions, and the position maps to and from ONVIF's generic spaces
 * (pan -1…1 = -180°…180°, tilt -1…1 = -90°…90° (the head stops at 30° up), zoom 0…1 = 1×…20×).
 */
import type { PtzPosition } from './test-pattern.ts';

const PAN_DEG_PER_S = 60;
const TILT_DEG_PER_S = 30;
const ZOOM_PER_S = 4;
export const MAX_PRESETS = 256;

export interface Preset {
  token: string;
  name: string;
  position: PtzPosition;
}

export class PtzMotor {
  readonly position: PtzPosition = { pan: 0, tilt: 0, zoom: 1 };
  private velocity = { pan: 0, tilt: 0, zoom: 0 };
  private until = 0;
  private last = Date.now();
  readonly presets = new Map<string, Preset>();
  private nextToken = 1;
  /** Every move request, for tests to see what the camera was told. */
  readonly moves: { pan: number; tilt: number; zoom: number; timeoutMs: number | undefined }[] = [];

  constructor() {
    this.presets.set('1', { token: '1', name: 'Home', position: { pan: 0, tilt: 0, zoom: 1 } });
    this.nextToken = 2;
  }

  /** Advances the head to now; call before reading the position. */
  tick(now = Date.now()): PtzPosition {
    const end = Math.min(now, this.until);
    const dt = Math.max(0, end - this.last) / 1000;
    if (dt > 0) {
      const p = this.position;
      p.pan = (((p.pan + this.velocity.pan * PAN_DEG_PER_S * dt) % 360) + 360) % 360;
      p.tilt = clamp(p.tilt + this.velocity.tilt * TILT_DEG_PER_S * dt, -90, 30);
      p.zoom = clamp(p.zoom + this.velocity.zoom * ZOOM_PER_S * dt, 1, 20);
    }
    this.last = now;
    if (now >= this.until) this.velocity = { pan: 0, tilt: 0, zoom: 0 };
    return this.position;
  }

  get moving(): { panTilt: boolean; zoom: boolean } {
    this.tick();
    return { panTilt: this.velocity.pan !== 0 || this.velocity.tilt !== 0, zoom: this.velocity.zoom !== 0 };
  }

  continuousMove(pan: number, tilt: number, zoom: number, timeoutMs: number | undefined): void {
    this.tick();
    this.moves.push({ pan, tilt, zoom, timeoutMs });
    this.velocity = { pan: clamp(pan, -1, 1), tilt: clamp(tilt, -1, 1), zoom: clamp(zoom, -1, 1) };
    this.until = Date.now() + (timeoutMs ?? 60_000);
  }

  stop(): void {
    this.tick();
    this.velocity = { pan: 0, tilt: 0, zoom: 0 };
    this.until = 0;
  }

  moveTo(position: PtzPosition): void {
    this.stop();
    Object.assign(this.position, position);
  }

  setPreset(name: string | undefined, token: string | undefined): Preset | undefined {
    this.tick();
    const key = token ?? String(this.nextToken++);
    if (!this.presets.has(key) && this.presets.size >= MAX_PRESETS) return undefined;
    const preset = { token: key, name: name ?? `Preset ${key}`, position: { ...this.position } };
    this.presets.set(key, preset);
    return preset;
  }

  /** Position in ONVIF generic spaces. */
  generic(): { x: number; y: number; zoom: number } {
    const p = this.tick();
    const pan = p.pan > 180 ? p.pan - 360 : p.pan;
    return { x: round(pan / 180), y: round(p.tilt / 90), zoom: round((p.zoom - 1) / 19) };
  }
}

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
const round = (v: number) => Math.round(v * 1e6) / 1e6;
