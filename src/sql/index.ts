// Public API of the sql stage: parse a client SQL string into per-statement facts.
export {
  analyze,
  clearSqlCache,
  sqlCacheStats,
  DEFAULT_MAX_BYTES,
  CALLS_BY_PATH,
  FACTS_KEY,
} from './analyze.js';
export { factsWeight } from './facts.js';
export { initSql } from './parse.js';
export { fingerprint } from './fingerprint.js';
export { scanKey, type ScanResult } from './cache-key.js';
export { functionEffect, paramTypeFacts } from './functions.js';
export { explainedColumn } from './command.js';
export { redactExtra, redactLiterals } from './redact.js';
export type {
  AnalyzeOptions,
  AnalyzedText,
  Access,
  Clause,
  ColumnFact,
  CopyFact,
  FunctionEffect,
  FunctionFact,
  RelationFact,
  SetFact,
  StatementClass,
  StatementFacts,
  TransactionFact,
  TransactionKind,
} from './types.js';
