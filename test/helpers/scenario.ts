import { startGatehouse, type Gatehouse, type HarnessContext } from './gatehouse.js';
import { startSshd, type Sshd } from './sshd.js';

// Builders for the config of an end-to-end scenario: one real sshd target reachable under several alias
// names, each alias selecting its own policy with its own plugin configuration.

export interface PolicySpec {
  /** Alias under which the sshd is reached, e.g. "authz-deny": ssh -l ghtest@authz-deny ... */
  readonly alias: string;
  /** Configuration of the "scripted" fixture plugin (JSON); omit for a policy without AA plugin. */
  readonly plugin?: Record<string, unknown>;
  readonly pluginName?: string;
  readonly targetAuth?: Record<string, unknown>;
  readonly hostKeyCheck?: Record<string, unknown>;
  readonly port?: number;
  readonly more?: Record<string, unknown>;
}

/** The JavaScript fixture AA plugin and its Python twin: plugin tests run against both. */
export const FIXTURE_AA_PLUGINS = ['scripted', 'scripted_py'] as const;

export function scenarioPolicies(ctx: HarnessContext, sshd: Sshd, specs: readonly PolicySpec[], plugin = 'scripted'): unknown[] {
  return specs.map((s) => ({
    name: s.alias,
    ...(s.plugin ? { aa_plugin: { name: s.pluginName ?? plugin, configuration: JSON.stringify({ record: ctx.callsFile, ...s.plugin }) } } : {}),
    targets: { allow: [{ hosts: [s.alias], ports: [s.port ?? sshd.port] }] },
    target_auth: s.targetAuth ?? { method: 'key' },
    host_key_check: s.hostKeyCheck ?? { known_hosts: 'target_known_hosts', policy: 'strict' },
    ...s.more,
  }));
}

export function scenarioHosts(sshd: Sshd, specs: readonly PolicySpec[]): Record<string, string> {
  return Object.fromEntries(specs.map((s) => [s.alias, `127.0.0.1:${s.port ?? sshd.port}`]));
}

export function targetKnownHosts(sshd: Sshd): Record<string, string> {
  return { target_known_hosts: `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n` };
}

export interface Scenario {
  readonly sshd: Sshd;
  readonly gh: Gatehouse;
  stop(): Promise<void>;
}

/**
 * A real sshd target and a Gatehouse whose policies reach it under the specs' aliases, with the fixture AA
 * plugin `plugin`; `extra` adds top-level config.yaml keys.
 */
export async function startScenario(specs: readonly PolicySpec[], opts: { plugin?: string; extra?: Record<string, unknown>; password?: boolean; sshdConfig?: readonly string[]; dev?: boolean } = {}): Promise<Scenario> {
  const plugin = opts.plugin ?? 'scripted';
  const sshd = await startSshd({ password: opts.password ?? false, config: opts.sshdConfig ?? [] });
  let gh: Gatehouse;
  try {
    gh = await startGatehouse({
      plugins: [plugin],
      policies: (ctx) => scenarioPolicies(ctx, sshd, specs, plugin),
      extra: () => ({ hosts: scenarioHosts(sshd, specs), ...opts.extra }),
      files: () => targetKnownHosts(sshd),
      dev: opts.dev === true,
    });
  } catch (err) {
    await sshd.stop();
    throw err;
  }
  sshd.authorize(gh.clientKeyLine);
  return {
    sshd,
    gh,
    stop: async () => {
      await gh.stop();
      await sshd.stop();
    },
  };
}
