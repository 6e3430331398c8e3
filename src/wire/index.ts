// Wire stage: v3 framing with caps, frontend decoders, backend builders, error catalogue.
export * from './framing.js';
export * from './reader.js';
export * from './frontend.js';
export * from './backend.js';
export * from './errors.js';
