import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Gatehouse's own release version (package.json). */
export const GATEHOUSE_VERSION: string = pkg.version;

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
