// Compiler: modules -> data tree of compiled rules; terms and bodies -> closures over frame slots.
import type { Expr, Module, Rule, Term, With } from './ast.js';
import { BUILTINS, BUILTINS_V0 } from './builtins/registry.js';
import { RegoError, type Loc } from './errors.js';
import { checkKinds, checkRecursion, hasRulesAt } from './checks.js';
import { orderBody, type SafetyEnv } from './safety.js';
import { Scope, patternVars, refSegs, termHasVar, termVars, type ModCtx } from './scope.js';
import {
  compositeTerm,
  constValue,
  firstVal,
  inputTerm,
  patch,
  scalarTerm,
  varTerm,
  walkTerm,
} from './terms.js';
import {
  Ctx,
  builtinFailed,
  callFunc,
  eachChild,
  newNode,
  nodeValue,
  unify,
  unifyTV,
  walkData,
  type CBody,
  type CRule,
  type CTerm,
  type DNode,
  type Frame,
  type K,
  type Mock,
  type VK,
} from './runtime.js';
import { RSet, equal, objGet, objPut, type Obj, type Value } from './value.js';

/** walk(x, [path, value]): a relation yielding every nested document, pre-order, keys in Rego order. */
function walkRelation(x: CTerm, out: CTerm, loc: Loc): CTerm {
  const visit = (v: Value, path: Value[], f: Frame, c: Ctx, k: VK): boolean => {
    if (unifyTV(out, [path.slice(), v], f, c, () => k(true))) return true;
    return eachChild(v, (key, child) => {
      path.push(key);
      const r = visit(child, path, f, c, k);
      path.pop();
      return r;
    });
  };
  return {
    kind: 'other',
    pvars: [],
    loc,
    ev: (f, c, k) => x.ev(f, c, (v) => visit(v, [], f, c, k)),
  };
}

export class Compiler {
  constructor(readonly v0 = false) {}
  readonly root = newNode([]);
  readonly pkgRules = new Map<string, Set<string>>();
  readonly inputPaths = new Set<string>();
  readonly tests: { name: string; node: DNode }[] = [];

  addModules(mods: Module[]): void {
    for (const m of mods) {
      const key = m.pkg.join('.');
      let names = this.pkgRules.get(key);
      if (!names) this.pkgRules.set(key, (names = new Set()));
      for (const r of m.rules) names.add((r.ref[0] as { name: string }).name);
    }
    const pending: (() => void)[] = [];
    for (const m of mods) {
      const mc = this.modCtx(m);
      for (const r of m.rules) pending.push(this.placeRule(r, mc));
    }
    checkKinds(this.root);
    for (const p of pending) p();
    checkRecursion(this.deps);
  }

  /** Node whose rules are being compiled, and the nodes each rule node refers to. */
  private current: DNode | undefined;
  private readonly deps = new Map<DNode, Set<DNode>>();

  private depend(target: DNode): void {
    if (!this.current) return;
    let s = this.deps.get(this.current);
    if (!s) this.deps.set(this.current, (s = new Set()));
    s.add(target);
  }

  modCtx(m: Module): ModCtx {
    const imports = new Map<string, string[]>();
    for (const im of m.imports) {
      if (im.path[0] === 'rego' || im.path[0] === 'future') continue;
      if (im.path[0] !== 'data' && im.path[0] !== 'input')
        throw new RegoError('rego_parse_error', 'invalid import path', m.file, im.line, im.col);
      imports.set(im.alias ?? im.path[im.path.length - 1], im.path);
    }
    return {
      file: m.file,
      pkg: ['data', ...m.pkg],
      imports,
      ruleNames: this.pkgRules.get(m.pkg.join('.')) ?? new Set(),
    };
  }

  private loc(mc: ModCtx, p: { line: number; col: number }): Loc {
    return { file: mc.file, line: p.line, col: p.col };
  }

  private node(path: string[]): DNode {
    let n = this.root;
    for (let i = 0; i < path.length; i++) {
      let ch = n.children.get(path[i]);
      if (!ch) n.children.set(path[i], (ch = newNode(path.slice(0, i + 1))));
      n = ch;
    }
    return n;
  }

