#!/usr/bin/env node
// A native-solc stand-in for py-solc-x and brownie, backed by solc-js from node_modules.
//
// No solc binary can be downloaded here, so setup installs this file as
// `$SOLCX_BINARY_PATH/solc-v<version>`. It answers `--version` in the native format
// (py-solc-x parses it) and compiles `--standard-json` from stdin. Imports are read from
// disk, relative to the working directory or absolute, within `--allow-paths` / `--base-path`.
'use strict';
const fs = require('fs');
const path = require('path');

const projectRoot = path.resolve(__dirname, process.env.SCORECHAIN_SHIM_ROOT || '..');
const solc = require(require.resolve('solc', { paths: [projectRoot, process.cwd()] }));

// Writes synchronously so that large outputs are never cut off when the process exits.
function writeAll(fd, text) {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
    }
  }
}

function nativeVersion() {
  // solc-js reports e.g. "0.8.24+commit.e11b9ed9.Emscripten.clang"; native solc prints a banner.
  return `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`;
}

function parseArgs(argv) {
  const opts = {
    allowPaths: [], basePath: null, remappings: [], files: [], combinedJson: null, standardJson: false, version: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--version') opts.version = true;
    else if (a === '--standard-json') opts.standardJson = true;
    else if (a === '--allow-paths') opts.allowPaths.push(...argv[++i].split(','));
    else if (a.startsWith('--allow-paths=')) opts.allowPaths.push(...a.slice(14).split(','));
    else if (a === '--base-path') opts.basePath = argv[++i];
    else if (a.startsWith('--base-path=')) opts.basePath = a.slice(12);
    else if (a === '--include-path') opts.allowPaths.push(argv[++i]);
    else if (a === '--combined-json') opts.combinedJson = argv[++i].split(',');
    else if (a === '-' || a === '--no-color') continue;
    // Native solc takes `prefix=target` remappings as arguments (crytic-compile/slither pass them).
    else if (!a.startsWith('-') && a.includes('=')) opts.remappings.push(a);
    else if (!a.startsWith('-')) opts.files.push(a);
    else throw new Error(`solc shim: unsupported option ${a}`);
  }
  return opts;
}

function makeImportReader(opts) {
  const roots = [opts.basePath, process.cwd(), ...opts.allowPaths].filter(Boolean).map((p) => path.resolve(p));
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath));
    for (const file of candidates) {
      const resolved = path.resolve(file);
      if (!roots.some((r) => resolved === r || resolved.startsWith(r + path.sep))) continue;
      if (fs.existsSync(resolved) && fs.statSync(resolved).isFile()) {
        return { contents: fs.readFileSync(resolved, 'utf8') };
      }
    }
    return { error: `File not found inside the allowed paths: ${importPath}` };
  };
}

// `solc <remappings> <files> --combined-json abi,ast,...` (what crytic-compile/slither run),
// answered through standard JSON and reshaped into native solc's combined-json layout.
function combinedJson(opts) {
  const wanted = new Set(opts.combinedJson);
  const sources = {};
  for (const file of opts.files) sources[file] = { content: fs.readFileSync(file, 'utf8') };
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      remappings: opts.remappings,
      outputSelection: {
        '*': {
          '*': ['abi', 'evm.bytecode', 'evm.deployedBytecode', 'evm.methodIdentifiers', 'userdoc', 'devdoc'],
          '': ['ast'],
        },
      },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: makeImportReader(opts) }));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  for (const e of out.errors || []) writeAll(2, `${e.formattedMessage || e.message}\n`);
  if (errors.length > 0) return 1;
  const result = { contracts: {}, sources: {}, sourceList: Object.keys(out.sources || {}), version: solc.version() };
  for (const [file, byName] of Object.entries(out.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) {
      const entry = {};
      if (wanted.has('abi')) entry.abi = c.abi;
      if (wanted.has('bin')) entry.bin = c.evm.bytecode.object;
      if (wanted.has('bin-runtime')) entry['bin-runtime'] = c.evm.deployedBytecode.object;
      if (wanted.has('srcmap')) entry.srcmap = c.evm.bytecode.sourceMap || '';
      if (wanted.has('srcmap-runtime')) entry['srcmap-runtime'] = c.evm.deployedBytecode.sourceMap || '';
      if (wanted.has('userdoc')) entry.userdoc = c.userdoc;
      if (wanted.has('devdoc')) entry.devdoc = c.devdoc;
      if (wanted.has('hashes')) entry.hashes = c.evm.methodIdentifiers;
      result.contracts[`${file}:${name}`] = entry;
    }
  }
  for (const [file, src] of Object.entries(out.sources || {})) {
    result.sources[file] = { id: src.id };
    if (wanted.has('ast')) result.sources[file].AST = src.ast;
  }
  writeAll(1, JSON.stringify(result));
  return 0;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    writeAll(1, nativeVersion());
    return 0;
  }
  if (opts.combinedJson) return combinedJson(opts);
  if (!opts.standardJson) {
    writeAll(2, 'solc shim: only --version, --standard-json and <files> --combined-json are supported\n');
    return 2;
  }
  let input = fs.readFileSync(0, 'utf8');
  if (opts.remappings.length > 0) {
    const json = JSON.parse(input);
    json.settings = json.settings || {};
    json.settings.remappings = [...(json.settings.remappings || []), ...opts.remappings];
    input = JSON.stringify(json);
  }
  const output = solc.compile(input, { import: makeImportReader(opts) });
  writeAll(1, output);
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  writeAll(2, `${err.message}\n`);
  process.exitCode = 1;
}
