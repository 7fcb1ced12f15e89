/** `zv serve`: the web app and HTTP API (npm start). */
import { Command, InvalidArgumentError } from 'commander';
import { dataDir } from '../config.ts';

export function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the web app and the HTTP API (German UI; API under /api/v1, docs at /api/docs)')
    .option('--data <dir>', 'data directory (default: ZV_DATA_DIR or ./data)')
    .option('-p, --port <port>', 'port (default: ZV_PORT or 3000)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0–65535');
      return n;
    })
    .option('--host <host>', 'address to listen on (default: ZV_HOST or 127.0.0.1)')
    .option('--demo', 'seed the 2023 example year (26 AQB drafts, contacts, one account per role) into an empty data directory')
    .option('--secure-cookies <mode>', 'Secure flag on cookies: auto (behind a TLS proxy on loopback), always, never', 'auto')
    .action(async (opts: { data?: string; port?: number; host?: string; demo?: boolean; secureCookies: string }) => {
      const { serve } = await import('../http/server.ts');
      const secure = opts.secureCookies === 'always' ? true : opts.secureCookies === 'never' ? false : 'auto';
      const running = await serve({
        dataDir: dataDir(opts.data),
        port: opts.port ?? (process.env.ZV_PORT ? Number(process.env.ZV_PORT) : 3000),
        host: opts.host ?? process.env.ZV_HOST ?? '127.0.0.1',
        demo: opts.demo,
        secureCookies: secure,
      });
      process.stdout.write(`Zielwerk läuft auf ${running.url} (Daten: ${dataDir(opts.data)}; API-Dokumentation: ${running.url}/api/docs)\n`);
      const stop = () => {
        void running.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Keep the command pending while the server runs.
      await new Promise(() => {});
    });
}
