// What a session channel asks for, as the bridge sees it, and the gate that says whether it may: the rules
// live above (session/channel-rules.ts), the bridge only asks and refuses as sshd refuses a request.

export type ChannelRequest =
  | { readonly kind: 'shell' }
  | { readonly kind: 'exec'; readonly command: string }
  | { readonly kind: 'subsystem'; readonly name: string }
  | { readonly kind: 'pty' }
  | { readonly kind: 'env'; readonly name: string };

/** Whether channel `ch` may make request `req`; a refusal is logged by the gate. */
export type ChannelGate = (ch: number, req: ChannelRequest) => boolean;

export const OPEN_GATE: ChannelGate = () => true;
