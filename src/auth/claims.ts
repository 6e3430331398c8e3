// Maps verified JWT claims (or an API key entry) onto the policy Identity, with configurable claim names.
import type { Identity } from '../policy/types.js';

/** Claim names, as dotted paths into the payload (an exact top-level key wins over the path). */
export interface ClaimMapping {
  /** Default 'sub'. */
  sub?: string;
  /** Default 'email'. */
  email?: string;
  /** Array of strings, or one string separated by spaces or commas. Default 'groups'. */
  groups?: string;
  /** Default 'agent_id'. */
  agent?: string;
  /** First path holding a string wins. Default ['act.sub', 'on_behalf_of']. */
  onBehalfOf?: string | string[];
}

export type MapResult = { ok: true; identity: Identity } | { ok: false; reason: string };

const MAX_GROUPS = 256;
const MAX_CLAIM_CHARS = 1024;

/** Read `path` from a claims object: an own key named exactly `path`, else a dotted walk. */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, path)) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function optionalString(claims: Record<string, unknown>, path: string): string | undefined | Error {
  const v = claimAt(claims, path);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > MAX_CLAIM_CHARS) {
    return new Error(`claim ${path} is not a string`);
  }
  return v === '' ? undefined : v;
}

function groupsOf(v: unknown, path: string): string[] | Error {
  if (v === undefined || v === null) return [];
  const list =
    typeof v === 'string' ? v.split(/[\s,]+/) : Array.isArray(v) ? (v as unknown[]) : undefined;
  if (!list) return new Error(`claim ${path} is neither an array nor a string`);
  const out: string[] = [];
  for (const g of list) {
    if (typeof g !== 'string' || g.length > MAX_CLAIM_CHARS) {
      return new Error(`claim ${path} holds a non-string`);
    }
    if (g !== '' && !out.includes(g)) out.push(g);
  }
  if (out.length > MAX_GROUPS) return new Error(`claim ${path} holds over ${MAX_GROUPS} groups`);
  return out;
}

/** Build the Identity from verified claims; a malformed mapped claim fails the login. */
export function mapClaims(
  claims: Record<string, unknown>,
  method: Identity['method'],
  mapping: ClaimMapping = {},
): MapResult {
  const subPath = mapping.sub ?? 'sub';
  const sub = optionalString(claims, subPath);
  if (sub instanceof Error) return { ok: false, reason: sub.message };
  if (sub === undefined) return { ok: false, reason: `claim ${subPath} missing` };
  const email = optionalString(claims, mapping.email ?? 'email');
  if (email instanceof Error) return { ok: false, reason: email.message };
  const agent = optionalString(claims, mapping.agent ?? 'agent_id');
  if (agent instanceof Error) return { ok: false, reason: agent.message };
  const groupsPath = mapping.groups ?? 'groups';
  const groups = groupsOf(claimAt(claims, groupsPath), groupsPath);
  if (groups instanceof Error) return { ok: false, reason: groups.message };
  let onBehalfOf: string | undefined;
  const oboPaths = mapping.onBehalfOf ?? ['act.sub', 'on_behalf_of'];
  for (const p of typeof oboPaths === 'string' ? [oboPaths] : oboPaths) {
    const v = optionalString(claims, p);
    if (v instanceof Error) return { ok: false, reason: v.message };
    if (v !== undefined) {
      onBehalfOf = v;
      break;
    }
  }
  const identity: Identity = { sub, groups, method, claims };
  if (typeof claims.iss === 'string') identity.iss = claims.iss;
  if (email !== undefined) identity.email = email;
  if (agent !== undefined) identity.agent = agent;
  if (onBehalfOf !== undefined) identity.on_behalf_of = onBehalfOf;
  return { ok: true, identity };
}
