// Facts of one parsed statement, as a text-free template the cache can share.
import type { Catalog } from './catalog.js';
import type { StatementClass, StatementFacts } from './types.js';
import { Collector } from './collector.js';
import { describe } from './command.js';
import { fingerprint } from './fingerprint.js';
import { Walker } from './walk.js';

/** Everything of StatementFacts but the text. */
export type FactsTemplate = Omit<StatementFacts, 'text'>;

/**
 * An estimate of the memory one statement's facts hold, for caches bounded by memory: every
 * string, array and object in them is counted (a statement naming 100,000 columns holds some
 * 10 MB of facts for 1 MB of text; a SET or an EXECUTE keeps its values in `extra`).
 */
export function factsWeight(f: object): number {
  // The same facts are weighed each time their statement name is set or replaced (an
  // unnamed statement, once per Parse): facts are not changed once built.
  let w = weights.get(f);
  if (w === undefined) weights.set(f, (w = weigh(f)));
  return w;
}

const weights = new WeakMap<object, number>();

function weigh(f: object): number {
  let w = 0;
  const stack: unknown[] = [f];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') w += 24 + v.length * 2;
    else if (Array.isArray(v)) {
      w += 16 + v.length * 8;
      for (const x of v)
        if (x !== null && typeof x === 'object') stack.push(x);
        else if (typeof x === 'string') stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      const vals = Object.values(v);
      w += 32 + vals.length * 16;
      for (const x of vals)
        if (typeof x === 'string' || (x !== null && typeof x === 'object')) stack.push(x);
    }
  }
  return w;
}

export interface TemplateResult {
  template: FactsTemplate;
  /** Some fact was read from a literal's value (nextval('seq')...): do not share by key. */
  literalSensitive: boolean;
}

/** Build the facts of `node`, whose source text is `text` (used for the fingerprint). */
export function buildTemplate(
  node: Record<string, any>,
  text: string,
  searchPath: readonly string[],
  database: string | undefined,
  catalog?: Catalog,
): TemplateResult {
  const fp = fingerprint(text);
  let sensitive = false;
  const build = (n: Record<string, any>, inner: boolean): FactsTemplate => {
    const out = new Collector(database);
    const w = new Walker(out, searchPath, catalog);
    const d = describe(n, w, out, (q) => ({ text, ...build(q, true) }), searchPath);
    let cls: StatementClass = d.class;
    const writes = out.relations.some((r) => r.access === 'write');
    if (cls === 'read' && (writes || out.nestedWrite || out.locking)) cls = 'write';
    if (out.selectInto && (cls === 'read' || cls === 'write')) cls = 'ddl';
    if (out.literalSensitive) sensitive = true;
    const t: FactsTemplate = {
      fingerprint: fp,
      command: d.command,
      class: cls,
      relations: out.relations,
      columns: out.columns,
      functions: out.functions,
      has_where: d.has_where,
      opaque: out.opaque,
      ...d.extra,
    };
    if (out.locking) t.locking = true;
    if (out.crossDatabase) t.cross_database = true;
    if (out.selectInto) t.select_into = true;
    if (out.settingsRead.size > 0) t.settings_read = [...out.settingsRead];
    if (out.settingsSet.size > 0) t.settings_set = [...out.settingsSet];
    if (out.nestedWrite) {
      t.writes_cte = true;
      t.nested_commands = [...out.nestedCommands];
    }
    if (inner && out.literalSensitive) t.literal_sensitive = true;
    if (out.callsByPath) (t as unknown as Record<symbol, boolean>)[CALLS_BY_PATH] = true;
    return t;
  };
  const template = build(node, false);
  (template as unknown as Record<symbol, string>)[FACTS_KEY] =
    'F' + (nextTemplateId++).toString(36);
  return { template: deepFreeze(template), literalSensitive: sensitive };
}

/**
 * Facts carry the identity of the template they came from under a symbol key (invisible
 * to JSON and to Object.keys; object spread copies it), so that a consumer can cache per
 * template: texts sharing a template differ only in literals that change no fact. Used by
 * the session's decision cache.
 */
export const FACTS_KEY = Symbol.for('portcullis.factsKey');

/**
 * Set (true) on facts that call a function outside pg_catalog by a name without its schema,
 * which PostgreSQL finds by search_path; a symbol key, like FACTS_KEY, so it is no input
 * to a policy (see session/path-moves.ts).
 */
export const CALLS_BY_PATH = Symbol.for('portcullis.callsByPath');
let nextTemplateId = 0;

/** Freeze a plain tree without recursion. */
export function deepFreeze<T>(root: T): T {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const o = stack.pop();
    if (!o || typeof o !== 'object' || Object.isFrozen(o)) continue;
    Object.freeze(o);
    for (const v of Object.values(o)) if (v && typeof v === 'object') stack.push(v);
  }
  return root;
}
