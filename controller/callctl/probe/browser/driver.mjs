// Runs one headless browser with the rig page and answers JSON-line commands on stdin.
//
//   ip netns exec NS node driver.mjs --modules DIR --browser chromium|firefox --profile DIR
//
// DIR is the node_modules folder `npm ci` filled from this folder's package-lock.json (kept
// out of the package's source: callctl.probe.browser.modules says where). It bundles
// page/rig.js (esbuild, in memory), serves it on the namespace's own 127.0.0.1
// (getUserMedia needs a secure context, and http://127.0.0.1 is one), launches the browser
// with puppeteer-core (Chromium over a pipe, Firefox over WebDriver BiDi) and opens the page.
// Then each stdin line {"id": N, "fn": "name", "args": [...]} calls window.rig[name](...args)
// in the page; the answer is one stdout line {"id": N, "ok": true, "value": ...} or
// {"id": N, "ok": false, "error": "..."}. Browser console lines go out as {"console": "..."}.
// The first line is {"ready": {...}}. EOF on stdin closes the browser and exits.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: argv } = parseArgs({
  options: {
    modules: { type: 'string' },
    browser: { type: 'string', default: 'chromium' },
    profile: { type: 'string' },
    executable: { type: 'string' },
  },
});
if (!argv.modules) throw new Error('--modules DIR (the installed node_modules) is required');
// The packages load from the given node_modules, not from a folder next to this file.
const require = createRequire(join(argv.modules, 'callctl-driver.cjs'));
const esbuild = require('esbuild');
const puppeteer = require('puppeteer-core');
const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const EXECUTABLES = { chromium: '/usr/bin/chromium', firefox: '/usr/bin/firefox-esr' };
const CHROMIUM_ARGS = [
  '--no-sandbox', // the rig runs as root
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];
const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Without it Firefox in a namespace with no default route gathers no candidates.
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.default_address_only': false,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'network.dns.disableIPv6': true,
  'browser.shell.checkDefaultBrowser': false,
  'app.update.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
};

async function bundle() {
  const result = await esbuild.build({
    entryPoints: [join(here, 'page', 'rig.js')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120', 'firefox115'],
    write: false,
    logLevel: 'silent',
    nodePaths: [argv.modules], // stanza and its browser shims (events)
  });
  return result.outputFiles[0].text;
}

function serve(script) {
  const html =
    '<!doctype html><meta charset="utf-8"><title>callctl webrtc rig</title>' +
    '<script src="/rig.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/rig.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(script);
    } else if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(html);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function launch(kind, profile) {
  const common = {
    executablePath: argv.executable || EXECUTABLES[kind],
    headless: true,
    userDataDir: profile,
  };
  // Chromium over a pipe with its flags; Firefox over WebDriver BiDi with its preferences.
  const own = {
    chromium: { browser: 'chrome', pipe: true, args: CHROMIUM_ARGS },
    firefox: { browser: 'firefox', extraPrefsFirefox: FIREFOX_PREFS },
  }[kind];
  if (!own) throw new Error(`unknown browser ${kind}`);
  return puppeteer.launch({ ...common, ...own });
}

async function main() {
  const script = await bundle();
  const server = await serve(script);
  const browser = await launch(argv.browser, argv.profile);
  const page = await browser.newPage();
  page.on('console', (msg) => send({ console: `${msg.type()}: ${msg.text()}` }));
  page.on('pageerror', (err) => send({ console: `pageerror: ${err.message}` }));
  const url = `http://127.0.0.1:${server.address().port}/`;
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.rig !== undefined, { timeout: 10000 });
  send({ ready: { browser: await browser.version(), page: url } });

  let closing = null;
  const close = () => {
    closing ??= (async () => {
      await browser.close().catch(() => undefined);
      server.close();
    })();
    return closing;
  };
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let id = null;
    try {
      const cmd = JSON.parse(line);
      id = cmd.id;
      const value = await page.evaluate(
        (fn, args) => window.rig[fn](...args),
        cmd.fn,
        cmd.args || [],
      );
      send({ id, ok: true, value: value === undefined ? null : value });
    } catch (err) {
      send({ id, ok: false, error: String(err && err.message ? err.message : err) });
    }
  }
  await close();
}

main().then(
  () => process.exit(0),
  (err) => {
    send({ fatal: String(err && err.stack ? err.stack : err) });
    process.exit(1);
  },
);
