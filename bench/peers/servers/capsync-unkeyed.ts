/**
 * The capsync server, unchanged: its clients send unkeyed calls (see clients/capsync-unkeyed.ts). A dynamic
 * import: a bundler may drop a bare `import './capsync.js'` of a module package.json does not list as having
 * side effects.
 */
await import('./capsync.js');
