/**
 * The site tree navigator (county → town → village → grid) in the sidebar: each node with its counts
 * over its subtree (online / offline / alarm); a click (or Enter) zooms the map to the node's
 * boundary or centre and filters nothing away — the map simply goes there. Updated in place.
 */
import type { SiteNode } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';

/** A node of the tree with its devices' counts over its subtree. */
export type SiteNodeView = SiteNode & { devices: number; offline: number; alarms: number };

export class SiteTreeNav {
  private nodes: SiteNodeView[] = [];
  private html = '';

  constructor(
    private readonly root: HTMLElement,
    private readonly go: (node: SiteNodeView) => void,
  ) {
    root.setAttribute('role', 'tree');
    root.addEventListener('click', (ev) => this.pick(ev));
    root.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        this.pick(ev);
      }
    });
  }

  private pick(ev: Event): void {
    const id = (ev.target as HTMLElement).closest<HTMLElement>('[data-site]')?.dataset.site;
    const node = this.nodes.find((n) => n.id === id);
    if (node) this.go(node);
  }

  show(nodes: SiteNodeView[]): void {
    this.nodes = nodes;
    const ids = new Set(nodes.map((n) => n.id));
    const children = new Map<string | null, SiteNodeView[]>();
    for (const n of nodes) {
      // A node whose parent is outside the caller's scope is a root here.
      const parent = n.parent && ids.has(n.parent) ? n.parent : null;
      children.set(parent, [...(children.get(parent) ?? []), n]);
    }
    const collator = new Intl.Collator('zh-CN', { numeric: true });
    const render = (parent: string | null, depth: number): string =>
      (children.get(parent) ?? [])
        .sort((a, b) => collator.compare(a.name, b.name))
        .map((n) => {
          const online = n.devices - n.offline - n.alarms;
          const label = `${n.name}: ${t('online')} ${online}, ${t('offline')} ${n.offline}, ${t('alarm')} ${n.alarms}`;
          return `<li role="treeitem" aria-level="${depth + 1}" aria-label="${escapeHtml(label)}" tabindex="0" data-site="${escapeHtml(n.id)}" class="site-node level-${n.level} depth-${Math.min(depth, 3)}">
            <span class="site-name">${escapeHtml(n.name)}</span>
            <span class="site-counts" aria-hidden="true">
              <span class="c-on">${online}</span>${n.offline ? `<span class="c-off">${n.offline}</span>` : ''}${n.alarms ? `<span class="c-alarm">${n.alarms}</span>` : ''}
            </span></li>${render(n.id, depth + 1)}`;
        })
        .join('');
    const html = render(null, 0);
    if (html !== this.html) {
      this.html = html;
      this.root.innerHTML = html;
    }
  }
}
