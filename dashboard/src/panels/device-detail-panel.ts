/** Overlay: the selected device's panel (values, commands, history links, drone tools). */
import { WATCH } from '@qianliyan/protocols';
import { DevicePanel } from '../components/device-panel.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';
import type { HistoryPanel } from './history-panel.ts';
import type { WallPanel } from './wall-panel.ts';

export interface DeviceDetailPanel extends PanelInstance {
  panel: DevicePanel;
}

export const deviceDetailPanel: PanelDef = {
  id: 'device',
  label: 'devices',
  roles: WATCH,
  slot: 'overlay',
  mount(el, ctx): DeviceDetailPanel {
    el.classList.add('panel');
    el.hidden = true;
    const panel = new DevicePanel(el, () => ctx.select(undefined), ctx.user.role, ctx.mapTools, {
      play: (key) => ctx.openOnWall([key]),
      large: (key) => {
        ctx.openOnWall([key]);
        ctx.panel<WallPanel>('wall')?.wall.openBig(key);
      },
    });
    const offCommand = ctx.store.topics.command.on((c) => panel.onCommand(c));
    const offChange = ctx.store.onChange((change) => {
      for (const d of change.devices) panel.update(d);
    });
    el.addEventListener('click', (ev) => {
      const link = (ev.target as HTMLElement).closest<HTMLElement>('[data-open-history]');
      if (!link) return;
      ctx.show('history');
      ctx.panel<HistoryPanel>('history')?.history.open(link.dataset.key as string, link.dataset.openHistory);
    });
    return {
      panel,
      relabel: () => {
        const open = panel.current ? ctx.store.devices.get(panel.current) : undefined;
        if (open) panel.relabel(open);
      },
      dispose: () => {
        offCommand();
        offChange();
        panel.hide();
      },
    };
  },
};
