import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package.json above this module: dist/core/ in an install, build/src/core/ in the test build. */
function packageJson(): { version: string } {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    const p = join(d, 'package.json');
    if (existsSync(p)) return JSON.parse(readFileSync(p, 'utf8')) as { version: string };
    if (dirname(d) === d) throw new Error('package.json not found above the Gatehouse modules');
  }
}

/** Gatehouse's own release version (package.json). */
export const GATEHOUSE_VERSION: string = packageJson().version;

/**
 * The SPS plugin API version Gatehouse implements (MANIFEST `api`, spec 2.3): a plugin asking for X.Y is
 * accepted when X equals the major and Y is at most the minor. 1.9 is the API of SPS 9 / Plugin SDK 1.9.
 */
export const PLUGIN_API_VERSION = { major: 1, minor: 9 } as const;

/**
 * The SPS product version Gatehouse presents to `scb_min_version` / `scb_max_version` in MANIFEST files.
 * Plugins name SPS releases there, so Gatehouse answers as the SPS release whose plugin API it implements.
 */
export const SCB_COMPAT_VERSION = '9.0.0';
