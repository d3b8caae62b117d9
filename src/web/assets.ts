import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type Router } from 'express';
import { packageRoot } from '../config/paths.js';

// Read once at start from the package's ui/ folder (the image copies it beside dist/), so the pages
// need nothing from a CDN.
const read = (name: string) => readFileSync(path.join(packageRoot(), 'ui', name), 'utf8');

/** GET /ui/app.css and /ui/run.js: the UI's one style sheet and one script. */
export function createAssets(): Router {
  const files = { 'app.css': { type: 'text/css', body: read('app.css') }, 'run.js': { type: 'text/javascript', body: read('run.js') } };
  const router = express.Router();
  router.get('/ui/:file', (req, res, next) => {
    const f = files[req.params.file as keyof typeof files];
    if (!f) {
      next();
      return;
    }
    res.set({ 'Cache-Control': 'public, max-age=300', 'X-Content-Type-Options': 'nosniff' }).type(f.type).send(f.body);
  });
  return router;
}
