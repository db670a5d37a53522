/**
 * The hub's layers, read from its own imports: services and stores sit below plugins and routes
 * (plugins wire services into Fastify; routes call them), so a service or store that imports a
 * plugin or a route turns the layering upside down — and, sooner or later, into an import circle
 * (services/incidents → plugins/auth → services/sessions → services/event-bus → services/incidents
 * was one). And no import circle at all in hub/src, type-only imports included: a circle of types
 * still ties every module in it to every other, and the next value import makes it a load-order bug.
 *
 * The imports are read with TypeScript's own pre-processor (`ts.preProcessFile`: static, dynamic and
 * type imports, re-exports), not a regular expression.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(fileURLToPath(new URL('../src', import.meta.url)));

/** Every source file under `dir` (absolute paths). */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|mjs)$/.test(e.name) ? [path] : [];
  });
}

/** The import graph of `root`: file (relative to root) → the files of `root` it imports. */
function importGraph(root: string): Map<string, string[]> {
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => resolve(dirname(file), name))
      .filter((path) => known.has(path))
      .map((path) => relative(root, path));
    graph.set(relative(root, file), [...new Set(targets)]);
  }
  return graph;
}

/**
 * The import circles of a graph: one per strongly connected component of more than one file (or a
 * file importing itself), each given as one concrete path `a → b → … → a` through it (Tarjan's
 * algorithm finds the components; a breadth-first search inside one finds the shortest way back).
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);

  return components.map((component) => {
    const inside = new Set(component);
    const start = [...component].sort()[0] as string;
    // Shortest path from start back to start, staying inside the component.
    const from = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift() as string;
      for (const w of graph.get(v) ?? []) {
        if (!inside.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let at: string | undefined = v; at !== undefined && at !== start; at = from.get(at))
            path.splice(1, 0, at);
          return [...path, start];
        }
        if (!from.has(w)) {
          from.set(w, v);
          queue.push(w);
        }
      }
    }
    return [start, start];
  });
}

describe('the hub’s layers (its import graph)', () => {
  const graph = importGraph(SRC);

  it('reads the graph it checks', () => {
    // A parser that read nothing would pass every rule below.
    expect(graph.get('app.ts')).toContain('plugins/auth.ts');
    expect(graph.get('services/commands.ts')).toContain('services/event-bus.ts');
    expect(graph.size).toBeGreaterThan(50);
  });

  it('no service or store imports a plugin or a route', () => {
    const upward = [...graph]
      .filter(([file]) => /^(services|stores)\//.test(file))
      .flatMap(([file, targets]) =>
        targets.filter((t) => /^(plugins|routes)\//.test(t)).map((t) => `${file} → ${t}`),
      );
    expect(upward).toEqual([]);
  });

  it('has no import circle', () => {
    expect(findCycles(graph).map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('the circle finder finds circles (and only those)', () => {
    const g = new Map<string, string[]>([
      ['a', ['b']],
      ['b', ['c', 'd']],
      ['c', ['a']],
      ['d', []],
      ['e', ['e']],
      ['f', ['a']],
    ]);
    expect(findCycles(g)).toEqual([
      ['a', 'b', 'c', 'a'],
      ['e', 'e'],
    ]);
  });
});
