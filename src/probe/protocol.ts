// The MCP protocol version the prober asks for in `initialize` and sends as
// `MCP-Protocol-Version`. Kept here rather than imported from `@modelcontextprotocol/sdk/types.js`:
// that module builds every zod schema of the protocol (about 2 MB of heap, held for the life of
// the process), and `serve` loads the prober whether or not a probe ever runs. A test checks that
// it equals the SDK's `LATEST_PROTOCOL_VERSION`, so an SDK upgrade that moves it fails there.
export const LATEST_PROTOCOL_VERSION = '2025-11-25';
