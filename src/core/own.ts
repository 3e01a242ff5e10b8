/**
 * Own-key helpers. Names that reach a lookup from outside (a connection in a request, a
 * secret name, a label) must never resolve to a member inherited from `Object.prototype`
 * (`constructor`, `toString`, `__proto__` …). Lookups use `Map` or `Object.hasOwn`; config
 * and label names that collide with those members are refused where they enter.
 */
const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** True for `constructor`, `__proto__`, `toString`, `hasOwnProperty` and the other members of Object.prototype. */
export const isPrototypeName = (name: string): boolean => PROTOTYPE_NAMES.has(name);

/** Every Object.prototype member name (tests drive each one through every entry point). */
export const prototypeNames = (): string[] => [...PROTOTYPE_NAMES];

/** The value of an own property, never an inherited one. */
export function ownValue<V>(record: Readonly<Record<string, V>> | undefined, key: string): V | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * Paths (`a.b[0].c`) of every `__proto__` key in parsed JSON/YAML. Such a key can never be a
 * legitimate name here, and zod drops it silently; callers refuse the whole document instead.
 */
export function protoKeyPaths(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const out: string[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => out.push(...protoKeyPaths(v, `${path}[${i}]`)));
    return out;
  }
  for (const key of Object.keys(value)) {
    const here = path === '' ? key : `${path}.${key}`;
    if (key === '__proto__') out.push(here);
    else out.push(...protoKeyPaths((value as Record<string, unknown>)[key], here));
  }
  return out;
}

/** Deepest nesting a request body may have: far beyond any real payload, far below the stack. */
export const MAX_JSON_DEPTH = 64;

/** True when `value` nests deeper than `max` (objects and arrays), checked without recursion. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}
