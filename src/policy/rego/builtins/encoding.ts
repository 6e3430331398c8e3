// Encoding builtins: json.*, yaml.*, base64*, urlquery, hex.
import YAML from 'yaml';
import { BuiltinError, typeErr } from '../errors.js';
import {
  RSet,
  fromJS,
  isObj,
  marshal,
  objGet,
  objKeys,
  toJSONish,
  typeName,
  type Value,
} from '../value.js';
import { def, obj, str } from './registry.js';

export function parseJSON(s: string): Value {
  // integers beyond 2^53 keep their precision
  const big = /(?<![\d.eE"])-?\d{16,}(?![\d.eE])/.test(s);
  if (!big) return JSON.parse(s) as Value;
  const marked = s.replace(/("(?:[^"\\]|\\.)*")|(-?\d{16,})(?![\d.eE])/g, (m, q, d) =>
    q ? q : `{"\u0000big":"${d}"}`,
  );
  return fromJS(
    JSON.parse(marked, (_k, v) =>
      v && typeof v === 'object' && '\u0000big' in v ? BigInt(v['\u0000big']) : v,
    ),
  );
}

def('json.marshal', 1, (a) => marshal(a[0]));
def('json.marshal_with_options', 2, (a) => {
  const o = obj('json.marshal_with_options', a, 1);
  const indent = objGet(o, 'indent');
  const prefix = objGet(o, 'prefix');
  const pretty = objGet(o, 'pretty');
  for (const k of objKeys(o))
    if (!['indent', 'prefix', 'pretty'].includes(k as string))
      throw new BuiltinError(
        'eval_type_error',
        `json.marshal_with_options: object operand must only contain keys "indent", "prefix", "pretty"`,
      );
  const doPretty =
    pretty === true || (pretty === undefined && (indent !== undefined || prefix !== undefined));
  if (!doPretty) return marshal(a[0]);
  const ind = typeof indent === 'string' ? indent : '\t';
  const pre = typeof prefix === 'string' ? prefix : '';
  const text = JSON.stringify(JSON.parse(marshal(a[0])), null, ind);
  return text
    .split('\n')
    .map((l) => pre + l)
    .join('\n');
});
def('json.unmarshal', 1, (a) => {
  const s = str('json.unmarshal', a, 0);
  try {
    return parseJSON(s);
  } catch (e) {
    throw new BuiltinError('eval_builtin_error', `json.unmarshal: ${(e as Error).message}`);
  }
});
def('json.is_valid', 1, (a) => {
  if (typeof a[0] !== 'string') return false;
  try {
    JSON.parse(a[0]);
    return true;
  } catch {
    return false;
  }
});
def('yaml.marshal', 1, (a) => YAML.stringify(toJSONish(a[0])));
def('yaml.unmarshal', 1, (a) => {
  const s = str('yaml.unmarshal', a, 0);
  try {
    return fromJS(YAML.parse(s, { intAsBigInt: true }) ?? null);
  } catch (e) {
    throw new BuiltinError('eval_builtin_error', `yaml.unmarshal: ${(e as Error).message}`);
  }
});
def('yaml.is_valid', 1, (a) => {
  if (typeof a[0] !== 'string') return false;
  try {
    YAML.parse(a[0]);
    return true;
  } catch {
    return false;
  }
});

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;
def('base64.encode', 1, (a) => Buffer.from(str('base64.encode', a, 0), 'utf8').toString('base64'));
def('base64.decode', 1, (a) => {
  const s = str('base64.decode', a, 0);
  if (!B64.test(s) || s.length % 4 !== 0)
    throw new BuiltinError('eval_builtin_error', 'base64.decode: illegal base64 data');
  return Buffer.from(s, 'base64').toString('utf8');
});
def(
  'base64.is_valid',
  1,
  (a) => typeof a[0] === 'string' && B64.test(a[0]) && a[0].length % 4 === 0,
);
def('base64url.encode', 1, (a) =>
  Buffer.from(str('base64url.encode', a, 0), 'utf8')
    .toString('base64url')
    .padEnd(Math.ceil(Buffer.byteLength(a[0] as string) / 3) * 4, '='),
);
def('base64url.encode_no_pad', 1, (a) =>
  Buffer.from(str('base64url.encode_no_pad', a, 0), 'utf8').toString('base64url'),
);
def('base64url.decode', 1, (a) => {
  const s = str('base64url.decode', a, 0);
  if (!B64URL.test(s))
    throw new BuiltinError('eval_builtin_error', 'base64url.decode: illegal base64 data');
  return Buffer.from(s, 'base64url').toString('utf8');
});
def('hex.encode', 1, (a) => Buffer.from(str('hex.encode', a, 0), 'utf8').toString('hex'));
def('hex.decode', 1, (a) => {
  const s = str('hex.decode', a, 0);
  if (!/^([0-9a-fA-F]{2})*$/.test(s))
    throw new BuiltinError('eval_builtin_error', 'hex.decode: invalid byte');
  return Buffer.from(s, 'hex').toString('utf8');
});
def('urlquery.encode', 1, (a) =>
  encodeURIComponent(str('urlquery.encode', a, 0)).replace(/%20/g, '+'),
);
def('urlquery.decode', 1, (a) =>
  decodeURIComponent(str('urlquery.decode', a, 0).replace(/\+/g, ' ')),
);
def('urlquery.encode_object', 1, (a) => {
  const o = obj('urlquery.encode_object', a, 0);
  const parts: string[] = [];
  for (const k of objKeys(o)) {
    const v = objGet(o, k) as Value;
    const vs =
      typeof v === 'string' ? [v] : Array.isArray(v) ? v : v instanceof RSet ? v.sorted() : null;
    if (!vs)
      throw typeErr(
        'urlquery.encode_object',
        1,
        'object[string: any<string, array[string], set[string]>]',
        typeName(v),
      );
    for (const x of vs)
      parts.push(encodeURIComponent(k as string) + '=' + encodeURIComponent(String(x)));
  }
  return parts.join('&');
});
void isObj;
