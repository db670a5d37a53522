/** Sidebar: the gateways in scope, refreshed live and every second ("seen 5 s ago"). */
import { may, WATCH } from '@qianliyan/protocols';
import { GatewayList } from '../components/gateway-list.ts';
import type { PanelDef } from '../shell/panel.ts';
import type { CallsPanel } from './calls-panel.ts';

export const gatewaysPanel: PanelDef = {
  id: 'gateways',
  label: 'gateways',
  roles: WATCH,
  slot: 'sidebar',
  mount(el, ctx) {
    el.innerHTML =
      '<h2 data-i18n="gateways" id="gateways-heading"></h2><ul class="gateways" data-role="gateways" aria-labelledby="gateways-heading"></ul>';
    const list = new GatewayList(
      el.querySelector('[data-role=gateways]') as HTMLElement,
      (id) => ctx.siteName(id),
      may(ctx.user.role, 'callVillage')
        ? (site) => ctx.panel<CallsPanel>('calls')?.call({ sites: [site] })
        : undefined,
    );
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
