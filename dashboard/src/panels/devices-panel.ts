/** Sidebar: every device in scope, virtualized, with search and filters; a row opens its panel. */
import { WATCH } from '@qianliyan/protocols';
import { DeviceList, playsVideo } from '../components/device-list.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';
import { DRAG_TYPE } from '../video/video-wall.ts';

export interface DevicesPanel extends PanelInstance {
  list: DeviceList;
  focus(): void;
}

export const devicesPanel: PanelDef = {
  id: 'devices',
  label: 'devices',
  roles: WATCH,
  slot: 'sidebar',
  mount(el, ctx): DevicesPanel {
    el.classList.add('devices-section');
    el.innerHTML = `<h2><span data-i18n="devices"></span> <span data-role="device-count"></span></h2>
      <div class="device-filters" data-role="device-filters"></div><ul class="devices" data-role="devices"></ul>`;
    const countEl = el.querySelector('[data-role=device-count]') as HTMLElement;
    const devicesEl = el.querySelector('[data-role=devices]') as HTMLElement;
    const list = new DeviceList(
      devicesEl,
      el.querySelector('[data-role=device-filters]') as HTMLElement,
      ctx.store.devices,
      (id) => ctx.siteName(id),
      (shown, total) => {
        countEl.textContent = shown === total ? `(${total})` : `(${shown} / ${total})`;
      },
    );
    const offChange = ctx.store.onChange((change) => list.changed(change));
    const offSites = ctx.store.onSites((sites) => {
      list.setSites(sites);
      list.refresh();
    });
    list.setSites(ctx.store.sites);
    devicesEl.addEventListener('dragstart', (ev) => {
      const key = (ev.target as HTMLElement).closest<HTMLElement>('[data-key]')?.dataset.key;
      if (key && ev.dataTransfer) {
        ev.dataTransfer.setData(DRAG_TYPE, key);
        ev.dataTransfer.effectAllowed = 'copy';
      }
    });
    // A row (click, Enter) opens the device's panel and goes there on the map; a camera also plays
    // on the video wall — what an officer picking a camera wants to see.
    devicesEl.addEventListener('click', (ev) => {
      const key = (ev.target as HTMLElement).closest<HTMLElement>('[data-key]')?.dataset.key;
      if (!key) return;
      const d = ctx.store.devices.get(key);
      ctx.select(key);
      if (d) ctx.map.panTo([d.position.lat, d.position.lon]);
      if (d && playsVideo(d)) ctx.openOnWall([key]);
    });
    return {
      list,
      focus: () => list.focus(),
      relabel: () => list.refresh(),
      dispose: () => {
        offChange();
        offSites();
      },
    };
  },
};
