import fs from 'node:fs';
import path from 'node:path';
import { formatFromPath, parseDocumentText } from '../config/load';
import { formatProblem } from '../config/problems';
import { applyBackendListSchema } from '../config/schema';
import { isPlainObject } from '../config/problems';
import { failed, type FoundBackend, type Lookup, type Source } from './types';
import { guarded } from '../timers';

const EXPLICIT = ['name', 'weight', 'backup', 'maxConnections', 'proxyProtocol'] as const;

/** Events come in bursts (a write, a rename): read once they have settled. */
const SETTLE_MS = 100;

/**
 * `file: /etc/fulcrum/pg.yaml`: a list of backends (YAML or JSON, `[…]` or
 * `{ backends: […] }`), re-read when it changes. The directory is watched, not
 * the file: an atomic rename (write a temp file, rename it over) replaces the
 * file's inode, and a watch on the old inode would go quiet. Polling at the
 * discovery interval runs beside the watch for file systems that send no events.
 */
export class FileSource implements Source {
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly file: string) {}

  async lookup(): Promise<Lookup> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return failed(code === 'ENOENT' ? 'missing' : 'error', `${this.file}: ${code ?? (err as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = parseDocumentText(text, formatFromPath(this.file), this.file);
    } catch (err) {
      return failed('invalid', (err as Error).message);
    }
    if (raw === null || raw === undefined) return failed('empty', `${this.file}: no backends`);
    const list = isPlainObject(raw) && Object.keys(raw).length === 1 && 'backends' in raw ? raw.backends : raw;
    if (Array.isArray(list) && list.length === 0) return failed('empty', `${this.file}: no backends`);
    const parsed = applyBackendListSchema(list);
    if (!parsed.ok) return failed('invalid', `${this.file}: ${parsed.problems.map(formatProblem).join('; ')}`);
    // Only what an item says itself: the entry's settings fill the rest (compose.ts).
    const items = list as Array<Record<string, unknown>>;
    const backends = parsed.backends.map((b, i) => {
      const f: FoundBackend = { address: b.address };
      for (const key of EXPLICIT) if (items[i][key] !== undefined) (f as unknown as Record<string, unknown>)[key] = b[key];
      return f;
    });
    return { result: 'ok', backends };
  }

  watch(onChange: () => void): void {
    const dir = path.dirname(path.resolve(this.file));
    const base = path.basename(this.file);
    try {
      this.watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && name !== base) return;
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = setTimeout(
          guarded('discovery file settle', () => {
            this.timer = null;
            onChange();
          }),
          SETTLE_MS,
        );
      });
      // The directory went away (or the watch limit was hit): polling still covers it.
      this.watcher.on('error', () => this.closeWatcher());
    } catch {
      this.watcher = null;
    }
  }

  close(): void {
    this.closeWatcher();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private closeWatcher(): void {
    this.watcher?.close();
    this.watcher = null;
  }
}
