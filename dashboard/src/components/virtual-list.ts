/**
 * A virtualized list: only the rows in view (plus a margin) exist in the DOM, however many items
 * there are; the rest is two spacers of the same height. Rows have one fixed height. A row that stays in
 * view keeps its element — data changes update it in place, so a click on it is never lost to a
 * rebuild.
 */
export interface RowRenderer<T> {
  rowHeight: number;
  key(item: T): string;
  /** What the row shows, as a string: the row is updated only when it changes. */
  signature(item: T): string;
  create(item: T): HTMLElement;
  update(el: HTMLElement, item: T): void;
}

const OVERSCAN = 20;

export class VirtualList<T> {
  private items: T[] = [];
  private rows = new Map<string, { el: HTMLElement; sig: string }>();
  private frame = 0;
  private readonly top = spacer();
  private readonly bottom = spacer();

  constructor(
    readonly root: HTMLElement,
    private readonly renderer: RowRenderer<T>,
  ) {
    root.addEventListener('scroll', () => this.schedule(), { passive: true });
  }

  get length(): number {
    return this.items.length;
  }

  setItems(items: T[]): void {
    this.items = items;
    this.render();
  }

  itemAt(index: number): T | undefined {
    return this.items[index];
  }

  indexOf(key: string): number {
    return this.items.findIndex((i) => this.renderer.key(i) === key);
  }

  /** The element of a rendered row (undefined when it is out of view). */
  element(key: string): HTMLElement | undefined {
    return this.rows.get(key)?.el;
  }

  /** Scrolls so that the item at `index` is in view, and renders at once. */
  reveal(index: number): void {
    const h = this.renderer.rowHeight;
    const top = index * h;
    if (top < this.root.scrollTop) this.root.scrollTop = top;
    else if (top + h > this.root.scrollTop + this.root.clientHeight)
      this.root.scrollTop = top + h - this.root.clientHeight;
    this.render();
  }

  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render(): void {
    const h = this.renderer.rowHeight;
    const n = this.items.length;
    // Never more than a window's height of rows, even while the list is not laid out yet.
    const view = Math.min(this.root.clientHeight || window.innerHeight, window.innerHeight);
    const start = Math.max(0, Math.floor(this.root.scrollTop / h) - OVERSCAN);
    const end = Math.min(n, Math.ceil((this.root.scrollTop + view) / h) + OVERSCAN);
    // Spacers inside the scroller stand for the rows not drawn (padding on the scroller itself
    // would add to its height instead of scrolling).
    this.top.style.height = `${start * h}px`;
    this.bottom.style.height = `${(n - end) * h}px`;
    const keep = new Map<string, { el: HTMLElement; sig: string }>();
    const wanted: HTMLElement[] = [this.top];
    for (let i = start; i < end; i++) {
      const item = this.items[i] as T;
      const key = this.renderer.key(item);
      const row = this.rows.get(key) ?? { el: this.renderer.create(item), sig: '' };
      const sig = this.renderer.signature(item);
      if (row.sig !== sig) {
        row.sig = sig;
        this.renderer.update(row.el, item);
      }
      keep.set(key, row);
      wanted.push(row.el);
    }
    wanted.push(this.bottom);
    this.rows = keep;
    // Moves only the nodes out of place (a row that stays put is not disturbed).
    let at = this.root.firstElementChild;
    for (const node of wanted) {
      if (node !== at) this.root.insertBefore(node, at);
      else at = at.nextElementSibling;
    }
    while (at) {
      const next = at.nextElementSibling;
      at.remove();
      at = next;
    }
  }
}

function spacer(): HTMLElement {
  const li = document.createElement('li');
  li.className = 'vl-spacer';
  li.setAttribute('aria-hidden', 'true');
  li.setAttribute('role', 'presentation');
  return li;
}
