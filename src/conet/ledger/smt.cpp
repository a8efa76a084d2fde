#include "conet/ledger/smt.hpp"

#include "conet/codec/codec.hpp"

namespace conet::ledger {

namespace {

using Trie = SparseMerkleTree::Trie;
using NodeT = Trie::NodeT;

bool bit(const Hash256& k, std::size_t depth) {
    return trie::bit(k, depth);
}

Hash256 node_hash(const Hash256& left, const Hash256& right) {
    const std::uint8_t tag = 0x01;
    return crypto::keccak256({util::ByteView(&tag, 1), left, right});
}

Hash256 hash_at(const NodeT* n, std::size_t depth);

/// The node's own hash: a leaf's at any depth, a branch's at its split depth.
const Hash256& own_hash(const NodeT* n) {
    if (!n->cache.valid) {
        if (n->is_leaf()) {
            n->cache.hash = smt_leaf_hash(n->key, Trie::as_leaf(n)->value);
        } else {
            const auto* b = Trie::as_branch(n);
            n->cache.hash = node_hash(hash_at(b->child[0], n->depth + 1u), hash_at(b->child[1], n->depth + 1u));
        }
        n->cache.valid = true;
    }
    return n->cache.hash;
}

/// Hash of the subtree at `depth` that holds exactly the leaves below `n`: a
/// branch split deeper is lifted through the levels where all its leaves go
/// one way (the other side is empty, hashed as zeros).
Hash256 hash_at(const NodeT* n, std::size_t depth) {
    Hash256 h = own_hash(n);
    if (n->is_leaf()) return h;
    for (std::size_t level = n->depth; level-- > depth;)
        h = bit(n->key, level) ? node_hash(Hash256{}, h) : node_hash(h, Hash256{});
    return h;
}

SparseMerkleTree::Position position_of(const NodeT* n) {
    SparseMerkleTree::Position p{};
    std::copy(n->key.begin(), n->key.end(), p.begin());
    codec::store_be(p.data() + 32, static_cast<std::uint16_t>(n->depth));
    return p;
}

}  // namespace

Hash256 smt_leaf_hash(const Hash256& key, const Hash256& value_hash) {
    const std::uint8_t tag = 0x00;
    return crypto::keccak256({util::ByteView(&tag, 1), key, value_hash});
}

SparseMerkleTree::SparseMerkleTree(const SparseMerkleTree& o) : m_trie((o.root(), o.m_trie)) {}

SparseMerkleTree& SparseMerkleTree::operator=(const SparseMerkleTree& o) {
    if (this != &o) {
        o.root();
        m_trie = o.m_trie;
    }
    return *this;
}

std::optional<Hash256> SparseMerkleTree::get(const Hash256& key) const {
    const Hash256* v = m_trie.find(key);
    if (!v) return std::nullopt;
    return *v;
}

Hash256 SparseMerkleTree::root() const {
    const NodeT* r = m_trie.root_node();
    return r ? hash_at(r, 0) : Hash256{};
}

SmtProof SparseMerkleTree::prove(const Hash256& key) const {
    SmtProof proof;
    const NodeT* n = m_trie.root_node();
    if (!n) return proof;
    std::size_t depth = 0;
    // Descend while the key's subtree holds two or more leaves (n is a branch).
    while (!n->is_leaf()) {
        // Levels above the split: every leaf of n goes n's way, the other side is empty.
        for (; depth < n->depth; ++depth) {
            if (bit(key, depth) != bit(n->key, depth)) {
                proof.siblings.push_back(hash_at(n, depth + 1));  // the key's side is empty
                return proof;
            }
            proof.siblings.push_back(Hash256{});
        }
        const bool side = bit(key, depth);
        const auto* b = Trie::as_branch(n);
        proof.siblings.push_back(hash_at(b->child[!side], depth + 1));
        n = b->child[side];
        ++depth;
    }
    proof.leaf.emplace(n->key, Trie::as_leaf(n)->value);
    return proof;
}

void SparseMerkleTree::diff(const SparseMerkleTree& before, const SparseMerkleTree& after, const PutNode& put,
                            const EraseNode& erase) {
    before.root();
    after.root();
    util::ByteArray<64> leaf_bytes;
    Trie::diff(before.m_trie, after.m_trie, [&](const NodeT* old_node, const NodeT* new_node) {
        // A position is a leaf in both or a branch in both (its depth says which).
        if (!(new_node ? new_node : old_node)->is_leaf()) return;
        if (!new_node) {
            erase(position_of(old_node));
            return;
        }
        if (old_node && old_node->cache.hash == new_node->cache.hash) return;
        const Hash256& v = Trie::as_leaf(new_node)->value;
        std::copy(v.begin(), v.end(), leaf_bytes.begin());
        std::copy(new_node->cache.hash.begin(), new_node->cache.hash.end(), leaf_bytes.begin() + 32);
        put(position_of(new_node), leaf_bytes);
    });
}

SparseMerkleTree::Loader::~Loader() {
    Trie::release(m_root);
}

bool SparseMerkleTree::Loader::add(util::ByteView position, util::ByteView value) {
    if (m_failed || position.size() != std::tuple_size_v<Position> || value.size() != 64 ||
        codec::load_be<std::uint16_t>(position.data() + 32) != leaf_depth)
        return m_failed = true, false;
    Hash256 key, v;
    std::copy(position.begin(), position.begin() + 32, key.begin());
    std::copy(value.begin(), value.begin() + 32, v.begin());
    const std::size_t d = m_last ? trie::first_difference(m_last->key, key) : 0;
    if (m_last && (d == leaf_depth || bit(key, d) == 0)) return m_failed = true, false;  // not increasing
    NodeT* leaf = Trie::make_leaf(key, v);
    std::copy(value.begin() + 32, value.end(), leaf->cache.hash.begin());
    leaf->cache.valid = true;
    if (m_last) {
        // The new leaf parts from the last one at bit d: every branch on the
        // rightmost path deeper than d goes below a new branch at d, whose right
        // child is the new leaf. (No branch on that path splits at d itself:
        // the last leaf has bit d clear, so it is left of any such split.)
        while (!m_spine.empty() && m_spine.back()->depth > d) m_spine.pop_back();
        NodeT*& slot = m_spine.empty() ? m_root : m_spine.back()->child[1];
        auto* branch = Trie::make_branch(d, key, slot, leaf);
        slot = branch;
        m_spine.push_back(branch);
    } else {
        m_root = leaf;
    }
    m_last = leaf;
    ++m_leaves;
    return true;
}

std::optional<SparseMerkleTree> SparseMerkleTree::Loader::finish() {
    if (m_failed) return std::nullopt;
    SparseMerkleTree t;
    t.m_trie = Trie::adopt(std::exchange(m_root, nullptr), m_leaves);
    m_spine.clear();
    m_last = nullptr;
    return t;
}

bool smt_verify(const Hash256& root, const Hash256& key, const std::optional<Hash256>& value_hash,
                const SmtProof& proof) {
    const std::size_t depth = proof.siblings.size();
    if (depth > 256) return false;
    Hash256 h{};
    if (value_hash) {
        if (!proof.leaf || proof.leaf->first != key || proof.leaf->second != *value_hash) return false;
        h = smt_leaf_hash(key, *value_hash);
    } else if (proof.leaf) {
        // Another key sits alone where ours would be: it must share our path.
        if (proof.leaf->first == key) return false;
        for (std::size_t d = 0; d < depth; ++d)
            if (bit(proof.leaf->first, d) != bit(key, d)) return false;
        h = smt_leaf_hash(proof.leaf->first, proof.leaf->second);
    }
    for (std::size_t d = depth; d-- > 0;)
        h = bit(key, d) ? node_hash(proof.siblings[d], h) : node_hash(h, proof.siblings[d]);
    return h == root;
}

}  // namespace conet::ledger
