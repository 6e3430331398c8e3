// Registers every builtin module (import for side effects).
import './numbers.js';
import './strings.js';
import './collections.js';
import './types.js';
import './encoding.js';
import './regex.js';
import './time.js';
import './net.js';
import './jwt.js';
import './crypto.js';
import './deprecated.js';
