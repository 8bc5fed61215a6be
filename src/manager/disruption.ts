import { fillMaglevTable, MAGLEV_TABLE_SIZE } from '../balancer/source-hash';

/** A backend as it runs now: `up` when it takes new sessions (state "up"). Removed backends are left out. */
export interface RunningBackend {
  name: string;
  address: string;
  weight: number;
  backup: boolean;
  up: boolean;
}

/** A backend of the new list (config, reload or discovery). */
export interface NextBackend {
  name: string;
  address: string;
  weight: number;
  backup: boolean;
}

export interface BackendChange {
  added: string[];
  removed: string[];
  reweighted: Array<{ name: string; from: number; to: number }>;
  /** source-hash only (else null): slots of the Maglev table whose backend changes, out of `slots`. */
  movedSlots: number | null;
  slots: number;
}

/**
 * What applying `next` to a running pool changes, and for source-hash how many
 * clients move: the live Maglev table (usable backends now) against the table
 * after the change, where backends that stay keep their health and new ones
 * count as up (as they will once their first check passes). A client's
 * backend is the owner of its slot, so moved slots / 65,537 is exactly the
 * share of source-hash clients that land on a different backend.
 */
export function previewChange(running: readonly RunningBackend[], next: readonly NextBackend[], balance: { before: string; after: string }): BackendChange {
  const byName = new Map(running.map((b) => [b.name, b]));
  const kept = new Set<RunningBackend>();
  const change: BackendChange = { added: [], removed: [], reweighted: [], movedSlots: null, slots: MAGLEV_TABLE_SIZE };
  const after: RunningBackend[] = [];
  for (const n of next) {
    const now = byName.get(n.name);
    if (now === undefined || now.address !== n.address) {
      change.added.push(n.name);
      after.push({ ...n, up: true });
      continue;
    }
    kept.add(now);
    if (now.weight !== n.weight) change.reweighted.push({ name: n.name, from: now.weight, to: n.weight });
    after.push({ ...n, up: now.up });
  }
  for (const b of running) if (!kept.has(b)) change.removed.push(b.name);
  if (balance.after === 'source-hash') {
    // A service that was not source-hash before has no affinity to keep: every client is placed afresh.
    change.movedSlots = balance.before === 'source-hash' ? movedSlots(usable(running), usable(after)) : MAGLEV_TABLE_SIZE;
  }
  return change;
}

export function hasChanges(c: BackendChange): boolean {
  return c.added.length + c.removed.length + c.reweighted.length > 0;
}

/** "12.34 %" of the table, as logs and `fulcrum diff` print it. */
export function formatShare(c: Pick<BackendChange, 'movedSlots' | 'slots'>): string {
  return c.movedSlots === null ? 'n/a' : `${((100 * c.movedSlots) / c.slots).toFixed(2)} %`;
}

/** As the pool: healthy primaries, or the healthy backups when no primary is. */
function usable(backends: readonly RunningBackend[]): RunningBackend[] {
  const primaries = backends.filter((b) => b.up && !b.backup);
  return primaries.length > 0 ? primaries : backends.filter((b) => b.up && b.backup);
}

function movedSlots(before: readonly RunningBackend[], after: readonly RunningBackend[]): number {
  const a = owners(before);
  const b = owners(after);
  let moved = 0;
  for (let i = 0; i < MAGLEV_TABLE_SIZE; i++) if (a(i) !== b(i)) moved++;
  return moved;
}

/** Slot → owner name, built exactly as MaglevBalancer.rebuild does (weight > 0, sorted by name then address). */
function owners(backends: readonly RunningBackend[]): (slot: number) => string {
  const bs = backends.filter((b) => b.weight > 0).sort((x, y) => (x.name !== y.name ? (x.name < y.name ? -1 : 1) : x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
  const table = new Int32Array(MAGLEV_TABLE_SIZE);
  fillMaglevTable(table, bs);
  return (slot) => (bs.length === 0 ? '' : bs[table[slot]].name);
}
