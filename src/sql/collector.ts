// Accumulates the facts found while walking one statement, without duplicates.
import type { ColumnFact, FunctionFact, RelationFact } from './types.js';

export class Collector {
  readonly relations: RelationFact[] = [];
  readonly columns: ColumnFact[] = [];
  readonly functions: FunctionFact[] = [];
  private readonly seen = new Set<string>();
  /** A fact was derived from a literal's value: the facts must not be shared by literal-free key. */
  literalSensitive = false;
  /** A three-part name named another database. */
  crossDatabase = false;
  /** FOR UPDATE/SHARE... seen. */
  locking = false;
  /** A data-modifying statement nested inside another (WITH ... DELETE ...). */
  nestedWrite = false;
  /** Commands of nested data-modifying statements ("DELETE", "INSERT"...). */
  readonly nestedCommands = new Set<string>();
  /** SELECT ... INTO seen. */
  selectInto = false;
  /** Something runs code the gateway cannot see (DO, CALL, PROGRAM...). */
  opaque = false;
  /** Settings read with current_setting: a literal name, or null for one named otherwise. */
  readonly settingsRead = new Set<string | null>();
  /** A function outside pg_catalog was called by a name without its schema. */
  callsByPath = false;
  /** Settings set with set_config: a literal name, or null for one named otherwise. */
  readonly settingsSet = new Set<string | null>();

  constructor(readonly database: string | undefined) {}

  /** A data-modifying statement runs inside this one (in WITH, in COPY (…) TO). */
  addNestedWrite(commands: readonly string[]): void {
    this.nestedWrite = true;
    for (const c of commands) this.nestedCommands.add(c);
  }

  addRelation(r: RelationFact): void {
    const k = `r\0${r.catalog ?? ''}\0${r.schema}\0${r.name}\0${r.kind}\0${r.access}\0${r.locking ? 1 : 0}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    if (r.catalog !== undefined && r.catalog !== this.database) this.crossDatabase = true;
    this.relations.push(r);
  }

  addColumn(c: ColumnFact): void {
    const k = `c\0${c.schema}\0${c.table}\0${c.column}\0${c.clause}\0${c.derived ? 1 : 0}\0${c.ambiguous ? 1 : 0}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    this.columns.push(c);
  }

  addFunction(f: FunctionFact): void {
    const k = `f\0${f.schema}\0${f.name}\0${f.effect}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    this.functions.push(f);
  }

  /** Relations read so far (to which a bare FOR UPDATE applies). */
  readRelations(): RelationFact[] {
    return this.relations.filter((r) => r.access === 'read' && r.kind !== 'function');
  }
}
