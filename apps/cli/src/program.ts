import { Command } from 'commander';
import { addClientOptions, collect, collectHostPort, defaultStateDir, nonNegative as ratio, nonNegativeInteger as integer } from './client-options.js';
import { download, seed, verify, type DownloadFlags } from './client.js';
import { create } from './create.js';
import type { MagnetFlags } from './magnet.js';
import { demo } from './demo.js';
import { dhtStatus, type DhtStatusFlags } from './dht-status.js';
import { info } from './info.js';
import { VERSION } from './version.js';

/** Builds the `mainline` command tree; `run*` actions resolve to the process exit code. */
export function buildProgram(out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): {
  program: Command;
  exitCode: () => number;
} {
  let exitCode = 0;
  const program = new Command('mainline')
    .description('mainline: a BitTorrent client (download, seed, create, info, verify)')
    .version(VERSION)
    // One line for a usage error, and where the help is (not the whole help: it hid the error).
    .configureOutput({ outputError: (text, print) => print(text.replace(/^error: /, 'mainline: ')) })
    .exitOverride();

  program
    .command('info')
    .description('show what a .torrent file or magnet link holds')
    .argument('<torrent>', '.torrent file or magnet: link')
    .action(async (target: string) => {
      for (const line of await info(target)) out(line);
    });

  program
    .command('create')
    .description('make a .torrent from a file or directory')
    .argument('<path>', 'file or directory to share')
    .requiredOption('-o, --output <file>', 'where to write the .torrent')
    .option('-t, --tracker <url>', 'announce URL; repeat for more tiers', collect)
    .option('-w, --web-seed <url>', 'web seed URL (BEP 19); repeatable', collect)
    .option('--piece-length <bytes>', 'piece length in bytes (power of two ≥ 16384); default picks ~1000-2000 pieces', integer)
    .option('--private', 'set the private flag (no DHT/PEX)')
    .option('--comment <text>', 'comment')
    .option('--name <name>', 'torrent name (default: base name of the path)')
    .option('--source <text>', 'info.source (for private trackers)')
    .option('--no-date', 'leave out creation date and "created by" (reproducible output)')
    .action(async (path: string, o: { output: string; tracker?: string[]; webSeed?: string[]; pieceLength?: number; private?: boolean; comment?: string; name?: string; source?: string; date: boolean }) => {
      const result = await create(path, {
        output: o.output,
        trackers: o.tracker ?? [],
        webSeeds: o.webSeed ?? [],
        private: o.private ?? false,
        stamp: o.date,
        ...(o.pieceLength !== undefined ? { pieceLength: o.pieceLength } : {}),
        ...(o.comment !== undefined ? { comment: o.comment } : {}),
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.source !== undefined ? { source: o.source } : {}),
      });
      for (const line of result.lines) out(line);
    });

  addClientOptions(
    program
      .command('download')
      .description('download a torrent or magnet link; exits 0 once every piece is verified')
      .argument('<torrent>', ".torrent file, or a 'magnet:?xt=urn:btih:...' link (metadata fetched from its trackers, x.pe and --peer peers)")
      .option('-o, --out <dir>', 'directory to save into', '.')
      .option('--seed', 'keep seeding after the download completes (until Ctrl-C or a limit)')
      .option('--save-torrent <file>', 'for a magnet link: also write the fetched .torrent here')
      .option('--ignore-free-space', 'download even when the selected files need more than the free disk space (files grow as data arrives)')
      .option('--seed-ratio <ratio>', 'seed until this upload/download ratio', ratio)
      .option('--seed-time <minutes>', 'seed for this many minutes', ratio),
    'download',
  ).action(async (torrent: string, o: MagnetFlags & { out: string }) => {
    exitCode = await download(torrent, o.out, o);
  });

  addClientOptions(
    program
      .command('seed')
      .description('verify existing data, then seed it')
      .argument('<torrent>', '.torrent file')
      .requiredOption('-d, --data <dir>', 'directory holding the data (the folder the torrent name lives in)')
      .option('--seed-ratio <ratio>', 'stop at this upload ratio', ratio)
      .option('--seed-time <minutes>', 'stop after this many minutes', ratio),
    'seed',
  ).action(async (torrent: string, o: DownloadFlags & { data: string }) => {
    exitCode = await seed(torrent, o.data, o);
  });

  program
    .command('verify')
    .description('hash the data on disk against a torrent; exits 0 only if every piece is good')
    .argument('<torrent>', '.torrent file')
    .requiredOption('-d, --data <dir>', 'directory holding the data')
    .action(async (torrent: string, o: { data: string }) => {
      const result = await verify(torrent, o.data);
      for (const line of result.lines) out(line);
      exitCode = result.code;
    });

  program
    .command('dht-status')
    .description('show the saved DHT node table, join the DHT from it and show the live table size')
    .option('--dht-bootstrap <host:port>', 'DHT node to join through (repeatable; default the public routers)', collectHostPort)
    .option('--state-dir <dir>', 'where the node table (dht.dat) is kept', defaultStateDir())
    .option('--minport <port>', 'first UDP/TCP port to try', ratio, 6881)
    .option('--maxport <port>', 'last port to try', ratio, 6999)
    .option('--bind <address>', 'local address to use')
    .option('--wait <s>', 'give up joining after this long', ratio, 30)
    .action(async (o: DhtStatusFlags) => {
      exitCode = await dhtStatus(o, out);
    });

  program
    .command('demo')
    .description('no network needed: make a payload, a torrent and a local tracker, seed it from one session and download it with another')
    .option('--size <MiB>', 'payload size in MiB', integer, 64)
    .option('--keep', 'keep the temporary files')
    .action(async (o: { size: number; keep?: boolean }) => {
      exitCode = await demo({ sizeMiB: o.size, keep: o.keep ?? false, out });
    });

  program.showHelpAfterError("(see 'mainline --help')");
  for (const c of program.commands) c.showHelpAfterError(`(see 'mainline ${c.name()} --help')`);
  return { program, exitCode: () => exitCode };
}

/** What GNU tools return for a command line they cannot use. */
const USAGE_ERROR = 2;

/** Runs the CLI with argv (as process.argv) and resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const { program, exitCode } = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return USAGE_ERROR;
    throw err;
  }
  return exitCode();
}
