// Names from the OpenTelemetry MCP semantic conventions (incubating in the npm
// package, so copied here; https://opentelemetry.io/docs/specs/semconv/gen-ai/mcp/)
// plus this project's own `mcpprobe.*` names. One place, so a rename is one edit.

// --- MCP / JSON-RPC / GenAI / network attributes (semconv) ---
export const ATTR_MCP_METHOD_NAME = 'mcp.method.name';
export const ATTR_MCP_SESSION_ID = 'mcp.session.id';
export const ATTR_MCP_PROTOCOL_VERSION = 'mcp.protocol.version';
export const ATTR_JSONRPC_REQUEST_ID = 'jsonrpc.request.id';
export const ATTR_RPC_RESPONSE_STATUS_CODE = 'rpc.response.status_code';
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const GEN_AI_OPERATION_EXECUTE_TOOL = 'execute_tool';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_NETWORK_TRANSPORT = 'network.transport';
export const ATTR_NETWORK_PROTOCOL_NAME = 'network.protocol.name';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';

// --- Project attributes ---
export const ATTR_UPSTREAM = 'mcpprobe.upstream';
/** `proxy` (agent traffic) or `probe` (active prober): keeps the two apart in every metric. */
export const ATTR_SOURCE = 'mcpprobe.source';
export const ATTR_OUTCOME = 'mcpprobe.outcome';
export const ATTR_OUTCOME_CONFIDENCE = 'mcpprobe.outcome.confidence';
/** Seconds. */
export const ATTR_IDLE_GAP = 'mcpprobe.session.idle_gap';
/** Seconds. */
export const ATTR_SESSION_AGE = 'mcpprobe.session.age';
export const ATTR_EXCHANGES_BEFORE = 'mcpprobe.session.exchanges_before';
export const ATTR_STREAM_ATTACHED = 'mcpprobe.session.stream_attached';
export const ATTR_SESSION_END_REASON = 'mcpprobe.session.end_reason';
/** Seconds: the `initialize` round trip. */
export const ATTR_INIT_LATENCY = 'mcpprobe.session.init_latency';
export const ATTR_CLIENT_NAME = 'mcpprobe.client.name';
export const ATTR_CLIENT_VERSION = 'mcpprobe.client.version';
export const ATTR_SERVER_NAME = 'mcpprobe.server.name';
export const ATTR_SERVER_VERSION = 'mcpprobe.server.version';
/** Seconds a standalone GET stream stayed open. */
export const ATTR_STREAM_DURATION = 'mcpprobe.stream.duration';
export const ATTR_PROBE_MODE = 'mcpprobe.probe.mode';
export const ATTR_PROBE_RUN_ID = 'mcpprobe.probe.run_id';
export const ATTR_PROBE_STEP = 'mcpprobe.probe.step';
export const ATTR_PROBE_IDLE_TARGET = 'mcpprobe.probe.idle_target';

// --- Span names that are not `{mcp.method.name} {target}` ---
export const SPAN_STREAM_OPEN = 'mcpprobe.stream.open';
export const SPAN_STREAM_CLOSE = 'mcpprobe.stream.close';
export const SPAN_SESSION_DELETE = 'mcpprobe.session.delete';
export const SPAN_PROBE_PREFIX = 'mcpprobe.probe';
export const EVENT_SESSION_EXPIRED = 'mcpprobe.session.expired';

// --- Metrics ---
export const METRIC_CLIENT_OPERATION_DURATION = 'mcp.client.operation.duration';
export const METRIC_CLIENT_SESSION_DURATION = 'mcp.client.session.duration';
export const METRIC_IDLE_GAP = 'mcpprobe.session.idle_gap';
export const METRIC_EXPIRATIONS = 'mcpprobe.session.expirations';
export const METRIC_SESSIONS_ACTIVE = 'mcpprobe.sessions.active';
export const METRIC_INIT_DURATION = 'mcpprobe.session.init.duration';
export const METRIC_RECORDER_DROPPED = 'mcpprobe.recorder.dropped';
export const METRIC_RECORDER_FAILED = 'mcpprobe.recorder.failed';
export const METRIC_RECORDER_QUEUED = 'mcpprobe.recorder.queued';
export const METRIC_TRACKER_SESSIONS = 'mcpprobe.tracker.sessions';
export const METRIC_PROXY_REJECTED = 'mcpprobe.proxy.rejected';
/** Heal mode: expired upstream sessions replaced (`mcpprobe.heal.result`: `healed` or `failed`). */
export const METRIC_HEALS = 'mcpprobe.heal.count';
export const ATTR_HEAL_RESULT = 'mcpprobe.heal.result';
/** On an exchange whose session error heal mode absorbed: true, and how long the heal took (s). */
export const ATTR_HEALED = 'mcpprobe.healed';
export const ATTR_HEAL_LATENCY = 'mcpprobe.heal.latency';

/** Bucket boundaries the MCP semconv recommends for both `mcp.*.duration` histograms (s). */
export const MCP_DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
/** Idle gaps span seconds to a day: fine where servers commonly expire (30 s to 1 h). */
export const IDLE_GAP_BUCKETS = [
  0.1, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 14400, 43200, 86400,
];
