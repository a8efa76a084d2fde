#pragma once
/// A sparse Merkle tree over 256-bit keys (DESIGN §7), with inclusion and
/// exclusion proofs and a verifier a light client can run alone.
///
/// Subtree hashes (keccak256):
///   empty subtree            -> 32 zero bytes
///   exactly one leaf (k, v)  -> H(0x00 || k || v)        at whatever depth
///   two or more leaves       -> H(0x01 || left || right)
/// Collapsing single-leaf subtrees keeps proofs short (about log2(n) siblings).
///
/// The tree is kept as a persistent path-collapsed trie (trie.hpp) whose
/// nodes cache their hashes: set and erase touch O(depth) nodes and mark them
/// stale, root() rehashes only stale nodes (so a batch of changes is hashed
/// once), prove() reads cached hashes, and copies share nodes.

#include <functional>
#include <optional>
#include <vector>

#include "conet/crypto/keccak.hpp"
#include "conet/ledger/trie.hpp"

namespace conet::ledger {

using crypto::Hash256;

struct SmtProof {
    /// Siblings from the root downwards; the path is the key's bits, most significant first.
    std::vector<Hash256> siblings;
    /// Where the path ends (siblings.size() deep): the single leaf found there
    /// (the key itself for inclusion, another key for exclusion), or none (empty subtree).
    std::optional<std::pair<Hash256, Hash256>> leaf;
};

/// A node's own hash (a branch at its split depth, a leaf anywhere), computed on demand.
struct SmtHashCache {
    Hash256 hash{};
    bool valid = false;
    void reset() { valid = false; }
};

class SparseMerkleTree {
public:
    using Trie = trie::Trie<32, Hash256, SmtHashCache>;

    SparseMerkleTree() = default;
    /// A copy shares every node. The source's stale hashes are computed first,
    /// so a node shared by two trees never has a stale cache (two threads may
    /// then use two copies).
    SparseMerkleTree(const SparseMerkleTree& o);
    SparseMerkleTree& operator=(const SparseMerkleTree& o);
    SparseMerkleTree(SparseMerkleTree&&) noexcept = default;
    SparseMerkleTree& operator=(SparseMerkleTree&&) noexcept = default;

    void set(const Hash256& key, const Hash256& value_hash) { m_trie.set(key, value_hash); }
    void erase(const Hash256& key) { m_trie.erase(key); }
    std::optional<Hash256> get(const Hash256& key) const;
    Hash256 root() const;
    SmtProof prove(const Hash256& key) const;
    std::size_t size() const { return m_trie.size(); }

    /// Where the block store keeps a leaf: its 32-byte key | u16 256 (the
    /// position a leaf has in the path-collapsed trie; branches are not stored).
    using Position = util::ByteArray<34>;
    static constexpr std::uint16_t leaf_depth = 256;
    /// Stored value of a leaf: value hash | leaf hash (64).
    using PutNode = std::function<void(const Position&, util::ByteView)>;
    using EraseNode = std::function<void(const Position&)>;

    /// What the store must write to go from `before` to `after`: put every
    /// leaf `after` holds that `before` lacks or holds with another value,
    /// erase every leaf `before` holds and `after` does not. Costs O(changed
    /// nodes) to find and one write per changed leaf: branches are not stored,
    /// since their positions follow from the leaves' keys and their hashes
    /// from the leaves (Loader rebuilds them).
    static void diff(const SparseMerkleTree& before, const SparseMerkleTree& after, const PutNode& put,
                     const EraseNode& erase);

    /// Rebuilds a tree from stored leaves given in key order, in O(n) without
    /// hashing a leaf (the stored leaf hash is trusted); the n - 1 branch hashes
    /// are computed when root() is first asked.
    class Loader {
    public:
        Loader() = default;
        Loader(const Loader&) = delete;
        Loader& operator=(const Loader&) = delete;
        ~Loader();
        /// False when the leaf is malformed or not after the previous one.
        [[nodiscard]] bool add(util::ByteView position, util::ByteView value);
        /// The tree, or nullopt when a leaf was refused.
        std::optional<SparseMerkleTree> finish();

    private:
        Trie::NodeT* m_root = nullptr;
        std::vector<Trie::BranchT*> m_spine;  // branches on the rightmost path, root first
        const Trie::NodeT* m_last = nullptr;  // the last leaf added
        std::size_t m_leaves = 0;
        bool m_failed = false;
    };

private:
    Trie m_trie;
};

Hash256 smt_leaf_hash(const Hash256& key, const Hash256& value_hash);

/// Checks that `proof` shows `key` maps to `value_hash` (inclusion) or to
/// nothing (value_hash == nullopt: exclusion) under `root`.
bool smt_verify(const Hash256& root, const Hash256& key, const std::optional<Hash256>& value_hash,
                const SmtProof& proof);

}  // namespace conet::ledger
