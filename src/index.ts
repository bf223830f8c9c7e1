// The library: `import { createMcpSessionProbe } from 'mcp-session-probe'`.
export {
  createMcpSessionProbe,
  type McpSessionProbe,
  type McpSessionProbeOptions,
} from './app.js';
export type { Config, ConfigInput, UpstreamConfig } from './config/schema.js';
