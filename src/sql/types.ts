// Statement facts: what the gateway knows about one SQL statement, as policies see it.
import type { Catalog } from './catalog.js';

export type StatementClass =
  'read' | 'write' | 'ddl' | 'dcl' | 'transaction' | 'session' | 'utility' | 'unknown';

export type Access = 'read' | 'write';

export type Clause =
  'select' | 'where' | 'join' | 'group' | 'having' | 'order' | 'returning' | 'set' | 'values';

export interface RelationFact {
  /** Resolved schema (against the pinned search_path), or the one written. */
  schema: string;
  name: string;
  /**
   * "table" unless known otherwise: "view" (known catalog views), "function" (in FROM),
   * "sequence" (nextval/setval/currval argument), "index", ...; "cte" is never reported.
   */
  kind: string;
  access: Access;
  /** Database part of a three-part name, when one was written. */
  catalog?: string;
  /** True when the schema was resolved (search_path or pg_catalog), not written. */
  unqualified?: boolean;
  /** True for relations locked by FOR UPDATE/SHARE (access is then "write"). */
  locking?: boolean;
}

export interface ColumnFact {
  schema: string;
  table: string;
  column: string;
  clause: Clause;
  /**
   * True when the column reaches the output only through an expression (a function,
   * operator, cast, aggregate, row constructor...), not as a bare reference.
   */
  derived?: boolean;
  /**
   * True when the owning table could not be decided (reported for each candidate), or the
   * name may not be a column at all (GROUP BY a name that is also an output alias).
   */
  ambiguous?: boolean;
}

export type FunctionEffect = 'read' | 'side_effect' | 'unknown';

export interface FunctionFact {
  schema: string;
  name: string;
  effect: FunctionEffect;
}

/** COPY facts. */
export interface CopyFact {
  direction: 'from' | 'to';
  program: boolean;
  /** Server-side file name (or the PROGRAM command line), null for STDIN/STDOUT. */
  file: string | null;
  stdio: boolean;
  format: 'text' | 'csv' | 'binary';
  /** A header line comes first (HEADER): COPY TO sends it as one more CopyData, no row. */
  header: boolean;
  /** True for COPY (query) TO. */
  query: boolean;
}

export type TransactionKind =
  | 'begin'
  | 'start'
  | 'commit'
  | 'rollback'
  | 'savepoint'
  | 'release'
  | 'rollback_to'
  | 'prepare'
  | 'commit_prepared'
  | 'rollback_prepared'
  /** SET TRANSACTION ... (the current transaction's characteristics). */
  | 'set_transaction';

export interface TransactionFact {
  kind: TransactionKind;
  read_only?: boolean;
  read_write?: boolean;
  isolation?: string;
  deferrable?: boolean;
  /** Savepoint name or prepared-transaction id. */
  name?: string;
  chain?: boolean;
}

/** SET / RESET (and SET ROLE, SET SESSION AUTHORIZATION, SET TRANSACTION...). */
export interface SetFact {
  /** Lower-case setting name ("role", "session_authorization", "search_path"); null for RESET ALL. */
  name: string | null;
  /** Value as text (list values joined by ", "); null for DEFAULT/RESET/FROM CURRENT. */
  value: string | null;
  local: boolean;
  reset: boolean;
  all: boolean;
  /** SET x TO DEFAULT. */
  default: boolean;
  /** SET x FROM CURRENT. */
  from_current?: boolean;
  /**
   * The value is the one the gateway pins on every session (search_path, client_encoding
   * UTF8, standard_conforming_strings on): the SET changes nothing.
   */
  keeps_pinned?: boolean;
}

export interface StatementFacts {
  text: string;
  fingerprint: string;
  /** Command tag, e.g. "SELECT", "DELETE", "CREATE TABLE". */
  command: string;
  class: StatementClass;
  relations: RelationFact[];
  columns: ColumnFact[];
  functions: FunctionFact[];
  has_where: boolean;
  opaque: boolean;
  parse_error?: string;
  /**
   * Extra facts by statement kind (see README in this folder):
   * copy, transaction, set, show, discard, prepare, execute, deallocate, cursor,
   * cursor_op, explain, lock, notify, locking, cross_database, select_into, writes_cte,
   * settings_read, settings_set, where_false, where_true, where_open.
   */
  [extra: string]: unknown;
}

/** Result of analysing one client SQL string (possibly several statements). */
export interface AnalyzedText {
  statements: StatementFacts[];
  /** Set when the whole string was refused before or during parsing. */
  error?: { code: string; message: string; position?: number };
  /** True for an empty (or comments-only) query string. */
  empty: boolean;
}

/** Options of one analysis: the session's pinned search_path and database. */
export interface AnalyzeOptions {
  searchPath: string[];
  database?: string;
  /** Refuse strings larger than this many UTF-8 bytes (default 1 MiB). */
  maxBytes?: number;
  /** Refuse strings of more statements than this (default: no limit). */
  maxStatements?: number;
  /** The upstream database's catalog, when the gateway has read it: adds facts, drops none. */
  catalog?: Catalog;
}