  /** Puts a rule into the tree now; returns a thunk compiling it once all nodes exist. */
  private placeRule(r: Rule, mc: ModCtx): () => void {
    const loc = this.loc(mc, r);
    const stat: string[] = [...mc.pkg.slice(1)];
    let i = 0;
    for (; i < r.ref.length; i++) {
      const t = r.ref[i];
      if (t.t === 'var' && i === 0) stat.push(t.name);
      else if (t.t === 'scalar' && typeof t.v === 'string') stat.push(t.v);
      else break;
    }
    // the static prefix names the node; the rest (from the first non-string term) are keys
    const dyn = r.ref.slice(i);
    const n = this.node(stat);
    const name = stat[stat.length - 1];
    const cr: CRule = { loc, nslots: 0, clauses: [] };
    if (r.isDefault) {
      if (n.dflt)
        throw new RegoError(
          'rego_type_error',
          `multiple default rules data.${stat.join('.')} found`,
          loc.file,
          loc.line,
          loc.col,
        );
      n.dflt = cr;
      if (r.args) n.arity = r.args.length;
    } else if (r.args) {
      n.funcs.push(cr);
      if (n.arity !== undefined && n.arity !== r.args.length)
        throw new RegoError(
          'rego_type_error',
          `conflicting rules data.${stat.join('.')} found`,
          loc.file,
          loc.line,
          loc.col,
        );
      n.arity = r.args.length;
    } else if (r.contains && dyn.length === 0) n.sets.push(cr);
    else if (dyn.length > 0) n.grefs.push(cr);
    else n.complete.push(cr);
    if (r.args === undefined && r.ref.length === 1 && name.startsWith('test_') && !r.isDefault)
      this.tests.push({ name: 'data.' + stat.join('.'), node: n });
    return () => {
      this.current = n;
      this.compileRule(r, cr, mc, dyn);
      this.current = undefined;
    };
  }

  private compileRule(r: Rule, cr: CRule, mc: ModCtx, dyn: Term[]): void {
    const alloc = { n: 0 };
    const mk = (body: Expr[], value: Term | undefined, first: boolean) => {
      const sc = new Scope(null, alloc);
      if (r.args && first) {
        const argScope = sc;
        for (const a of r.args) this.declarePattern(a, argScope, mc);
      }
      this.precollect(body, sc, mc, [value, ...(first ? dyn : []), first ? r.contains : undefined]);
      const b = this.body(body, sc, mc, [
        value,
        ...(first ? dyn : []),
        first ? r.contains : undefined,
      ]);
      if (first && r.args) cr.args = r.args.map((a) => this.term(a, sc, mc));
      if (first && r.contains) cr.elem = this.term(r.contains, sc, mc);
      if (first && dyn.length > 0) cr.keys = dyn.map((d) => this.term(d, sc, mc));
      const v = value
        ? this.term(value, sc, mc)
        : this.term({ t: 'scalar', v: true, line: r.line, col: r.col }, sc, mc);
      return { body: b, value: v };
    };
    if (r.args) {
      // all clauses share the argument bindings; the else chain is evaluated per call
      const sc = new Scope(null, alloc);
      for (const a of r.args) this.declarePattern(a, sc, mc);
      cr.args = r.args.map((a) => this.term(a, sc, mc));
      const clauses = [
        { body: r.body, value: r.value },
        ...r.elses.map((e) => ({ body: e.body, value: e.value ?? r.value })),
      ];
      for (const cl of clauses) {
        const s2 = new Scope(sc, alloc);
        this.precollect(cl.body, s2, mc, [cl.value]);
        const b = this.body(cl.body, s2, mc, [cl.value]);
        const v = cl.value
          ? this.term(cl.value, s2, mc)
          : this.term({ t: 'scalar', v: true, line: r.line, col: r.col }, s2, mc);
        cr.clauses.push({ body: b, value: v });
      }
      cr.nslots = alloc.n;
      return;
    }
    cr.clauses.push(mk(r.body, r.value, true));
    if (r.body.length === 0 && r.elses.length === 0 && !r.contains && r.ref.length === 1) {
      const v = constValue(r.value);
      if (v !== undefined) cr.constValue = v;
    }
    // an else without a value has the value true
    for (const e of r.elses) cr.clauses.push(mk(e.body, e.value, false));
    cr.nslots = alloc.n;
  }

