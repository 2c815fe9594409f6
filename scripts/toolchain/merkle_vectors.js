#!/usr/bin/env node
// Reference Merkle vectors from OpenZeppelin's own @openzeppelin/merkle-tree (node_modules), so
// tests can hold oracle/merkle.py and DataAnchor to the npm library byte for byte. Offline.
//
// stdin:  {"values": [["0x<address>", "0x<bytes32>"], ...], "multiproofs": [[i, j, ...], ...]}
//         ("multiproofs" optional; each entry is a list of value indices)
// stdout: {"root": "0x..", "tree": ["0x..", ...], "leaves": ["0x..", ...],
//          "proofs": [["0x..", ...], ...],            // proofs[i] = getProof(i)
//          "multiproofs": [{"indices": [...], "leaves": [...], "proof": [...], "proofFlags": [...]}]}
// Built with StandardMerkleTree.of(values, ["address", "bytes32"]) and the library's defaults.
'use strict';
const fs = require('fs');
const path = require('path');

const projectRoot = path.resolve(__dirname, '..', '..');
const { StandardMerkleTree } = require(
  require.resolve('@openzeppelin/merkle-tree', { paths: [projectRoot, process.cwd()] }));

const ENCODING = ['address', 'bytes32'];

function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const values = input.values;
  const tree = StandardMerkleTree.of(values, ENCODING);
  const dump = tree.dump();
  const key = v => JSON.stringify(v);
  // Multiproofs return values, not indices: map them back (values in the vectors are unique).
  const where = new Map(values.map((v, i) => [key(v), i]));
  const multiproofs = (input.multiproofs || []).map(indices => {
    const mp = tree.getMultiProof(indices);
    return {
      indices: mp.leaves.map(v => where.get(key(v))),
      leaves: mp.leaves.map(v => dump.tree[dump.values[where.get(key(v))].treeIndex]),
      proof: mp.proof,
      proofFlags: mp.proofFlags,
    };
  });
  const out = {
    root: tree.root,
    tree: dump.tree,
    leaves: values.map((_, i) => dump.tree[dump.values[i].treeIndex]),
    proofs: values.map((_, i) => tree.getProof(i)),
    multiproofs,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
