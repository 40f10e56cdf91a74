import path from 'node:path';
import express, { type Router } from 'express';

/** The dashboard's page, script and style (copied next to the compiled code by the build). */
const STATIC_DIR = path.join(__dirname, 'static');

/**
 * The operations dashboard at `/dashboard/`: a static page that logs in with an API key and
 * reads the admin endpoints. Nothing in it runs code from elsewhere: a strict Content
 * Security Policy allows this origin's script and style only.
 */
export function dashboardRouter(): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    next();
  });
  router.use(express.static(STATIC_DIR, { index: 'index.html', maxAge: 0 }));
  return router;
}
