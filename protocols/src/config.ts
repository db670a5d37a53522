/**
 * Config-file helpers shared by the hub and the edge agent: read a JSON file, apply environment
 * overrides, fill defaults, and validate against a schema that rejects unknown keys. Every error is
 * collected so the operator sees them all at once.
 */
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads a JSON config file; a missing path means "defaults only". */
export function readConfigFile(path: string | undefined): unknown {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read file: ${(err as Error).message}`]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
}

/** Sets `value` at a dotted path, creating objects on the way (for environment overrides). */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1) as string] = value;
}

/**
 * Fills defaults into `raw` and validates it. Returns the typed config or throws a ConfigError that
 * lists every problem, each with its JSON path.
 */
export function validateConfig<T extends TSchema>(schema: T, raw: unknown, source: string) {
  const withDefaults = Value.Default(schema, structuredClone(raw));
  const check = TypeCompiler.Compile(schema);
  if (check.Check(withDefaults)) return withDefaults as import('@sinclair/typebox').Static<T>;
  const problems = [...check.Errors(withDefaults)].map((e) => `${e.path || '/'}: ${e.message}`);
  throw new ConfigError(source, [...new Set(problems)]);
}

/**
 * Lists every key of a config schema with its default and description, for docs and `--help`.
 * With `listItems`, the keys of a list's objects follow the list as `key[].name` (a device's
 * register map); without, a list is one row.
 */
export function describeConfig(
  schema: TSchema,
  prefix = '',
  options: { listItems?: boolean } = {},
): Array<{ key: string; default: unknown; description: string }> {
  const rows: Array<{ key: string; default: unknown; description: string }> = [];
  const props = (schema as { properties?: Record<string, TSchema> }).properties;
  if (!props) return rows;
  for (const [name, child] of Object.entries(props)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const nested = (child as { properties?: unknown }).properties;
    const def = (child as { default?: unknown }).default;
    // A section (no default, or `{}`) is listed key by key; an object value with a real default is one row.
    const isSection =
      def === undefined || (typeof def === 'object' && def !== null && Object.keys(def).length === 0);
    if (nested && (child as { type?: string }).type === 'object' && isSection)
      rows.push(...describeConfig(child, key, options));
    else
      rows.push({
        key,
        default: (child as { default?: unknown }).default,
        description: (child as { description?: string }).description ?? '',
      });
    const items = (child as { type?: string; items?: TSchema }).items;
    if (options.listItems && (child as { type?: string }).type === 'array' && items && 'properties' in items)
      rows.push(...describeConfig(items, `${key}[]`, options));
  }
  return rows;
}