  private declarePattern(t: Term, sc: Scope, mc: ModCtx): void {
    const names = new Set<string>();
    patternVars(t, names);
    for (const n of names) if (sc.vars.get(n) === undefined) sc.declare(n);
    void mc;
  }

  /** Declares the vars a body binds (some, :=, unresolvable names) in its scope. */
  precollect(body: Expr[], sc: Scope, mc: ModCtx, extra: (Term | undefined)[] = []): void {
    const declared = new Set<string>();
    const used = new Set<string>();
    for (const e of body) {
      switch (e.k) {
        case 'some':
          for (const v of e.vars) declared.add(v);
          break;
        case 'somein':
          if (e.key) patternVars(e.key, declared);
          patternVars(e.val, declared);
          termVars(e.coll, used);
          for (const w of e.with) if (!this.isFnRef(w.value, mc)) termVars(w.value, used);
          break;
        case 'every':
          termVars(e.dom, used);
          break;
        case 'expr':
          if (e.term.t === 'call' && e.term.name === 'assign') {
            patternVars(e.term.args[0], declared);
            termVars(e.term.args[1], used);
          } else termVars(e.term, used);
          for (const w of e.with) if (!this.isFnRef(w.value, mc)) termVars(w.value, used);
          break;
      }
    }
    for (const t of extra) if (t) termVars(t, used);
    for (const n of declared) sc.declare(n);
    for (const e of body)
      if (e.k === 'expr' && e.term.t === 'call' && e.term.name === 'assign') {
        const s = new Set<string>();
        patternVars(e.term.args[0], s);
        for (const n of s) sc.hidden.add(n);
      }
    for (const n of used) {
      if (declared.has(n) || sc.lookup(n) !== undefined) continue;
      if (n === 'input' || n === 'data' || mc.imports.has(n) || mc.ruleNames.has(n)) continue;
      sc.declare(n);
    }
  }

