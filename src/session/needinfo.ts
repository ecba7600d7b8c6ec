import { BastionError } from '../core/errors.js';
import type { Verdict } from '../plugins/verdict.js';

// The NEEDINFO loop of spec 5.8, shared by real logins (login.ts) and `gatehouse plugin try` (hook-sequence.ts).

/** Asks the question of a NEEDINFO verdict: its key, prompt and echo flag. */
export interface KeyedPrompter {
  ask(key: string, prompt: string, echo: boolean): Promise<string>;
}

/**
 * Calls the hook, asking each NEEDINFO question and putting the answer into `pairs` for the next call, until
 * a final verdict; DENY throws DENIED_BY_PLUGIN with the reason for the user.
 */
export async function needinfoLoop(
  hook: 'authenticate' | 'authorize', maxRounds: number, pairs: Record<string, string>, prompter: KeyedPrompter, call: () => Promise<Verdict>,
): Promise<Verdict> {
  for (let round = 0; ; round++) {
    const v = await call();
    switch (v.verdict) {
      case 'ACCEPT':
      case 'NONE':
        return v;
      case 'DENY':
        throw new BastionError('DENIED_BY_PLUGIN', `${hook} denied${v.reason ? `: ${v.reason}` : ''}`, v.reason ? { userMessage: v.reason } : {});
      case 'NEEDINFO':
        if (round + 1 > maxRounds) throw new BastionError('NEEDINFO_LIMIT', `${hook} asked more than ${maxRounds} questions`);
        pairs[v.question.key] = await prompter.ask(v.question.key, v.question.prompt, !v.question.noEcho);
    }
  }
}
