/**
 * The device panel's command buttons against the command policy, for every role and device kind:
 * a button the hub would refuse is a lie to the officer (the old bar offered village operators
 * `ptz.preset.set`, which the hub refuses), and an action the policy allows but the bar hides is a
 * control missing when it is needed (the old bar had no `speaker.power`). The expectation is read
 * from COMMAND_POLICY and the action catalog directly, not through the helper the bar uses.
 */
import {
  ACTIONS,
  type ActionNameKnown,
  COMMAND_POLICY,
  DEVICE_KINDS,
  type DeviceKind,
  mayCommand,
  ROLES,
} from '@qianliyan/protocols';
import { describe, expect, it } from 'vitest';
import { COMMAND_BUTTONS, commandButtons } from '../../src/components/command-buttons.ts';

/** Device actions offered by their own tools, since they need more than a click. */
const OWN_TOOLS: Partial<Record<ActionNameKnown, string>> = {
  'drone.goto': 'drone tools: a point picked on the map',
  'drone.mode': 'drone tools: a mode chosen from a list',
  'ptz.preset.list': 'PTZ controls: the preset list of the enlarged video',
};

const ALL = Object.keys(ACTIONS) as ActionNameKnown[];
const actionsOfKind = (kind: DeviceKind) =>
  ALL.filter((a) => ACTIONS[a].scope === 'device' && (ACTIONS[a].kinds as readonly string[]).includes(kind));
/** A device of `kind` that takes every action of its kind. */
const fullDevice = (kind: DeviceKind) => ({ kind, capabilities: actionsOfKind(kind).map((a) => `cmd.${a}`) });

describe('command buttons × the command policy', () => {
  for (const role of ROLES)
    for (const kind of DEVICE_KINDS)
      it(`${role} on a ${kind}: exactly what the policy lets the role send`, () => {
        const offered = new Set(commandButtons(role, fullDevice(kind)).map((b) => b.action));
        const allowed = actionsOfKind(kind).filter((a) => {
          const rule = COMMAND_POLICY[a];
          return !rule.internal && rule.roles.includes(role) && !OWN_TOOLS[a];
        });
        expect([...offered].sort()).toEqual([...allowed].sort());
      });

  it('a device gets buttons only for the actions it advertises', () => {
    const speaker = { kind: 'speaker' as const, capabilities: ['cmd.speaker.volume'] };
    expect(commandButtons('admin', speaker).map((b) => b.action)).toEqual([
      'speaker.volume',
      'speaker.volume',
    ]);
    expect(commandButtons('admin', { kind: 'camera', capabilities: [] })).toEqual([]);
  });

  it('every action the policy marks harmful asks for confirmation first', () => {
    for (const buttons of Object.values(COMMAND_BUTTONS))
      for (const b of buttons ?? [])
        if (COMMAND_POLICY[b.action].confirm) expect(b.confirm, b.action).toBe(true);
  });

  it('no role may send the hub’s internal actions itself', () => {
    for (const role of ROLES)
      for (const a of ALL)
        if (COMMAND_POLICY[a].internal) expect(mayCommand(role, a), `${role} ${a}`).toBe(false);
    expect(mayCommand('admin', 'no.such.action')).toBe(false);
  });
});