  body(
    exprs: Expr[],
    sc: Scope,
    mc: ModCtx,
    heads: (Term | undefined)[] = [],
    preBound?: Set<string>,
  ): CBody {
    const locals = new Set(sc.vars.keys());
    if (preBound) for (const n of preBound) locals.delete(n);
    const env: SafetyEnv = {
      locals,
      loc: (p) => this.loc(mc, p),
      arity: (name) => this.arityOf(name, mc),
      isFn: (t) => this.isFnRef(t, mc),
    };
    const ordered = orderBody(
      exprs,
      env,
      heads.filter((h): h is Term => h !== undefined),
    );
    const steps = ordered.map((e) => this.literal(e, sc, mc));
    let next: CBody = (_f, _c, k) => k();
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i];
      const rest = next;
      next = i === steps.length - 1 ? step : (f, c, k) => step(f, c, () => rest(f, c, k));
    }
    return next;
  }

  private literal(e: Expr, sc: Scope, mc: ModCtx): CBody {
    const loc = this.loc(mc, e);
    let step: CBody;
    switch (e.k) {
      case 'some':
        return (_f, _c, k) => k();
      case 'somein': {
        const coll = this.term(e.coll, sc, mc);
        const val = this.term(e.val, sc, mc);
        const key = e.key ? this.term(e.key, sc, mc) : undefined;
        step = (f, c, k) =>
          coll.ev(f, c, (cv) =>
            eachChild(cv, (kv, el) =>
              unifyTV(val, el, f, c, key ? () => unifyTV(key, kv, f, c, k) : k),
            ),
          );
        break;
      }
      case 'every': {
        const dom = this.term(e.dom, sc, mc);
        const inner = new Scope(sc, sc.alloc);
        if (e.key) this.declarePattern(e.key, inner, mc);
        this.declarePattern(e.val, inner, mc);
        this.precollect(e.body, inner, mc);
        const key = e.key ? this.term(e.key, inner, mc) : undefined;
        const val = this.term(e.val, inner, mc);
        const pre = new Set<string>();
        for (const t of e.key ? [e.key, e.val] : [e.val])
          for (const [n] of inner.vars) if (termHasVar(t, n)) pre.add(n);
        const body = this.body(e.body, inner, mc, [], pre);
        const stop: K = () => true;
        step = (f, c, k) =>
          dom.ev(f, c, (d) => {
            if (typeof d !== 'object' || d === null) return false;
            const failed = eachChild(d, (kv, el) => {
              const ok = unifyTV(
                val,
                el,
                f,
                c,
                key ? () => unifyTV(key, kv, f, c, () => body(f, c, stop)) : () => body(f, c, stop),
              );
              return !ok;
            });
            return failed ? false : k();
          });
        break;
      }
      case 'expr': {
        const t = e.term;
        if (t.t === 'call' && (t.name === 'eq' || t.name === 'assign')) {
          if (t.name === 'assign') {
            const s = new Set<string>();
            patternVars(t.args[0], s);
            for (const n of s) sc.hidden.delete(n);
          }
          const a = this.term(t.args[0], sc, mc);
          const b = this.term(t.args[1], sc, mc);
          step = (f, c, k) => unify(a, b, f, c, k, loc);
        } else {
          const ct = this.term(t, sc, mc);
          const g = ct.get;
          step = g
            ? (f, c, k) => {
                const v = g(f, c);
                return v !== undefined && v !== false && k();
              }
            : (f, c, k) => ct.ev(f, c, (v) => v !== false && k());
        }
        if (e.neg) {
          const pos = step;
          const stop: K = () => true;
          step = (f, c, k) => (pos(f, c, stop) ? false : k());
        }
        break;
      }
    }
    if (e.with.length > 0) return this.withs(e.with, step, sc, mc, loc);
    return step;
  }

  private withs(ws: With[], step: CBody, sc: Scope, mc: ModCtx, loc: Loc): CBody {
    type W = { kind: 'input' | 'data' | 'fn'; path: string[]; value: CTerm; name: string };
    const list: W[] = ws.map((w) => {
      const val = this.isFnRef(w.value, mc)
        ? scalarTerm(null, this.loc(mc, w.value))
        : this.term(w.value, sc, mc);
      const segs = refSegs(w.target);
      if (!segs)
        throw new RegoError(
          'rego_compile_error',
          'with keyword target must reference existing input, data, or a function',
          loc.file,
          loc.line,
          loc.col,
        );
      let path = segs;
      const head = segs[0];
      if (head !== 'input' && head !== 'data') {
        const imp = mc.imports.get(head);
        if (imp) path = [...imp, ...segs.slice(1)];
        else if (mc.ruleNames.has(head)) path = [...mc.pkg, ...segs];
      }
      if (path[0] === 'input') return { kind: 'input', path: path.slice(1), value: val, name: '' };
      if (path[0] === 'data') {
        const n = this.findNode(path.slice(1));
        if (n && n.funcs.length > 0) return { kind: 'fn', path, value: val, name: path.join('.') };
        return { kind: 'data', path: path.slice(1), value: val, name: '' };
      }
      const name = segs.join('.');
      if (BUILTINS.has(name) || name === 'internal.member_2')
        return { kind: 'fn', path, value: val, name };
      throw new RegoError(
        'rego_compile_error',
        'with keyword target must reference existing input, data, or a function',
        loc.file,
        loc.line,
        loc.col,
      );
    });
    const mockOf = (w: W, f: Frame, c: Ctx): Mock | undefined => {
      const vt = w.value;
      const segs = refSegs(ws[list.indexOf(w)].value);
      if (segs) {
        const nm = segs.join('.');
        const full =
          segs[0] === 'data' ? segs : mc.ruleNames.has(segs[0]) ? [...mc.pkg, ...segs] : undefined;
        if (full) {
          const n = this.findNode(full.slice(1));
          if (n && n.funcs.length > 0) return { fn: n };
        }
        if (BUILTINS.has(nm) && segs.length >= 1 && !sc.lookup(segs[0])) return { builtin: nm };
      }
      const v = vt.get ? vt.get(f, c) : firstVal(vt, f, c);
      return v === undefined ? undefined : { value: v };
    };
    return (f, c, k) => {
      const c2 = c.child();
      for (const w of list) {
        if (w.kind === 'fn') {
          const m = mockOf(w, f, c);
          if (!m) return false;
          c2.mocks = new Map(c2.mocks ?? []);
          c2.mocks.set(w.name, m);
          continue;
        }
        const v = w.value.get ? w.value.get(f, c) : firstVal(w.value, f, c);
        if (v === undefined) return false;
        if (w.kind === 'input') c2.input = patch(c2.input, w.path, v);
        else {
          c2.data = patch(c2.data, w.path, v) as Value;
          const n = this.findNode(w.path);
          if (n) {
            c2.overrides = new Map(c2.overrides ?? []);
            c2.overrides.set(n, v);
            // an override replaces rule values below too
            if (w.path.length > 0) {
              const parentPath = w.path.slice(0, -1);
              const parent = this.findNode(parentPath);
              if (parent) this.dropOverridesBelow(c2, n);
              c2.overrides.set(n, v);
            }
          } else {
            // base data below a rule-free namespace: also shadow any ancestor rule node
            for (let i = w.path.length - 1; i >= 0; i--) {
              const an = this.findNode(w.path.slice(0, i));
              if (an && (an.complete.length || an.grefs.length || an.sets.length)) {
                const cur = nodeValue(an, c);
                c2.overrides = new Map(c2.overrides ?? []);
                c2.overrides.set(an, patch(cur, w.path.slice(i), v) as Value);
                break;
              }
            }
          }
        }
      }
      return step(f, c2, k);
    };
  }

  private dropOverridesBelow(c: Ctx, n: DNode): void {
    if (!c.overrides) return;
    for (const ch of n.children.values()) {
      c.overrides.delete(ch);
      this.dropOverridesBelow(c, ch);
    }
  }

  /** Whether a `with` value names a function or builtin (a replacement, not a value). */
  private isFnRef(t: Term, mc: ModCtx): boolean {
    const segs = refSegs(t);
    if (!segs) return false;
    const name = segs.join('.');
    if (segs.length === 1 && (mc.imports.has(name) || name === 'input' || name === 'data'))
      return false;
    if (BUILTINS.has(name)) return true;
    return this.arityOf(name, mc) !== undefined;
  }

  private arityOf(name: string, mc: ModCtx): number | undefined {
    if (name === 'walk') return 1;
    const segs = name.split('.');
    let full: string[] | undefined;
    if (segs[0] === 'data') full = segs;
    else if (mc.imports.has(segs[0]))
      full = [...(mc.imports.get(segs[0]) as string[]), ...segs.slice(1)];
    else if (mc.ruleNames.has(segs[0])) full = [...mc.pkg, ...segs];
    if (full) return this.findNode(full.slice(1))?.arity;
    const b = BUILTINS.get(name) ?? (this.v0 ? BUILTINS_V0.get(name) : undefined);
    return b && b.arity >= 0 ? b.arity : undefined;
  }

  findNode(path: string[]): DNode | undefined {
    let n: DNode | undefined = this.root;
    for (const p of path) {
      n = n.children.get(p);
      if (!n) return undefined;
    }
    return n;
  }

  term(t: Term, sc: Scope, mc: ModCtx): CTerm {
    const loc = this.loc(mc, t);
    switch (t.t) {
      case 'scalar':
        return scalarTerm(t.v, loc);
      case 'var': {
        if (t.name === '_') return varTerm(sc.declare('_'), loc);
        const slot = sc.lookup(t.name);
        if (slot !== undefined) return varTerm(slot, loc);
        return this.globalRef(t.name, [], sc, mc, loc);
      }
      case 'ref': {
        const path = t.path.map((p) => this.term(p, sc, mc));
        if (t.head.t === 'var') {
          const slot = sc.lookup(t.head.name);
          if (slot !== undefined) return walkTerm(varTerm(slot, loc), path, loc);
          return this.globalRef(t.head.name, path, sc, mc, loc);
        }
        return walkTerm(this.term(t.head, sc, mc), path, loc);
      }
      case 'array': {
        const items = t.items.map((x) => this.term(x, sc, mc));
        return compositeTerm('array', items, loc, (vs) => vs);
      }
      case 'set': {
        const items = t.items.map((x) => this.term(x, sc, mc));
        const ct = compositeTerm('other', items, loc, (vs) => new RSet(vs));
        ct.pvars = [];
        return ct;
      }
      case 'object': {
        const entries = t.items.map(
          ([k, v]) => [this.term(k, sc, mc), this.term(v, sc, mc)] as [CTerm, CTerm],
        );
        const flat = entries.flat();
        const ct = compositeTerm('object', flat, loc, (vs) => {
          let o: Obj = {};
          for (let i = 0; i < vs.length; i += 2) o = objPut(o, vs[i], vs[i + 1]);
          return o;
        });
        ct.entries = entries;
        ct.pvars = entries.flatMap((e) => e[1].pvars);
        return ct;
      }
      case 'arraycomp':
      case 'setcomp':
      case 'objcomp': {
        const inner = new Scope(sc, sc.alloc);
        const heads = t.t === 'objcomp' ? [t.key, t.value] : [t.term];
        this.precollect(t.body, inner, mc, heads);
        const body = this.body(t.body, inner, mc, heads);
        const hs = heads.map((h) => this.term(h, inner, mc));
        let get: (f: Frame, c: Ctx) => Value;
        if (t.t === 'arraycomp') {
          const h = hs[0];
          get = (f, c) => {
            const out: Value[] = [];
            body(f, c, () => h.ev(f, c, (v) => (out.push(v), false)));
            return out;
          };
        } else if (t.t === 'setcomp') {
          const h = hs[0];
          get = (f, c) => {
            const out = new RSet();
            body(f, c, () => h.ev(f, c, (v) => (out.add(v), false)));
            return out;
          };
        } else {
          const [hk, hv] = hs;
          get = (f, c) => {
            let out: Obj = {};
            body(f, c, () =>
              hk.ev(f, c, (kv) =>
                hv.ev(f, c, (vv) => {
                  const cur = objGet(out, kv);
                  if (cur !== undefined && !equal(cur, vv))
                    throw new RegoError(
                      'eval_conflict_error',
                      'object keys must be unique',
                      loc.file,
                      loc.line,
                      loc.col,
                    );
                  out = objPut(out, kv, vv);
                  return false;
                }),
              ),
            );
            return out;
          };
        }
        return { kind: 'other', pvars: [], loc, get, ev: (f, c, k) => k(get(f, c)) };
      }
      case 'call':
        return this.call(t, sc, mc, loc);
    }
  }

  private globalRef(name: string, path: CTerm[], sc: Scope, mc: ModCtx, loc: Loc): CTerm {
    let segs: string[];
    if (name === 'input' || name === 'data') segs = [name];
    else if (mc.imports.has(name)) segs = mc.imports.get(name) as string[];
    else if (mc.ruleNames.has(name)) segs = [...mc.pkg, name];
    else {
      // unresolvable: a fresh local (unsafe unless bound later)
      return walkTerm(varTerm(sc.declare(name), loc), path, loc);
    }
    const all = [...segs.slice(1).map((s) => scalarTerm(s, loc)), ...path];
    if (segs[0] === 'input') {
      this.recordInput(all);
      return inputTerm(all, loc);
    }
    // static descent into the data tree
    let n = this.root;
    let i = 0;
    while (i < all.length && all[i].kind === 'scalar' && typeof all[i].value === 'string') {
      const ch = n.children.get(all[i].value as string);
      if (!ch || n.complete.length || n.grefs.length || n.sets.length || n.dflt) break;
      n = ch;
      i++;
    }
    const rest = all.slice(i);
    // a constant key that is not a child leads into base data only: no rule dependency
    const intoBase =
      i < all.length &&
      all[i].kind === 'scalar' &&
      !hasRulesAt(n) &&
      !n.children.has(all[i].value as string);
    if (!intoBase) this.depend(n);
    const node = n;
    const ev = (f: Frame, c: Ctx, k: VK) => walkData(node, rest, 0, f, c, k);
    const ct: CTerm = { kind: 'other', pvars: [], loc, ev };
    if (rest.length === 0) ct.get = (_f, c) => nodeValue(node, c);
    else if (rest.every((r) => r.kind === 'scalar'))
      ct.get = (f, c) => {
        let out: Value | undefined;
        walkData(node, rest, 0, f, c, (v) => ((out = v), true));
        return out;
      };
    return ct;
  }

  /** Module compilation records input paths; queries compiled later do not. */
  recordInputs = true;

  private recordInput(path: CTerm[]): void {
    if (!this.recordInputs) return;
    let s = 'input';
    for (const p of path) {
      if (p.kind === 'scalar' && typeof p.value === 'string') s += '.' + p.value;
      else break;
    }
    this.inputPaths.add(s);
  }

  private call(t: Term & { t: 'call' }, sc: Scope, mc: ModCtx, loc: Loc): CTerm {
    if (t.name === 'eq' || t.name === 'assign')
      throw new RegoError(
        'rego_parse_error',
        'unexpected assignment in term',
        loc.file,
        loc.line,
        loc.col,
      );
    const args = t.args.map((a) => this.term(a, sc, mc));
    if (t.name === 'walk' && args.length === 2) return walkRelation(args[0], args[1], loc);
    if (t.name === 'print' && !mc.ruleNames.has('print') && !mc.imports.has('print')) {
      // OPA evaluates each operand inside a comprehension: an undefined one prints as
      // <undefined> and print itself is always true, so a debugging print never stops the
      // rule it is in (a deny that prints a missing field still fires). Nothing is printed.
      const ev = (f: Frame, c: Ctx, k: VK): boolean => {
        for (const a of args) a.ev(f, c, () => false);
        return k(true);
      };
      return { kind: 'other', pvars: [], loc, ev };
    }
    const segs = t.name.split('.');
    let fnNode: DNode | undefined;
    let full: string[] | undefined;
    if (segs[0] === 'data') full = segs;
    else if (mc.imports.has(segs[0]))
      full = [...(mc.imports.get(segs[0]) as string[]), ...segs.slice(1)];
    else if (mc.ruleNames.has(segs[0])) full = [...mc.pkg, ...segs];
    if (full && full[0] === 'data') {
      fnNode = this.findNode(full.slice(1));
      if (!fnNode || fnNode.funcs.length === 0) {
        if (!fnNode || !fnNode.dflt)
          throw new RegoError(
            'rego_type_error',
            `undefined function ${t.name}`,
            loc.file,
            loc.line,
            loc.col,
          );
      }
    }
    const name = full ? full.join('.') : t.name;
    if (fnNode) this.depend(fnNode);
    let arity: number;
    let impl: (vs: Value[], c: Ctx) => Value | undefined;
    if (fnNode) {
      const n = fnNode;
      arity = n.arity ?? args.length;
      impl = (vs, c) => callFunc(n, vs, c);
    } else {
      const b = BUILTINS.get(t.name) ?? (this.v0 ? BUILTINS_V0.get(t.name) : undefined);
      if (!b)
        throw new RegoError(
          'rego_type_error',
          `undefined function ${t.name}`,
          loc.file,
          loc.line,
          loc.col,
        );
      arity = b.arity;
      const fn = b.fn;
      const bname = t.name;
      impl = (vs, c) => {
        try {
          return fn(vs, c);
        } catch (e) {
          builtinFailed(e, c, bname, loc);
          return undefined;
        }
      };
    }
    if (arity >= 0 && args.length !== arity && args.length !== arity + 1)
      throw new RegoError(
        'rego_type_error',
        `${t.name}: arity mismatch`,
        loc.file,
        loc.line,
        loc.col,
      );
    const invoke = (vs: Value[], c: Ctx): Value | undefined => {
      if (c.mocks !== null) {
        const m = c.mocks.get(name);
        if (m) return this.runMock(m, vs, c, loc);
      }
      return impl(vs, c);
    };
    const nIn = arity >= 0 ? arity : args.length;
    const inArgs = args.slice(0, nIn);
    const outArg = args.length > nIn ? args[nIn] : undefined;
    const allGet = inArgs.every((a) => a.get);
    let get: ((f: Frame, c: Ctx) => Value | undefined) | undefined;
    if (allGet && !outArg) {
      const gs = inArgs.map((a) => a.get as (f: Frame, c: Ctx) => Value | undefined);
      if (gs.length === 2) {
        const [g0, g1] = gs;
        get = (f, c) => {
          const a = g0(f, c);
          if (a === undefined) return undefined;
          const b = g1(f, c);
          if (b === undefined) return undefined;
          return invoke([a, b], c);
        };
      } else
        get = (f, c) => {
          const vs: Value[] = new Array(gs.length);
          for (let i = 0; i < gs.length; i++) {
            const v = gs[i](f, c);
            if (v === undefined) return undefined;
            vs[i] = v;
          }
          return invoke(vs, c);
        };
    }
    const evArgs = (
      f: Frame,
      c: Ctx,
      i: number,
      vs: Value[],
      k: (vs: Value[]) => boolean,
    ): boolean => {
      if (i === inArgs.length) return k(vs);
      return inArgs[i].ev(f, c, (v) => {
        vs[i] = v;
        return evArgs(f, c, i + 1, vs, k);
      });
    };
    let ev: (f: Frame, c: Ctx, k: VK) => boolean;
    if (outArg) {
      ev = (f, c, k) =>
        evArgs(f, c, 0, new Array(inArgs.length), (vs) => {
          const r = invoke(vs.slice(), c);
          return r !== undefined && unifyTV(outArg, r, f, c, () => k(true));
        });
    } else if (get) {
      const g = get;
      ev = (f, c, k) => {
        const v = g(f, c);
        return v !== undefined && k(v);
      };
    } else
      ev = (f, c, k) =>
        evArgs(f, c, 0, new Array(inArgs.length), (vs) => {
          const r = invoke(vs.slice(), c);
          return r !== undefined && k(r);
        });
    return { kind: 'other', pvars: [], loc, ev, get };
  }

  private runMock(m: Mock, vs: Value[], c: Ctx, loc: Loc): Value | undefined {
    if ('value' in m) return m.value;
    // a replacement function runs without any mocks (it may call the original)
    const plain = c.mocks === null ? c : c.child();
    plain.mocks = null;
    if ('fn' in m) return callFunc(m.fn, vs, plain);
    const b = BUILTINS.get(m.builtin);
    if (!b) return undefined;
    try {
      return b.fn(vs, plain);
    } catch (e) {
      builtinFailed(e, c, m.builtin, loc);
      return undefined;
    }
  }

  /** Compiles a query body; returns the body, its scope slots for named vars and frame size. */
  query(exprs: Expr[], mc: ModCtx): { body: CBody; vars: [string, number][]; nslots: number } {
    const alloc = { n: 0 };
    const sc = new Scope(null, alloc);
    this.precollect(exprs, sc, mc);
    const body = this.body(exprs, sc, mc);
    const vars = [...sc.vars.entries()].filter(([n]) => !n.startsWith('__') && n !== '_');
    return { body, vars, nslots: alloc.n };
  }

  rootModCtx(): ModCtx {
    return { file: 'query', pkg: ['data'], imports: new Map(), ruleNames: new Set() };
  }
}
