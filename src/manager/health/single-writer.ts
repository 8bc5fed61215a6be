/**
 * The split-brain guard of `role: master` (redis) and `role: primary`
 * (postgres) checks: at most one backend of a service holds the writer role.
 * The first backend whose check passes takes it and keeps it until its own
 * verdict goes down (or it is removed); any other backend that also claims to
 * be master meanwhile — a restarted old master that came back without
 * `replicaof`, a promoted standby while the old primary still runs — fails its
 * check with the holder's name, so writes never go to two masters at once.
 */
export class SingleWriter<K extends { name: string }> {
  private holder: K | null = null;

  /** A passing writer check of `key`: null when it holds the role (now), else the backend that does. */
  claim(key: K): K | null {
    if (this.holder === null || this.holder === key) {
      this.holder = key;
      return null;
    }
    return this.holder;
  }

  /** `key` went down or was removed: the role is free for the next passing check. */
  release(key: K): void {
    if (this.holder === key) this.holder = null;
  }

  get current(): K | null {
    return this.holder;
  }
}
