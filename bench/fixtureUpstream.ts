// The fixture SDK upstream in its own process: a ~30 KB `tools/list` and the
// `slow_progress` tool answered over SSE with progress events.
import { startDemoUpstream } from '../src/demo/upstream.js';

const upstream = await startDemoUpstream({ largeToolList: true });
process.send?.({ type: 'ready', port: upstream.port });
process.on('SIGTERM', () => {
  void upstream.close().finally(() => process.exit(0));
});
