import yaml from 'js-yaml';
import semver from 'semver';
import { PLUGIN_API_VERSION, SCB_COMPAT_VERSION } from '../core/version.js';
import type { PluginType } from './contract.js';

// MANIFEST validation (spec 2.2, 2.3, 11.22, 11.23). The file is YAML 1.2; it is read with the failsafe
// schema so that `version: 1.10` or `api: 1.2` stay the strings the author wrote instead of becoming floats.
// Pure: every refusal names the field and the rule.

export interface Manifest {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly type: PluginType;
  readonly api: string;
  readonly entryPoint: string | undefined;
  readonly scbMinVersion: string | undefined;
  readonly scbMaxVersion: string | undefined;
}

export type ManifestCheck = { ok: true; manifest: Manifest } | { ok: false; errors: string[] };

export interface HostVersions {
  readonly api: { readonly major: number; readonly minor: number };
  readonly product: string;
}

const DEFAULT_HOST: HostVersions = { api: PLUGIN_API_VERSION, product: SCB_COMPAT_VERSION };
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const API = /^(\d+)\.(\d+)(?:\.(\d+))?$/;
const ENTRY = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9_./-]+\.(?:js|mjs|cjs|ts|mts|py)$/;

export function parseManifest(text: string, file = 'MANIFEST', host: HostVersions = DEFAULT_HOST): ManifestCheck {
  let doc: unknown;
  try {
    doc = yaml.load(text, { schema: yaml.FAILSAFE_SCHEMA, filename: file });
  } catch (err) {
    return { ok: false, errors: [`${file}: not valid YAML: ${(err as Error).message}`] };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { ok: false, errors: [`${file}: must be a YAML mapping of fields (name, description, version, type, api)`] };
  }
  const m = doc as Record<string, unknown>;
  const errors: string[] = [];
  const field = (key: string, required: boolean): string | undefined => {
    const v = m[key];
    if (v === undefined || v === null) {
      if (required) errors.push(`${file}: "${key}" is required`);
      return undefined;
    }
    if (typeof v !== 'string') {
      errors.push(`${file}: "${key}" must be a single value, not a list or mapping`);
      return undefined;
    }
    return v.trim();
  };

  const name = field('name', true);
  if (name !== undefined && !NAME.test(name)) {
    errors.push(`${file}: "name" ${JSON.stringify(name)} must start with a letter and contain only letters, digits and "_"`);
  }
  const description = field('description', true);
  const version = field('version', true);
  if (version !== undefined && !/^\d/.test(version)) {
    errors.push(`${file}: "version" ${JSON.stringify(version)} must start with a digit (for example 1.0.2)`);
  }
  const type = field('type', true);
  if (type !== undefined && type !== 'aa' && type !== 'credentialstore') {
    errors.push(`${file}: "type" ${JSON.stringify(type)} must be "aa" or "credentialstore"`);
  }
  const api = field('api', true);
  if (api !== undefined) {
    const problem = checkApi(api, host.api);
    if (problem) errors.push(`${file}: "api" ${problem}`);
  }
  const entryPoint = field('entry_point', false);
  if (entryPoint !== undefined && !ENTRY.test(entryPoint)) {
    errors.push(`${file}: "entry_point" ${JSON.stringify(entryPoint)} must be a relative path inside the plugin ending in .js, .mjs, .cjs, .ts, .mts or .py`);
  }
  const scbMinVersion = field('scb_min_version', false);
  const scbMaxVersion = field('scb_max_version', false);
  if (scbMinVersion !== undefined) {
    const min = semver.coerce(scbMinVersion);
    if (!min) errors.push(`${file}: "scb_min_version" ${JSON.stringify(scbMinVersion)} is not a version`);
    else if (semver.lt(host.product, min)) {
      errors.push(`${file}: "scb_min_version" ${scbMinVersion} is above the SPS version Gatehouse provides (${host.product})`);
    }
  }
  if (scbMaxVersion !== undefined) {
    const exclusive = scbMaxVersion.endsWith('~');
    const max = semver.coerce(exclusive ? scbMaxVersion.slice(0, -1) : scbMaxVersion);
    if (!max) errors.push(`${file}: "scb_max_version" ${JSON.stringify(scbMaxVersion)} is not a version`);
    else if (exclusive ? semver.gte(host.product, max) : semver.gt(host.product, max)) {
      errors.push(`${file}: "scb_max_version" ${scbMaxVersion} excludes the SPS version Gatehouse provides (${host.product})`);
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    manifest: {
      name: name!, description: description!, version: version!, type: type as PluginType, api: api!,
      entryPoint, scbMinVersion, scbMaxVersion,
    },
  };
}

/** spec 2.3: plugin api X.Y is accepted iff X equals the host major and Y is at most the host minor. */
export function checkApi(api: string, hostApi: { major: number; minor: number }): string | undefined {
  const m = API.exec(api);
  if (!m) return `${JSON.stringify(api)} must be <major>.<minor> (for example 1.2)`;
  // Three-part values such as 1.7.0 exist in the wild (spec 2.3): only major.minor counts.
  const wanted = `${Number(m[1])}.${Number(m[2])}.0`;
  const have = `${hostApi.major}.${hostApi.minor}.0`;
  if (!semver.satisfies(have, `^${wanted}`) || Number(m[1]) !== hostApi.major) {
    return `${api} is not supported: Gatehouse implements plugin API ${hostApi.major}.${hostApi.minor} ` +
      `(accepts ${hostApi.major}.0 to ${hostApi.major}.${hostApi.minor})`;
  }
  return undefined;
}
