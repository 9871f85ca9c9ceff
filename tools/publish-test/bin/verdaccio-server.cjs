// Runs Verdaccio from a config file on 127.0.0.1, on a port the OS picks, and prints
// {"port": N} once it listens. Exits when its stdin closes, so it never outlives the test.
const { runServer } = require('verdaccio');

async function main() {
  const [configPath] = process.argv.slice(2);
  if (!configPath) throw new Error('usage: verdaccio-server.cjs <config.yaml>');
  const app = await runServer(configPath);
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
  const stop = () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
