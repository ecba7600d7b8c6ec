// The bounds Gatehouse puts on plugins (config.yaml plugin_pool), each with a safe default. A plugin that
// breaks one fails that call with a coded error, which denies that login only.

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

export const DEFAULT_BOUNDS: PluginBounds = {
  sessionEndedWaitMs: 120_000,
  addressSpaceMb: 2048,
  jsExternalMb: 1024,
  outputLineBytes: 4096,
  outputCallBytes: 1024 * 1024,
  outputCallLines: 200,
  promptBytes: 4096,
};
