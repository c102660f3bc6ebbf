// Builds the web console and the embeddable widgets (src/console) into dist/console with esbuild: one ES module
// each, minified, with Lit bundled in. Nothing is fetched at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const outdir = 'dist/console';
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { app: 'src/console/app.ts', widgets: 'src/console/widgets/index.ts' },
  outdir,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  legalComments: 'none',
  // useDefineForClassFields false: Lit's reactive properties must not be shadowed by class fields.
  tsconfig: 'tsconfig.console.json',
  logLevel: 'warning',
});
copyFileSync('src/console/index.html', `${outdir}/index.html`);
