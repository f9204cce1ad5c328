// Bundles the demo dashboard for browsers (esbuild): dist/dashboard/{index.html,dashboard.js}.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

mkdirSync('dist/dashboard', { recursive: true });
await build({
  entryPoints: ['examples/video/dashboard/app.ts'],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: 'dist/dashboard/dashboard.js',
  logLevel: 'warning',
});
copyFileSync('examples/video/dashboard/index.html', 'dist/dashboard/index.html');
