/**
 * Sidebar: the site tree in scope (from the live snapshot), each node with its devices' counts over
 * its subtree (online / offline / alarm) worked out here from the live devices — nothing is polled.
 * A click zooms the map to the node; "call" rings the village (officers).
 */
import type { DeviceView, SiteNode } from '@qianliyan/protocols';
import { may, WATCH } from '@qianliyan/protocols';
import L from 'leaflet';
import { type SiteNodeView, SiteTreeNav } from '../components/site-tree-nav.ts';
import type { PanelDef } from '../shell/panel.ts';
import type { CallsPanel } from './calls-panel.ts';

/** Each node's counts over its subtree, from the devices the page holds. */
export function siteCounts(sites: SiteNode[], devices: Iterable<DeviceView>): SiteNodeView[] {
  const parent = new Map(sites.map((s) => [s.id, s.parent]));
  const counts = new Map(sites.map((s) => [s.id, { devices: 0, offline: 0, alarms: 0 }]));
  for (const d of devices) {
    // The device's site and every node above it (bounded: a tree is at most four levels).
    for (let id: string | null | undefined = d.site, n = 0; id && n < 16; id = parent.get(id), n++) {
      const c = counts.get(id);
      if (!c) continue;
      c.devices += 1;
      if (d.status === 'offline') c.offline += 1;
      if (d.status === 'alarm') c.alarms += 1;
    }
  }
  return sites.map((s) => ({
    ...s,
    ...(counts.get(s.id) as { devices: number; offline: number; alarms: number }),
  }));
}

export const sitesPanel: PanelDef = {
  id: 'sites',
  label: 'sitesTree',
  roles: WATCH,
  slot: 'sidebar',
  mount(el, ctx) {
    el.innerHTML =
      '<h2 data-i18n="sitesTree" id="sites-heading"></h2><ul class="site-tree" data-role="site-tree" aria-labelledby="sites-heading"></ul>';
    const mayCall = may(ctx.user.role, 'callVillage');
    const nav = new SiteTreeNav(
      el.querySelector('[data-role=site-tree]') as HTMLElement,
      (node) => {
        if (node.boundary)
          ctx.map.fitBounds(L.geoJSON(node.boundary as GeoJSON.Geometry).getBounds(), { padding: [24, 24] });
        else if (node.center)
          ctx.map.setView(
            [node.center.lat, node.center.lon],
            node.level === 'county' ? 12 : node.level === 'town' ? 13 : 15,
          );
      },
      mayCall ? (node) => ctx.panel<CallsPanel>('calls')?.call({ sites: [node.id] }) : undefined,
    );
    let queued = false;
    const render = () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        nav.show(siteCounts(ctx.store.sites, ctx.store.devices.values()));
      });
    };
    const offSites = ctx.store.onSites(render);
    // Counts change with statuses: at most once a frame, and only when a change could move them.
    const offChange = ctx.store.onChange((c) => {
      if (c.snapshot || c.removed.length > 0 || c.devices.length > 0) render();
    });
    render();
    return {
      relabel: render,
      dispose: () => {
        offSites();
        offChange();
      },
    };
  },
};
