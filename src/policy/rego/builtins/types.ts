// Type-check builtins: is_string, is_number, ..., type_name.
import { RSet, isObj, typeName } from '../value.js';
import { def } from './registry.js';

def('is_string', 1, (a) => typeof a[0] === 'string');
def('is_number', 1, (a) => typeof a[0] === 'number' || typeof a[0] === 'bigint');
def('is_boolean', 1, (a) => typeof a[0] === 'boolean');
def('is_null', 1, (a) => a[0] === null);
def('is_array', 1, (a) => Array.isArray(a[0]));
def('is_set', 1, (a) => a[0] instanceof RSet);
def('is_object', 1, (a) => isObj(a[0]));
def('type_name', 1, (a) => typeName(a[0]));
def('print', -1, () => true);
def('trace', 1, () => true);
