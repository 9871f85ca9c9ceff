// A real npm registry on loopback: Verdaccio in a child process, with its own storage, config and
// user. Our scope (@mainline/*) lives only here; every other package is proxied from the registry
// this machine's npm is configured with, so third-party dependencies resolve as for a user.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './workspace.js';

export interface LocalRegistry {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** The npm user config that points npm and pnpm at it, with a publish token. */
  npmrc: string;
  /** Environment for npm / pnpm / changeset children: this registry, a private cache, no prompts. */
  env: NodeJS.ProcessEnv;
  /** The upstream registry that third-party packages come from. */
  upstream: string;
  /** What Verdaccio printed (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

async function npmConfig(key: string): Promise<string | undefined> {
  const { stdout } = await run('npm', ['config', 'get', key]);
  const value = stdout.trim();
  return value === '' || value === 'null' || value === 'undefined' ? undefined : value;
}

function waitForPort(child: ChildProcess, output: () => string, deadlineMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`verdaccio did not listen within ${deadlineMs} ms:\n${output()}`)), deadlineMs);
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /\{"port":(\d+)\}/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`verdaccio exited (${code}):\n${output()}`));
    });
  });
}

/** Starts Verdaccio with everything under `dir`. */
export async function startLocalRegistry(dir: string): Promise<LocalRegistry> {
  const upstream = (await npmConfig('registry')) ?? 'https://registry.npmjs.org/';
  const proxy = { https_proxy: await npmConfig('https-proxy'), http_proxy: await npmConfig('proxy') };
  await mkdir(join(dir, 'storage'), { recursive: true });
  const config = {
    storage: join(dir, 'storage'),
    auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 10 } },
    uplinks: { upstream: { url: upstream, timeout: '60s', max_fails: 5, ...Object.fromEntries(Object.entries(proxy).filter(([, v]) => v)) } },
    packages: {
      // Ours: never looked up upstream (a same-named package there must not win).
      '@mainline/*': { access: '$all', publish: '$authenticated', unpublish: '$authenticated' },
      '**': { access: '$all', publish: '$authenticated', proxy: 'upstream' },
    },
    max_body_size: '100mb',
    log: { type: 'stdout', format: 'pretty', level: 'warn' },
    web: { enable: false },
  };
  const configPath = join(dir, 'config.yaml');
  await writeFile(configPath, JSON.stringify(config, null, 2)); // JSON is YAML

  let output = '';
  const child = spawn(process.execPath, [join(__dirname, '..', 'bin', 'verdaccio-server.cjs'), configPath], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
  };

  try {
    const port = await waitForPort(child, () => output, 60_000);
    const url = `http://127.0.0.1:${port}/`;
    // npm adduser, without the prompt: Verdaccio's htpasswd plugin creates the user and a token.
    const res = await fetch(`${url}-/user/org.couchdb.user:release`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'release', password: 'release-test-password', type: 'user', roles: [], date: new Date().toISOString() }),
    });
    const { token } = (await res.json()) as { token?: string };
    if (!res.ok || !token) throw new Error(`verdaccio refused the release user (${res.status})`);
    const npmrc = join(dir, 'npmrc');
    await writeFile(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
    // npm_* variables from an outer npm/pnpm run (pnpm test) would override the config files.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      npm_config_userconfig: npmrc,
      npm_config_registry: url,
      npm_config_cache: join(dir, 'npm-cache'),
      npm_config_git_checks: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      npm_config_loglevel: 'warn',
    };
    return { url, npmrc, env, upstream, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
