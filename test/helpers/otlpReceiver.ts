import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpRequest {
  path: string;
  contentType: string;
  /** The raw body text (http/json), searched for planted secrets. */
  text: string;
  json: unknown;
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  requests: OtlpRequest[];
  close(): Promise<void>;
}

/** A real OTLP/HTTP receiver (the `http/json` protocol) on a loopback port: stores what it is sent. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: OtlpRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      requests.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', text, json });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}
export interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  status?: { code?: number };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

function flatten(attrs: OtlpAttribute[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of attrs ?? []) {
    const v = a.value;
    out[a.key] = v['stringValue'] ?? v['intValue'] ?? v['doubleValue'] ?? v['boolValue'] ?? v;
  }
  return out;
}

/** Spans in OTLP/JSON trace payloads, with attributes flattened to plain values. */
export function spansIn(requests: OtlpRequest[]): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  for (const r of requests) {
    if (!r.path.endsWith('/v1/traces')) continue;
    const body = r.json as {
      resourceSpans?: Array<{
        resource?: { attributes?: OtlpAttribute[] };
        scopeSpans?: Array<{
          spans?: Array<Omit<OtlpSpan, 'attributes' | 'resource'> & { attributes?: OtlpAttribute[] }>;
        }>;
      }>;
    };
    for (const rs of body?.resourceSpans ?? []) {
      const resource = flatten(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) spans.push({ ...s, attributes: flatten(s.attributes), resource });
      }
    }
  }
  return spans;
}

/** Metric names in OTLP/JSON metric payloads. */
export function metricNamesIn(requests: OtlpRequest[]): Set<string> {
  const names = new Set<string>();
  for (const r of requests) {
    if (!r.path.endsWith('/v1/metrics')) continue;
    const body = r.json as {
      resourceMetrics?: Array<{ scopeMetrics?: Array<{ metrics?: Array<{ name: string }> }> }>;
    };
    for (const rm of body?.resourceMetrics ?? [])
      for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) names.add(m.name);
  }
  return names;
}
