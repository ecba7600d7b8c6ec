import type { Logger } from 'pino';
import type { PenaltyControl } from '../control/control-server.js';
import { Penalties, type PenaltyEntry, type PenaltySettings } from '../ssh/penalties.js';
import type { FromWorker, ToWorker } from './cluster-messages.js';

// Penalties across the workers of one host. Connections are handed to the workers in turn, so with a table
// per worker an attacker would get N times the allowance. Instead each worker forwards its penalty events
// (failed authentication, no login, grace exceeded) to the primary, which keeps the one record per source and
// sends every changed entry back to all workers; each worker refuses a penalised source at accept from its
// mirror, without asking anyone. `gatehouse penalties` and `--clear` are answered by the primary, and a clear
// reaches every mirror. A replacement worker gets the whole table when it is ready.

/** The worker's side: events go to the primary; its updates fill the mirror. Returns the message handler. */
export function workerPenalties(penalties: Penalties, send: (m: FromWorker) => boolean): (m: ToWorker) => boolean {
  penalties.forwardTo((ip, kind) => void send({ t: 'penalty', ip, kind }));
  return (m) => {
    if (m.t !== 'penalties') return false;
    if (m.set) penalties.mirror(m.set);
    if (m.clear) penalties.forget(m.clear);
    return true;
  };
}

export interface PrimaryPenalties {
  /** For the primary's control socket (`gatehouse penalties [--clear]`). */
  readonly control: PenaltyControl;
  /** Handles a worker's penalty event; false for any other message. */
  handle(m: FromWorker): boolean;
  /** What a worker that has just started must know. */
  snapshot(): ToWorker | undefined;
}

export function primaryPenalties(settings: () => PenaltySettings, log: Logger, broadcast: (m: ToWorker) => void): PrimaryPenalties {
  const table = new Penalties(settings, log);
  return {
    control: {
      list: () => table.list(),
      clear(addr) {
        const gone = table.clear(addr);
        if (gone.length > 0) broadcast({ t: 'penalties', clear: gone });
        return gone;
      },
    },
    handle(m) {
      if (m.t !== 'penalty') return false;
      const entry: PenaltyEntry | undefined = table.record(m.ip, m.kind);
      if (entry) broadcast({ t: 'penalties', set: [entry] });
      return true;
    },
    snapshot() {
      const all = table.list();
      return all.length > 0 ? { t: 'penalties', set: all } : undefined;
    },
  };
}
