/**
 * The device panel's command buttons: one catalog per device kind, and the buttons a role gets for a
 * device — those whose action the device advertises (`cmd.<action>`) and the command policy
 * (protocols/src/access.ts) lets the role send, nothing the hub would refuse. No DOM here, so the
 * rule can be checked against the policy for every role (dashboard/test/components/command-buttons.test.ts).
 */
import {
  type ActionNameKnown,
  COMMAND_POLICY,
  commandsOffered,
  type DeviceKind,
  type Role,
} from '@qianliyan/protocols';
import type { StringKey } from '../i18n.ts';

export interface CommandButton {
  action: ActionNameKnown;
  label: StringKey;
  params?: Record<string, unknown>;
  /** Asks for a second, explicit click, then sends `confirm: true` (from the command policy). */
  confirm?: boolean;
}

/** A button; it asks for confirmation when the policy says the action can harm, or when `ask`. */
const button = (
  action: ActionNameKnown,
  label: StringKey,
  params?: Record<string, unknown>,
  ask = false,
): CommandButton => ({
  action,
  label,
  ...(params ? { params } : {}),
  ...(ask || COMMAND_POLICY[action].confirm ? { confirm: true } : {}),
});

/**
 * Every button of each kind, in the panel's order. Actions that need more than a click are offered
 * by their own tools: a drone's go-to (a point on the map) and flight mode (a choice) by the drone
 * tools, a camera's named presets by the PTZ controls of the enlarged video.
 */
export const COMMAND_BUTTONS: Readonly<Partial<Record<DeviceKind, readonly CommandButton[]>>> = {
  camera: [
    button('ptz.move', 'ptzLeft', { pan: -0.5, durationMs: 1000 }),
    button('ptz.move', 'ptzUp', { tilt: 0.5, durationMs: 1000 }),
    button('ptz.move', 'ptzDown', { tilt: -0.5, durationMs: 1000 }),
    button('ptz.move', 'ptzRight', { pan: 0.5, durationMs: 1000 }),
    button('ptz.move', 'ptzZoomIn', { zoom: 0.5, durationMs: 1000 }),
    button('ptz.move', 'ptzZoomOut', { zoom: -0.5, durationMs: 1000 }),
    button('ptz.stop', 'ptzStop'),
    button('ptz.preset.goto', 'ptzHome', { preset: 'home' }),
    // Overwrites the preset officers and linkage rules turn the camera to: asked twice.
    button('ptz.preset.set', 'ptzStoreHome', { preset: 'home' }, true),
  ],
  drone: [
    button('drone.rtl', 'droneRtl'),
    button('drone.hold', 'droneHold'),
    button('drone.land', 'droneLand'),
  ],
  speaker: [
    button('speaker.volume', 'volumeDown', { volume: 40 }),
    button('speaker.volume', 'volumeUp', { volume: 85 }),
    button('speaker.power', 'speakerOn', { on: true }),
    button('speaker.power', 'speakerOff', { on: false }),
  ],
};

/** The buttons `role` gets for a device of `kind` advertising `capabilities`. */
export function commandButtons(
  role: Role,
  device: { kind: DeviceKind; capabilities: readonly string[] },
): CommandButton[] {
  const offered = new Set(commandsOffered(role, device.capabilities));
  return (COMMAND_BUTTONS[device.kind] ?? []).filter((b) => offered.has(b.action));
}
