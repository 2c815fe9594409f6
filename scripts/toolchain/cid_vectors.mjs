#!/usr/bin/env node
// Reference IPFS CIDs from the npm ipfs-unixfs-importer (node_modules, offline), with the options
// `ipfs add --cid-version 1 -r` uses: the legacy kubo profile (256 KiB fixed chunks, balanced DAG of
// at most 174 links, links-first dag-pb, HAMT only past 256 KiB of links) with CIDv1 and raw leaves.
// Tests hold oracle/content_id.py to it. It walks each path itself, so the Python walk is checked
// too: hidden names are skipped (as ipfs add does without --hidden), symlinks are an error.
//
// stdin:  {"paths": ["/abs/file-or-dir", ...]}
// stdout: {"cids": ["bafy...", ...]}            // one per path, in order
import fs from 'node:fs';
import path from 'node:path';
import { importer } from 'ipfs-unixfs-importer';

const OPTIONS = { profile: 'unixfs-v0-2015', cidVersion: 1, rawLeaves: true, wrapWithDirectory: false };

// The importer stores every block; only the CIDs are wanted, so blocks are dropped.
const discard = { put: async cid => cid, has: async () => false };

function entries(abs, rel) {
  const st = fs.lstatSync(abs);
  if (st.isSymbolicLink()) throw new Error(`${abs} is a symbolic link`);
  if (st.isFile()) return [{ path: rel, content: fs.createReadStream(abs) }];
  if (!st.isDirectory()) throw new Error(`${abs} is neither a file nor a directory`);
  const out = [{ path: rel }];
  for (const name of fs.readdirSync(abs)) {
    if (!name.startsWith('.')) out.push(...entries(path.join(abs, name), `${rel}/${name}`));
  }
  return out;
}

async function cidOf(abs) {
  const root = 'root';
  let cid;
  for await (const entry of importer(entries(abs, root), discard, { ...OPTIONS })) {
    if (entry.path === root) cid = entry.cid;
  }
  if (cid === undefined) throw new Error(`no root entry for ${abs}`);
  return cid.toString();
}

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const cids = [];
for (const p of input.paths) cids.push(await cidOf(p));
process.stdout.write(JSON.stringify({ cids }) + '\n');
