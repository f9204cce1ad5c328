// Bundles the demo dashboard for browsers (esbuild): dist/examples/video/public/{index.html,dashboard.css,dashboard.js},
// where examples/video/dashboard-files.ts serves them from.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

mkdirSync('dist/examples/video/public', { recursive: true });
await build({
  entryPoints: ['examples/video/dashboard/app.ts'],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: 'dist/examples/video/public/dashboard.js',
  logLevel: 'warning',
});
for (const file of ['index.html', 'dashboard.css']) copyFileSync(`examples/video/dashboard/${file}`, `dist/examples/video/public/${file}`);
