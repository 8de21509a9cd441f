/**
 * One process's stdout, line by line, with the rank-side entry's heartbeats taken out. A heartbeat
 * is written by a thread in one `os.write`, so with unbuffered output (PYTHONUNBUFFERED) it can
 * land between the pieces of one print(): the text before its marker is the start of a script
 * line that goes on in the next line, and is carried over to it, so the script's lines stay whole.
 */
import { HEARTBEAT_MARKER, type Heartbeat, isLauncherPrefix, readHeartbeatLine } from './telemetry.ts';

export interface StdoutReader {
  /** One line as the process printed it. */
  line(raw: string): void;
  /** The stream ended: a carried partial line is passed on. */
  end(): void;
}

/** The rank a protocol line names, if the process runs it (the process's one rank when it names none). */
export function rankOf(named: number | null, ranks: readonly number[]): number | undefined {
  if (named === null) return ranks.length === 1 ? ranks[0] : undefined;
  return ranks.includes(named) ? named : undefined;
}

export function createStdoutReader(options: {
  ranks: readonly number[];
  onHeartbeat: (rank: number, hb: Heartbeat) => void;
  /** Every other line (the script's, metric and failure lines). */
  onLine: (line: string) => void;
}): StdoutReader {
  let carry = '';
  return {
    line(raw) {
      const at = raw.indexOf(HEARTBEAT_MARKER);
      if (at >= 0) {
        const hb = readHeartbeatLine(raw);
        const rank = hb ? rankOf(hb.rank, options.ranks) : undefined;
        if (hb && rank !== undefined) options.onHeartbeat(rank, hb);
        if (!isLauncherPrefix(raw.slice(0, at))) carry += raw.slice(0, at);
        return;
      }
      const line = carry + raw;
      carry = '';
      options.onLine(line);
    },
    end() {
      if (carry) options.onLine(carry);
      carry = '';
    },
  };
}
