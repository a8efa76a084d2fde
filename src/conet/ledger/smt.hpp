#pragma once
/// A sparse Merkle tree over 256-bit keys (DESIGN §7), with inclusion and
/// exclusion proofs and a verifier a light client can run alone.
///
/// Subtree hashes (keccak256):
///   empty subtree            -> 32 zero bytes
///   exactly one leaf (k, v)  -> H(0x00 || k || v)        at whatever depth
///   two or more leaves       -> H(0x01 || left || right)
/// Collapsing single-leaf subtrees keeps proofs short (about log2(n) siblings).

#include <map>
#include <optional>
#include <vector>

#include "conet/crypto/keccak.hpp"

namespace conet::ledger {

using crypto::Hash256;

struct SmtProof {
    /// Siblings from the root downwards; the path is the key's bits, most significant first.
    std::vector<Hash256> siblings;
    /// Where the path ends (siblings.size() deep): the single leaf found there
    /// (the key itself for inclusion, another key for exclusion), or none (empty subtree).
    std::optional<std::pair<Hash256, Hash256>> leaf;
};

class SparseMerkleTree {
public:
    void set(const Hash256& key, const Hash256& value_hash);
    void erase(const Hash256& key);
    std::optional<Hash256> get(const Hash256& key) const;
    Hash256 root() const;
    SmtProof prove(const Hash256& key) const;
    std::size_t size() const { return m_leaves.size(); }

private:
    std::map<Hash256, Hash256> m_leaves;
};

Hash256 smt_leaf_hash(const Hash256& key, const Hash256& value_hash);

/// Checks that `proof` shows `key` maps to `value_hash` (inclusion) or to
/// nothing (value_hash == nullopt: exclusion) under `root`.
bool smt_verify(const Hash256& root, const Hash256& key, const std::optional<Hash256>& value_hash,
                const SmtProof& proof);

}  // namespace conet::ledger
