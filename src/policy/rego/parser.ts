// Parser: tokens -> Module / query body / single term (Rego v1 syntax).
import type { Expr, Import, Module, Pos, Rule, Term, With, ElseClause } from './ast.js';
import { RegoError } from './errors.js';
import { lex, type Token } from './lexer.js';
import { normBig } from './value.js';

const INFIX_REL: Record<string, string> = {
  '==': 'equal',
  '!=': 'neq',
  '<': 'lt',
  '<=': 'lte',
  '>': 'gt',
  '>=': 'gte',
};
const KEYWORDS = new Set([
  'not',
  'with',
  'as',
  'some',
  'every',
  'in',
  'if',
  'contains',
  'else',
  'default',
  'import',
  'package',
]);

class Parser {
  private i = 0;
  private nest = 0;
  /** While parsing the head of a possible comprehension, `|` is not set union. */
  private noOr = false;
  /** Inside parentheses (or at statement level) `k, v in c` is allowed. */
  private allowKV = false;
  constructor(
    private readonly toks: Token[],
    private readonly file: string,
    /** Rego v0: bodies need no `if`, and `p[x] { ... }` is a partial set. */
    private readonly v0 = false,
  ) {}

  private get tok(): Token {
    return this.toks[this.i];
  }
  private kind(): string {
    return this.toks[this.i].kind;
  }
  private peek(o = 1): Token {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)];
  }
  private fail(msg: string, t: Token = this.tok): never {
    throw new RegoError('rego_parse_error', msg, this.file, t.line, t.col);
  }
  private is(text: string): boolean {
    const t = this.tok;
    if (t.kind === 'eof') return text === '<eof>';
    return (t.kind === 'op' || t.kind === 'ident') && t.text === text;
  }
  private expect(text: string): Token {
    if (!this.is(text)) this.fail(`unexpected ${this.desc()} token: expected ${text}`);
    return this.toks[this.i++];
  }
  private desc(): string {
    const t = this.tok;
    return t.kind === 'eof' ? 'eof' : t.kind === 'ident' ? `ident ${t.text}` : t.text;
  }
  private pos(t: Token = this.tok): Pos {
    return { line: t.line, col: t.col };
  }
  /** True if the current token ends an expression at nesting level 0 (a newline). */
  private atBreak(): boolean {
    return this.tok.nl && this.nest === 0;
  }

  module(): Module {
    const rules: Rule[] = [];
    const imports: Import[] = [];
    if (!this.is('package')) this.fail('unexpected token: expected package');
    this.i++;
    const pkg = this.refPath(false);
    while (this.is('import')) {
      const p = this.pos();
      this.i++;
      const path = this.refPath(true);
      let alias: string | undefined;
      if (this.is('as') && !this.tok.nl) {
        this.i++;
        if (this.tok.kind !== 'ident') this.fail('unexpected token: expected alias');
        alias = this.toks[this.i++].text;
      }
      imports.push({ ...p, path, alias });
    }
    while (this.tok.kind !== 'eof') {
      if (this.is('import') || this.is('package')) this.fail(`unexpected ${this.tok.text} keyword`);
      rules.push(this.rule());
    }
    return { file: this.file, pkg, imports, rules };
  }

  private refPath(allowStar: boolean): string[] {
    const out: string[] = [];
    if (this.tok.kind !== 'ident') this.fail(`unexpected ${this.desc()} token: expected ident`);
    out.push(this.toks[this.i++].text);
    while (!this.tok.nl && (this.is('.') || this.is('['))) {
      if (this.is('.')) {
        this.i++;
        if (this.tok.kind === 'ident') out.push(this.toks[this.i++].text);
        else if (allowStar && this.is('*')) {
          this.i++;
          out.push('*');
        } else this.fail('unexpected token: expected ident');
      } else {
        this.i++;
        if (this.kind() !== 'str') this.fail('unexpected token: expected string');
        out.push(this.toks[this.i++].value as string);
        this.expect(']');
      }
    }
    return out;
  }

  private rule(): Rule {
    const p = this.pos();
    let isDefault = false;
    if (this.is('default')) {
      isDefault = true;
      this.i++;
    }
    if (this.tok.kind !== 'ident' || KEYWORDS.has(this.tok.text))
      this.fail(`unexpected ${this.desc()} token`);
    const ref: Term[] = [{ t: 'var', name: this.tok.text, ...this.pos() }];
    this.i++;
    while (!this.tok.ws && (this.is('.') || this.is('['))) {
      if (this.is('.')) {
        this.i++;
        if (this.tok.kind !== 'ident') this.fail('unexpected token: expected ident');
        ref.push({ t: 'scalar', v: this.tok.text, ...this.pos() });
        this.i++;
      } else {
        this.i++;
        this.nest++;
        ref.push(this.exprTerm());
        this.nest--;
        this.expect(']');
      }
    }
    const rule: Rule = { ...p, isDefault, ref, body: [], elses: [] };
    if (this.is('(') && !this.tok.ws) {
      this.i++;
      this.nest++;
      rule.args = [];
      while (!this.is(')')) {
        rule.args.push(this.exprTerm());
        if (!this.is(',')) break;
        this.i++;
      }
      this.nest--;
      this.expect(')');
    }
    if (this.is('contains') && !this.tok.nl) {
      this.i++;
      rule.contains = this.exprTerm();
    } else if ((this.is(':=') || this.is('=')) && !this.tok.nl) {
      this.i++;
      rule.value = this.exprTerm();
    }
    if (isDefault) {
      if (!rule.value) this.fail('default rules must have a value');
      return rule;
    }
    if (this.is('if') && !this.tok.nl) {
      this.i++;
      rule.body = this.ruleBody();
    } else if (this.is('{') && !this.tok.nl) {
      if (!this.v0) this.fail('`if` keyword is required before rule body');
      rule.body = this.ruleBody();
    } else {
      if (!this.tok.nl && this.kind() !== 'eof') this.fail(`unexpected ${this.desc()} token`);
      rule.body = [];
    }
    if (
      this.v0 &&
      !rule.value &&
      !rule.contains &&
      !rule.args &&
      ref.length > 1 &&
      ref[ref.length - 1].t !== 'scalar'
    ) {
      // v0 `p[x] { ... }` is a partial set rule
      rule.contains = ref.pop();
    }
    while (this.is('else')) {
      const ep = this.pos();
      this.i++;
      const ec: ElseClause = { ...ep, body: [] };
      if ((this.is(':=') || this.is('=')) && !this.tok.nl) {
        this.i++;
        ec.value = this.exprTerm();
      }
      if (this.is('if') && !this.tok.nl) {
        this.i++;
        ec.body = this.ruleBody();
      } else if (this.is('{') && !this.tok.nl) {
        if (!this.v0) this.fail('`if` keyword is required before rule body');
        ec.body = this.ruleBody();
      }
      rule.elses.push(ec);
    }
    return rule;
  }

  private ruleBody(): Expr[] {
    if (this.is('{')) {
      const start = this.i;
      const nest = this.nest;
      try {
        this.i++;
        const b = this.body('}');
        this.expect('}');
        return b;
      } catch (e) {
        // `if {x: y | ...}`: a single literal that starts with an object/set term
        this.i = start;
        this.nest = nest;
        try {
          return this.singleLiteral();
        } catch {
          throw e;
        }
      }
    }
    return this.singleLiteral();
  }

  private singleLiteral(): Expr[] {
    const save = this.nest;
    this.nest = 0;
    const e = this.literal();
    this.nest = save;
    return [e];
  }

  /** Literals separated by `;` or newlines, until `end` (not consumed). */
  body(end: string): Expr[] {
    const save = this.nest;
    this.nest = 0;
    const out: Expr[] = [];
    while (!this.is(end)) {
      if (this.tok.kind === 'eof') this.fail(`unexpected eof token: expected ${end}`);
      out.push(this.literal());
      if (this.is(';')) {
        this.i++;
        continue;
      }
      if (this.is(end)) break;
      if (!this.tok.nl) this.fail(`unexpected ${this.desc()} token`);
    }
    this.nest = save;
    if (out.length === 0) this.fail('found empty body');
    return out;
  }

  literal(): Expr {
    const p = this.pos();
    if (this.is('some')) {
      this.i++;
      const first = this.relation();
      let second: Term | undefined;
      if (this.is(',')) {
        const save = this.i;
        this.i++;
        second = this.relation();
        if (!this.is('in')) {
          // `some x, y` declaration list
          this.i = save;
          second = undefined;
        }
      }
      if (this.is('in')) {
        this.i++;
        const coll = this.relation();
        const w = this.withs();
        return second
          ? { ...p, k: 'somein', key: first, val: second, coll, with: w }
          : { ...p, k: 'somein', val: first, coll, with: w };
      }
      const vars: string[] = [];
      let t: Term = first;
      while (true) {
        if (t.t !== 'var') this.fail('unexpected term: expected var', this.toks[this.i - 1]);
        vars.push(t.name);
        if (!this.is(',')) break;
        this.i++;
        t = this.relation();
      }
      return { ...p, k: 'some', vars };
    }
    if (this.is('every')) {
      this.i++;
      const first = this.relation();
      let key: Term | undefined;
      let val = first;
      if (this.is(',')) {
        this.i++;
        key = first;
        val = this.relation();
      }
      this.expect('in');
      const dom = this.relation();
      this.expect('{');
      const body = this.body('}');
      this.expect('}');
      return { ...p, k: 'every', key, val, dom, body, with: this.withs() };
    }
    let neg = false;
    if (this.is('not')) {
      neg = true;
      this.i++;
    }
    const term = this.exprTerm(true);
    return { ...p, k: 'expr', neg, term, with: this.withs() };
  }

  private withs(): With[] {
    const w: With[] = [];
    while (this.is('with') && !this.atBreak()) {
      this.i++;
      const target = this.term();
      this.expect('as');
      const value = this.relation();
      w.push({ target, value });
    }
    return w;
  }

  /** Full expression incl. `=`/`:=` (when allowed) and `in`. */
  exprTerm(allowAssign = false): Term {
    const lhs = this.inExpr();
    if (allowAssign && (this.is('=') || this.is(':=')) && !this.atBreak()) {
      const op = this.toks[this.i++];
      const rhs = this.inExpr();
      return {
        t: 'call',
        name: op.text === '=' ? 'eq' : 'assign',
        args: [lhs, rhs],
        line: lhs.line,
        col: lhs.col,
      };
    }
    return lhs;
  }

  private inExpr(): Term {
    let lhs = this.relation();
    if (this.is(',') && (this.nest === 0 || this.allowKV) && this.peekIn()) {
      this.i++;
      const v = this.relation();
      this.expect('in');
      const coll = this.relation();
      lhs = {
        t: 'call',
        name: 'internal.member_3',
        args: [lhs, v, coll],
        line: lhs.line,
        col: lhs.col,
      };
    }
    while (this.is('in') && !this.atBreak()) {
      this.i++;
      const rhs = this.relation();
      lhs = {
        t: 'call',
        name: 'internal.member_2',
        args: [lhs, rhs],
        line: lhs.line,
        col: lhs.col,
      };
    }
    return lhs;
  }

  /** At `,`: does `, term in` follow (a key-value membership)? */
  private peekIn(): boolean {
    const save = this.i;
    const saveNest = this.nest;
    try {
      this.i++;
      this.relation();
      return this.is('in');
    } catch {
      return false;
    } finally {
      this.i = save;
      this.nest = saveNest;
    }
  }

  relation(): Term {
    let lhs = this.binary(0);
    while (this.tok.kind === 'op' && INFIX_REL[this.tok.text] && !this.atBreak()) {
      const name = INFIX_REL[this.toks[this.i++].text];
      const rhs = this.binary(0);
      lhs = { t: 'call', name, args: [lhs, rhs], line: lhs.line, col: lhs.col };
    }
    return lhs;
  }

  private static LEVELS: Record<string, string>[] = [
    { '|': 'or' },
    { '&': 'and' },
    { '+': 'plus', '-': 'minus' },
    { '*': 'mul', '/': 'div', '%': 'rem' },
  ];

  private binary(level: number): Term {
    if (level >= Parser.LEVELS.length) return this.term();
    const ops = Parser.LEVELS[level];
    let lhs = this.binary(level + 1);
    while (
      this.tok.kind === 'op' &&
      ops[this.tok.text] &&
      !this.atBreak() &&
      !(level === 0 && this.noOr)
    ) {
      const name = ops[this.toks[this.i++].text];
      const rhs = this.binary(level + 1);
      lhs = { t: 'call', name, args: [lhs, rhs], line: lhs.line, col: lhs.col };
    }
    return lhs;
  }

  term(): Term {
    const t = this.tok;
    const p = this.pos();
    let base: Term;
    if (t.kind === 'num') {
      this.i++;
      base = { t: 'scalar', v: parseNum(t.text), ...p };
    } else if (t.kind === 'str') {
      this.i++;
      base = { t: 'scalar', v: t.value as string, ...p };
    } else if (t.kind === 'op' && t.text === '-') {
      this.i++;
      const nt = this.tok;
      if (nt.kind === 'num' && !nt.ws) {
        this.i++;
        const v = parseNum(nt.text);
        base = { t: 'scalar', v: typeof v === 'bigint' ? normBig(-v) : -v, ...p };
      } else {
        const inner = this.term();
        return { t: 'call', name: 'minus', args: [{ t: 'scalar', v: 0, ...p }, inner], ...p };
      }
    } else if (t.kind === 'ident') {
      if (KEYWORDS.has(t.text) && t.text !== 'if' && t.text !== 'contains')
        this.fail(`unexpected ${t.text} keyword`);
      this.i++;
      if (t.text === 'true' || t.text === 'false')
        base = { t: 'scalar', v: t.text === 'true', ...p };
      else if (t.text === 'null') base = { t: 'scalar', v: null, ...p };
      else if (t.text === 'set' && this.is('(') && !this.tok.ws && this.peek().text === ')') {
        this.i += 2;
        base = { t: 'set', items: [], ...p };
      } else base = { t: 'var', name: t.text, ...p };
    } else if (t.kind === 'op' && t.text === '(') {
      this.i++;
      this.nest++;
      const saveOr = this.noOr;
      const saveKV = this.allowKV;
      this.noOr = false;
      this.allowKV = true;
      base = this.exprTerm();
      this.noOr = saveOr;
      this.allowKV = saveKV;
      this.nest--;
      this.expect(')');
    } else if (t.kind === 'op' && t.text === '[') {
      this.i++;
      this.nest++;
      base = this.arrayLit(p);
      this.nest--;
      this.expect(']');
    } else if (t.kind === 'op' && t.text === '{') {
      this.i++;
      this.nest++;
      base = this.braceLit(p);
      this.nest--;
      this.expect('}');
    } else {
      return this.fail(`unexpected ${this.desc()} token`);
    }
    return this.postfix(base);
  }

  private postfix(base: Term): Term {
    let cur = base;
    while (true) {
      const t = this.tok;
      if (t.kind !== 'op' || t.ws) break;
      if (t.text === '.') {
        this.i++;
        const id = this.tok;
        if (id.kind !== 'ident') this.fail(`unexpected ${this.desc()} token: expected ident`);
        this.i++;
        cur = appendRef(cur, { t: 'scalar', v: id.text, line: id.line, col: id.col });
      } else if (t.text === '[') {
        this.i++;
        this.nest++;
        const k = this.exprTerm();
        this.nest--;
        this.expect(']');
        cur = appendRef(cur, k);
      } else if (t.text === '(') {
        const name = refName(cur);
        if (name === undefined) this.fail('unexpected ( token');
        this.i++;
        this.nest++;
        const args: Term[] = [];
        while (!this.is(')')) {
          args.push(this.exprTerm());
          if (!this.is(',')) break;
          this.i++;
        }
        this.nest--;
        this.expect(')');
        cur = { t: 'call', name, args, line: cur.line, col: cur.col };
      } else break;
    }
    return cur;
  }

  private headTerm(): Term {
    const save = this.noOr;
    const saveKV = this.allowKV;
    this.noOr = true;
    this.allowKV = false;
    try {
      return this.exprTerm();
    } finally {
      this.noOr = save;
      this.allowKV = saveKV;
    }
  }

  private arrayLit(p: Pos): Term {
    if (this.is(']')) return { t: 'array', items: [], ...p };
    const first = this.headTerm();
    if (this.is('|')) {
      this.i++;
      return { t: 'arraycomp', term: first, body: this.body(']'), ...p };
    }
    const items = [first];
    while (this.is(',')) {
      this.i++;
      if (this.is(']')) break;
      items.push(this.exprTerm());
    }
    return { t: 'array', items, ...p };
  }

  private braceLit(p: Pos): Term {
    if (this.is('}')) return { t: 'object', items: [], ...p };
    const first = this.headTerm();
    if (this.is(':')) {
      this.i++;
      const v = this.headTerm();
      if (this.is('|')) {
        this.i++;
        return { t: 'objcomp', key: first, value: v, body: this.body('}'), ...p };
      }
      const items: [Term, Term][] = [[first, v]];
      while (this.is(',')) {
        this.i++;
        if (this.is('}')) break;
        const k = this.exprTerm();
        this.expect(':');
        items.push([k, this.exprTerm()]);
      }
      return { t: 'object', items, ...p };
    }
    if (this.is('|')) {
      this.i++;
      return { t: 'setcomp', term: first, body: this.body('}'), ...p };
    }
    const items = [first];
    while (this.is(',')) {
      this.i++;
      if (this.is('}')) break;
      items.push(this.exprTerm());
    }
    return { t: 'set', items, ...p };
  }

  eof(): void {
    if (this.tok.kind !== 'eof') this.fail(`unexpected ${this.desc()} token`);
  }
}

function appendRef(cur: Term, k: Term): Term {
  if (cur.t === 'ref') return { ...cur, path: [...cur.path, k] };
  return { t: 'ref', head: cur, path: [k], line: cur.line, col: cur.col };
}

function refName(t: Term): string | undefined {
  if (t.t === 'var') return t.name;
  if (t.t !== 'ref' || t.head.t !== 'var') return undefined;
  let s = t.head.name;
  for (const p of t.path) {
    if (p.t !== 'scalar' || typeof p.v !== 'string') return undefined;
    s += '.' + p.v;
  }
  return s;
}

function parseNum(text: string): number | bigint {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n;
    return normBig(BigInt(text));
  }
  return Number(text);
}

export function parseModule(source: string, file: string, v0 = false): Module {
  return new Parser(lex(source, file), file, v0).module();
}

export function parseBody(source: string, file = 'query'): Expr[] {
  const p = new Parser(lex(source, file), file);
  const b = p.body('<eof>');
  p.eof();
  return b;
}

export function parseTerm(source: string, file = 'term'): Term {
  const p = new Parser(lex(source, file), file);
  const t = p.exprTerm();
  p.eof();
  return t;
}
