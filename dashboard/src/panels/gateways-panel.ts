/** Sidebar: the gateways in scope, refreshed live and every second ("seen 5 s ago"). */
import { WATCH } from '@qianliyan/protocols';
import { GatewayList } from '../components/gateway-list.ts';
import type { PanelDef } from '../shell/panel.ts';

export const gatewaysPanel: PanelDef = {
  id: 'gateways',
  label: 'gateways',
  roles: WATCH,
  slot: 'sidebar',
  mount(el, ctx) {
    el.innerHTML = '<h2 data-i18n="gateways"></h2><ul class="gateways" data-role="gateways"></ul>';
    const list = new GatewayList(el.querySelector('[data-role=gateways]') as HTMLElement);
    const update = () => list.update(ctx.store.gateways.values());
    const off = ctx.store.onChange((c) => {
      if (c.snapshot || c.gateways.length > 0) update();
    });
    const ticker = window.setInterval(update, 1000); // keeps "N seconds ago" current
    update();
    return {
      relabel: update,
      dispose: () => {
        off();
        window.clearInterval(ticker);
      },
    };
  },
};
