import { pluginPoolSchema } from './schema.js';

// config.yaml's plugin_pool: the runners' pool and the bounds Gatehouse puts on plugins. A plugin that breaks
// a bound fails that call with a coded error, which denies that login only. The defaults are the schema's
// (schema.ts), and DEFAULT_PLUGIN_POOL is read from it, for the commands that load plugins without a config.

export interface PluginBounds {
  /** How long session_ended may wait for a plugin runner, on top of its own time: queueing cannot eat it. */
  readonly sessionEndedWaitMs: number;
  /** Address space of a Python plugin process (RLIMIT_AS). */
  readonly addressSpaceMb: number;
  /**
   * Memory JavaScript plugins may take outside their V8 heap (Buffers, ArrayBuffers): how much Gatehouse's
   * resident size may grow while their calls run (memory_mb bounds each runner's heap).
   */
  readonly jsExternalMb: number;
  /** Longest line of plugin output logged as it is; longer lines are cut. */
  readonly outputLineBytes: number;
  /** Plugin output one hook call may print; beyond it the call fails with PLUGIN_OUTPUT_LIMIT. */
  readonly outputCallBytes: number;
  /** Output lines per call logged in full; the rest of the call's lines are counted, not logged. */
  readonly outputCallLines: number;
  /** Longest NEEDINFO prompt; a longer one fails the call with PLUGIN_PROMPT_TOO_LARGE. */
  readonly promptBytes: number;
}

export interface PluginPoolConfig extends PluginBounds {
  readonly warmWorkers: number;
  readonly maxActive: number;
  /** V8 heap of each JavaScript runner. */
  readonly memoryMb: number;
}

type RawPluginPool = NonNullable<ReturnType<typeof pluginPoolSchema.check>>;

export function resolvePluginPool(raw: RawPluginPool): PluginPoolConfig {
  return {
    warmWorkers: raw.warm_workers!,
    maxActive: raw.max_active!,
    memoryMb: raw.memory_mb!,
    sessionEndedWaitMs: raw.session_ended_wait! * 1000,
    addressSpaceMb: raw.address_space_mb!,
    jsExternalMb: raw.js_external_mb!,
    outputLineBytes: raw.output_line_bytes!,
    outputCallBytes: raw.output_call_bytes!,
    outputCallLines: raw.output_call_lines!,
    promptBytes: raw.prompt_bytes!,
  };
}

/** plugin_pool left out: the schema's defaults (an empty mapping always passes its checks). */
export const DEFAULT_PLUGIN_POOL: PluginPoolConfig = resolvePluginPool(pluginPoolSchema.check({}, ['plugin_pool'], { issues: [] })!);
