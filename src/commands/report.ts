export async function reportCommand(_argv: string[]): Promise<number> {
  process.stderr.write('mcp-session-probe report: not available in this build yet\n');
  return 2;
}
