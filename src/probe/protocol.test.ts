import { LATEST_PROTOCOL_VERSION as SDK_LATEST } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { LATEST_PROTOCOL_VERSION } from './protocol.js';

describe('protocol version', () => {
  it("is the MCP SDK's latest (kept here so that serve does not load the SDK's schemas)", () => {
    expect(LATEST_PROTOCOL_VERSION).toBe(SDK_LATEST);
  });
});
