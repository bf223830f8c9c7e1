export async function probeCommand(_argv: string[]): Promise<number> {
  process.stderr.write('mcp-session-probe probe: not available in this build yet\n');
  return 2;
}
