// Where a login goes: the target as the user named it and the one address Gatehouse connects to. Resolved
// once, before authentication only when a policy needs the address to choose itself (session/target-choice.ts).

export interface ResolvedTarget {
  /** The name the user gave (or the policy's fixed host): what plugins see as target_server. */
  readonly name: string;
  /** The IP address Gatehouse connects to. */
  readonly address: string;
  readonly port: number;
  /** Names known_hosts entries may be recorded under (typed name, alias host, address). */
  readonly hostKeyNames: readonly string[];
}
