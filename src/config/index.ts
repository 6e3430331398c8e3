// Config stage: defineConfig(), the config types, validation and loading.
export { defineConfig, env, file } from './define.js';
export type * from './types.js';
export { validateConfig } from './validate.js';
export { loadConfig, ConfigError, type LoadedConfig } from './load.js';
export { readSecret } from './secrets.js';
