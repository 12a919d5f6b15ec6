/**
 * The org's retained event log. One replay ID counter for the whole org; every event is stored
 * once, with its `data` JSON serialized once at publish, and each channel keeps an ordered list
 * of the entries it carries. Subscribers read through cursors (absolute positions in a channel
 * list), so a million retained events cost nothing per subscriber, and a response is built by
 * joining stored strings.
 */

/** One published event. `data` is the JSON text of the message's `data` member. */
export interface LogEntry {
  readonly replayId: number;
  readonly data: string;
  /** When it was published (ms since epoch), for retention. */
  readonly time: number;
}

/** The entries of one channel, oldest first; positions are absolute and never reused. */
class ChannelLog {
  readonly name: string;
  /** `{"channel":"<name>","data":` — the message text around an entry's data. */
  readonly prefix: string;
  entries: LogEntry[] = [];
  /** Index in `entries` of the oldest retained entry (the ones before it are expired). */
  head = 0;
  /** Absolute position of `entries[head]`. */
  start = 0;

  constructor(name: string) {
    this.name = name;
    this.prefix = `{"channel":${JSON.stringify(name)},"data":`;
  }

  get end(): number {
    return this.start + this.entries.length - this.head;
  }

  at(pos: number): LogEntry {
    return this.entries[pos - this.start + this.head]!;
  }

  /** Absolute position of the first entry with a replay ID above `replayId`. */
  firstAfter(replayId: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.replayId <= replayId) lo = mid + 1;
      else hi = mid;
    }
    return this.start + lo - this.head;
  }

  dropThrough(replayId: number): void {
    const to = this.firstAfter(replayId);
    const n = to - this.start;
    if (n <= 0) return;
    this.head += n;
    this.start = to;
    // Compact now and then so expired entries can be collected, without shifting on every drop.
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}

/** A subscription's read position in one channel. */
export interface Cursor {
  readonly log: ChannelLog;
  pos: number;
}

/** Replay position a subscription starts from: -1 new only, -2 all retained, N after N. */
export type ReplayFrom = number;

/** The retained events of the org, with replay and expiry. */
export class EventLog {
  #lastId: number;
  #entries: LogEntry[] = [];
  #head = 0;
  readonly #channels = new Map<string, ChannelLog>();

  constructor(firstReplayId = 1000 + Math.floor(Math.random() * 9000)) {
    this.#lastId = firstReplayId;
  }

  /**
   * Reserves the next replay ID. IDs rise with random gaps, as Salesforce's do, so that no
   * client can get away with computing one ID from another.
   */
  nextReplayId(): number {
    this.#lastId += 1 + Math.floor(Math.random() * 4);
    return this.#lastId;
  }

  /** Stores an event (with an ID from `nextReplayId`) on every channel in `channels`. */
  append(replayId: number, channels: readonly string[], data: string, time: number): LogEntry {
    const entry: LogEntry = { replayId, data, time };
    this.#entries.push(entry);
    for (const name of channels) this.#channel(name).entries.push(entry);
    return entry;
  }

  /** The newest replay ID issued (Pub/Sub keepalives carry it when a topic has nothing retained). */
  get lastReplayId(): number {
    return this.#lastId;
  }

  /** Number of retained events. */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** True when `replayId` was issued and its event is still retained. */
  isRetained(replayId: number): boolean {
    let lo = this.#head;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const id = this.#entries[mid]!.replayId;
      if (id === replayId) return true;
      if (id < replayId) lo = mid + 1;
      else hi = mid;
    }
    return false;
  }

  /** Opens a cursor on `channel`; an N must have been checked with `isRetained`. */
  open(channel: string, from: ReplayFrom): Cursor {
    const log = this.#channel(channel);
    if (from === -2) return { log, pos: log.start };
    if (from === -1) return { log, pos: log.end };
    return { log, pos: log.firstAfter(from) };
  }

  /** True when any cursor has an entry left to read. */
  hasPending(cursors: readonly Cursor[]): boolean {
    for (const c of cursors) if (Math.max(c.pos, c.log.start) < c.log.end) return true;
    return false;
  }

  /**
   * Appends up to `max` message texts to `out`, oldest replay ID first across all cursors,
   * and advances the cursors. Returns how many were appended.
   */
  read(cursors: readonly Cursor[], max: number, out: string[]): number {
    for (const c of cursors) if (c.pos < c.log.start) c.pos = c.log.start; // expired under it
    if (cursors.length === 1) return readOne(cursors[0]!, max, out);
    let n = 0;
    while (n < max) {
      let best: Cursor | undefined;
      let bestId = Infinity;
      for (const c of cursors) {
        if (c.pos >= c.log.end) continue;
        const id = c.log.at(c.pos).replayId;
        if (id < bestId) {
          bestId = id;
          best = c;
        }
      }
      if (!best) break;
      out.push(best.log.prefix + best.log.at(best.pos).data + '}');
      best.pos++;
      n++;
    }
    return n;
  }

  /** Drops every event with a replay ID at or below `replayId`; returns how many. */
  expireThrough(replayId: number): number {
    const before = this.size;
    while (this.#head < this.#entries.length && this.#entries[this.#head]!.replayId <= replayId) this.#head++;
    if (this.#head > 4096 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    for (const log of this.#channels.values()) log.dropThrough(replayId);
    return before - this.size;
  }

  /** Drops every event published before `time`; cheap when there is none. */
  expireBefore(time: number): number {
    const oldest = this.#entries[this.#head];
    if (!oldest || oldest.time >= time) return 0;
    let last = oldest.replayId;
    for (let i = this.#head; i < this.#entries.length && this.#entries[i]!.time < time; i++) last = this.#entries[i]!.replayId;
    return this.expireThrough(last);
  }

  #channel(name: string): ChannelLog {
    let log = this.#channels.get(name);
    if (!log) {
      log = new ChannelLog(name);
      this.#channels.set(name, log);
    }
    return log;
  }
}

/** Fast path of `read` for the common single-channel subscriber. */
function readOne(c: Cursor, max: number, out: string[]): number {
  const log = c.log;
  const stop = Math.min(log.end, c.pos + max);
  const prefix = log.prefix;
  let n = 0;
  for (let pos = c.pos; pos < stop; pos++, n++) out.push(prefix + log.at(pos).data + '}');
  c.pos = stop;
  return n;
}
