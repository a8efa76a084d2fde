#include "conet/ledger/smt.hpp"

namespace conet::ledger {

namespace {

using Iter = std::map<Hash256, Hash256>::const_iterator;

bool bit(const Hash256& k, std::size_t depth) {
    return (k[depth / 8] >> (7 - depth % 8)) & 1;
}

Hash256 node_hash(const Hash256& left, const Hash256& right) {
    const std::uint8_t tag = 0x01;
    crypto::Keccak256 h;
    h.update(util::ByteView(&tag, 1)).update(left).update(right);
    return h.finish();
}

/// First element in [begin, end) whose bit at `depth` is 1 (keys are sorted).
Iter split(Iter begin, Iter end, std::size_t depth) {
    return std::partition_point(begin, end, [&](const auto& kv) { return !bit(kv.first, depth); });
}

Hash256 subtree(Iter begin, Iter end, std::size_t depth) {
    if (begin == end) return Hash256{};
    if (std::next(begin) == end) return smt_leaf_hash(begin->first, begin->second);
    const Iter mid = split(begin, end, depth);
    return node_hash(subtree(begin, mid, depth + 1), subtree(mid, end, depth + 1));
}

}  // namespace

Hash256 smt_leaf_hash(const Hash256& key, const Hash256& value_hash) {
    const std::uint8_t tag = 0x00;
    crypto::Keccak256 h;
    h.update(util::ByteView(&tag, 1)).update(key).update(value_hash);
    return h.finish();
}

void SparseMerkleTree::set(const Hash256& key, const Hash256& value_hash) {
    m_leaves[key] = value_hash;
}

void SparseMerkleTree::erase(const Hash256& key) {
    m_leaves.erase(key);
}

std::optional<Hash256> SparseMerkleTree::get(const Hash256& key) const {
    auto it = m_leaves.find(key);
    if (it == m_leaves.end()) return std::nullopt;
    return it->second;
}

Hash256 SparseMerkleTree::root() const {
    return subtree(m_leaves.begin(), m_leaves.end(), 0);
}

SmtProof SparseMerkleTree::prove(const Hash256& key) const {
    SmtProof proof;
    Iter begin = m_leaves.begin(), end = m_leaves.end();
    std::size_t depth = 0;
    // Descend while the key's subtree holds two or more leaves.
    while (std::distance(begin, end) >= 2) {
        const Iter mid = split(begin, end, depth);
        if (bit(key, depth)) {
            proof.siblings.push_back(subtree(begin, mid, depth + 1));
            begin = mid;
        } else {
            proof.siblings.push_back(subtree(mid, end, depth + 1));
            end = mid;
        }
        ++depth;
    }
    if (begin != end) proof.leaf = *begin;
    return proof;
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
