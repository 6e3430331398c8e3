// RegoError: every parse, compile and evaluation error, with OPA's error code and a source position.

export interface Loc {
  file: string;
  line: number;
  col: number;
}

export class RegoError extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
    readonly file = '',
    readonly line = 0,
    readonly col = 0,
  ) {
    super(file ? `${file}:${line}:${col}: ${code}: ${detail}` : `${code}: ${detail}`);
    this.name = 'RegoError';
  }
}

export function errAt(code: string, msg: string, loc: Loc | undefined): RegoError {
  return loc ? new RegoError(code, msg, loc.file, loc.line, loc.col) : new RegoError(code, msg);
}

/** Raised by builtins; becomes undefined unless strict builtin errors are on. */
export class BuiltinError extends Error {
  constructor(
    readonly code: 'eval_builtin_error' | 'eval_type_error',
    message: string,
  ) {
    super(message);
  }
}

export function typeErr(fn: string, pos: number, want: string, got: string): BuiltinError {
  return new BuiltinError(
    'eval_type_error',
    `${fn}: operand ${pos} must be ${want} but got ${got}`,
  );
}
