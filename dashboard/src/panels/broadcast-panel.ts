/** Stage, beside the map: the loudspeaker console (targets on the map, speech, clips, live talk). */
import { BROADCAST } from '@qianliyan/protocols';
import { BroadcastConsole } from '../components/broadcast-console.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';

export interface BroadcastPanel extends PanelInstance {
  console: BroadcastConsole;
}

export const broadcastPanel: PanelDef = {
  id: 'broadcast',
  label: 'modeBroadcast',
  roles: BROADCAST,
  slot: 'stage',
  mount(el, ctx): BroadcastPanel {
    const console = new BroadcastConsole(
      el,
      ctx.map,
      () => ctx.store.devices,
      (listener) => ctx.store.topics.broadcast.on(listener),
      (id) => ctx.siteName(id),
    );
    return { console, activate: (on) => console.setActive(on), relabel: () => console.relabel() };
  },
};
