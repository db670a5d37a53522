/**
 * What the shell gives a panel, and what a panel gives back. The command view is a shell that
 * loops over one table of panels (shell/panels.ts): each row names the panel, its label, the roles
 * that see it and where it lives (the sidebar, the stage, an overlay); `mount` builds it once into
 * its own element, and the shell calls `activate` when its stage view comes and goes, `relabel` on a
 * language switch and `dispose` when the page ends. A new panel is one module and one row.
 */
import type { PublicUser, Role } from '@qianliyan/protocols';
import type L from 'leaflet';
import type { StringKey } from '../i18n.ts';
import type { LiveStore } from '../live-store.ts';
import type { DeviceLayer } from '../map/device-layer.ts';
import type { ShellMapTools } from '../map/map-tools.ts';

/** The signed-in user, as `GET /api/auth/me` answers. */
export type Me = PublicUser;

/** The stage's views (the buttons in the header): which stage panels each shows, side by side. */
export type ViewId =
  | 'map'
  | 'split'
  | 'wall'
  | 'broadcast'
  | 'history'
  | 'incidents'
  | 'alarmCentre'
  | 'availability'
  | 'alarmRules';

export interface ShellContext {
  readonly store: LiveStore;
  readonly user: Me;
  readonly map: L.Map;
  readonly mapTools: ShellMapTools;
  readonly layer: DeviceLayer;
  /** A short message at the bottom of the screen. */
  toast(text: string): void;
  /** Switches the stage to a view (when the user's role has it). */
  show(view: ViewId): void;
  readonly view: ViewId;
  /** Opens a device's panel and reveals it in the list; undefined: its panel was closed. */
  select(key: string | undefined): void;
  /**
   * A device chosen on the map or in the alarm list: a speaker in the broadcast view becomes a
   * target; otherwise its panel opens, the map goes there and a camera goes on the wall.
   */
  pick(key: string): void;
  /**
   * Puts cameras on the video wall, switching to a view that shows it — unless `stay`: then they
   * wait on the wall (playing once it is shown) and the officer stays where they are.
   */
  openOnWall(keys: string[], options?: { stay?: boolean }): void;
  /** A site's name (its id only when the tree does not know it). */
  siteName(id: string): string;
  /** A device's name with its village, for lists that mix villages. */
  deviceLabel(key: string): string;
  /** Another panel's instance, for the few actions that cross panels. */
  panel<T extends PanelInstance>(id: string): T | undefined;
}

export interface PanelInstance {
  /** The panel's stage view came (true) or went (false). */
  activate?(active: boolean): void;
  /** The language changed: redraw every text. */
  relabel?(): void;
  /** Takes keyboard focus (a skip link lands here); false when there is nothing to focus. */
  focus?(): unknown;
  dispose?(): void;
}

export interface PanelDef {
  id: string;
  /** The label of its header button (stage panels) or its heading. */
  label: StringKey;
  /** Who sees it; the hub refuses the rest anyway. */
  roles: readonly Role[];
  slot: 'sidebar' | 'stage' | 'overlay';
  mount(el: HTMLElement, ctx: ShellContext): PanelInstance;
}
