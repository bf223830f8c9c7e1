// Messages between the forwarding process and its store process (./client.ts, ./host.ts).
import type { UpstreamConfig } from '../../config/schema.js';
import type { ViewName } from './views.js';

/** The `ObservationStore` methods the store process serves (everything but `kind`). */
export type StoreMethod =
  | 'migrate'
  | 'write'
  | 'reserveExchangeIds'
  | 'upsertUpstreams'
  | 'setUpstreamFlags'
  | 'listUpstreams'
  | 'listSessions'
  | 'getSession'
  | 'listExpirations'
  | 'listExchanges'
  | 'saveProbeRun'
  | 'getProbeRun'
  | 'listProbeRuns'
  | 'failInterruptedProbeRuns'
  | 'prune'
  | 'recordCredential'
  | 'listCredentials'
  | 'claimScheduledProbe'
  | 'requestProbeCancel'
  | 'listProbeCancelRequests'
  | 'close';

/** An upstream as the store registers it (its URL already without credentials). */
export type UpstreamRow = Pick<UpstreamConfig, 'id' | 'name' | 'url' | 'transport'>;

export type StoreRequest =
  | { id: number; op: 'open'; url: string; upstreams: UpstreamRow[] }
  | { id: number; op: 'call'; method: StoreMethod; args: unknown[] }
  | { id: number; op: 'view'; view: ViewName; args: unknown[] };

export type StoreReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { message: string; code?: string } };

/** A request before it is given its id. */
export type StoreRequestBody = StoreRequest extends infer R
  ? R extends unknown
    ? Omit<R, 'id'>
    : never
  : never;
