/**
 * The command bar against the hub, for every role: what the bar offers a role on a device is exactly
 * what the hub accepts from that role — no button the hub refuses (the old bar offered village
 * operators `ptz.preset.set`), no accepted action without its control (the old bar had no
 * `speaker.power`). Real parts: the hub, its broker, and an edge agent process whose simulated
 * village speaks ONVIF, the loudspeakers' HTTP API and MAVLink through the production adapters, so
 * the devices advertise the actions their real adapters take.
 *
 * "Accepted" is read from the hub's answer: a refusal for the role is 403 `HUB_ERR_FORBIDDEN`;
 * anything else (sent, or refused for the params) means the role passed. Every role works in the
 * device's own village, so scope never decides.
 */
import {
  ACTIONS,
  type ActionNameKnown,
  COMMAND_POLICY,
  type DeviceView,
  ROLES,
  type Role,
} from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_BUTTONS, commandButtons } from '../dashboard/src/components/command-buttons.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'village-policy';
const GW = 'gw-policy';

/**
 * Device actions the panel offers through their own tools, with the rule each tool shows them by
 * (drone-tools.ts and ptz-controls.ts read `mayCommand` for exactly these).
 */
const OWN_TOOLS: ReadonlySet<ActionNameKnown> = new Set(['drone.goto', 'drone.mode', 'ptz.preset.list']);

describe('the command bar offers each role exactly what the hub accepts', () => {
  let hub: TestHub;
  let edge: EdgeProcess;
  const tokens = new Map<Role, string>();
  let devices: DeviceView[] = [];

  const send = (role: Role, key: string, body: Record<string, unknown>) =>
    hub.app.inject({
      method: 'POST',
      url: `/api/devices/${encodeURIComponent(key)}/commands`,
      headers: { authorization: `Bearer ${tokens.get(role)}` },
      payload: { wait: false, confirm: true, ...body },
    });

  beforeAll(async () => {
    hub = await startTestHub();
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: hub.brokerUrl },
        // One of each kind that takes commands; camera 1 of a simulated village has PTZ.
        simulation: {
          center: { lat: 30.042, lon: 119.951 },
          cameras: 1,
          speakers: 1,
          sensors: 0,
          drones: 1,
          intervalMs: 1000,
          seed: 17,
        },
      },
      await hub.provisionGateway(GW, SITE),
      { devAdapters: false },
    );
    edge.start();
    const admin = await hub.token();
    tokens.set('admin', admin);
    for (const role of ROLES.filter((r) => r !== 'admin')) {
      const username = `policy-${role.replace('_', '-')}`;
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: { username, password: 'a-long-password', role, sites: [SITE] },
      });
      expect(res.statusCode, role).toBe(201);
      tokens.set(role, await hub.token(username, 'a-long-password'));
    }
    devices = await waitFor(
      'a PTZ camera, a loudspeaker and a drone online with their actions',
      () => {
        const all = hub.app.registry.listDevices().filter((d) => d.gateway === GW && d.status === 'online');
        const has = (action: string) => all.some((d) => d.capabilities.includes(`cmd.${action}`));
        return has('ptz.preset.set') && has('speaker.power') && has('drone.land') ? all : undefined;
      },
      60_000,
    );
  }, 90_000);

  afterAll(async () => {
    await edge?.stop('SIGKILL');
    await hub?.close();
  });

  it('every role × every command device: bar ⇔ hub', async () => {
    const mismatches: string[] = [];
    let checked = 0;
    for (const device of devices) {
      const catalog = COMMAND_BUTTONS[device.kind] ?? [];
      // What a role may be asked about on this device: the bar's buttons and every other action the
      // device advertises that a person could send (not the hub's internal ones).
      const advertised = (Object.keys(ACTIONS) as ActionNameKnown[]).filter(
        (a) => device.capabilities.includes(`cmd.${a}`) && !COMMAND_POLICY[a].internal,
      );
      if (catalog.length === 0) continue;
      for (const role of ROLES) {
        const offered = new Set(commandButtons(role, device).map((b) => b.action));
        for (const action of advertised) {
          const button = catalog.find((b) => b.action === action);
          const res = await send(role, device.key, { action, params: button?.params ?? {} });
          const accepted = res.statusCode !== 403;
          checked += 1;
          if (res.statusCode === 403)
            expect((res.json() as { code: string }).code, `${role} ${action}`).toBe('HUB_ERR_FORBIDDEN');
          const shown = offered.has(action) || (OWN_TOOLS.has(action) && accepted);
          if (accepted !== shown)
            mismatches.push(
              `${role} on ${device.kind} ${action}: hub ${accepted ? 'accepts' : 'refuses'} (${res.statusCode}), bar ${offered.has(action) ? 'offers' : 'lacks'} it`,
            );
        }
      }
    }
    expect(mismatches).toEqual([]);
    // Five roles × (5 camera + 2 loudspeaker + 5 drone actions): the walk reached every device.
    expect(checked).toBeGreaterThanOrEqual(5 * 12);
  });

  it('the cases the old bar had wrong: village operators and the loudspeaker', async () => {
    const speaker = devices.find((d) => d.capabilities.includes('cmd.speaker.power'));
    const camera = devices.find((d) => d.capabilities.includes('cmd.ptz.preset.set'));
    expect(speaker && camera).toBeTruthy();
    const operator = (d: DeviceView) => commandButtons('village_operator', d).map((b) => b.action);
    expect(operator(camera as DeviceView)).not.toContain('ptz.preset.set');
    expect(
      (await send('village_operator', (camera as DeviceView).key, { action: 'ptz.preset.set', params: {} }))
        .statusCode,
    ).toBe(403);
    expect(operator(speaker as DeviceView)).toContain('speaker.power');
    const on = await send('village_operator', (speaker as DeviceView).key, {
      action: 'speaker.power',
      params: { on: true },
    });
    expect(on.statusCode).toBeLessThan(300);
  });
});
