// Conformance cases skipped on purpose: case note -> reason.

export const SKIP: ReadonlyMap<string, string> = new Map<string, string>([]);
