#include "conet/ledger/smt.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace conet::ledger {
namespace {

Hash256 h(std::uint64_t x) {
    return crypto::keccak256(util::to_bytes(std::to_string(x)));
}

SparseMerkleTree tree_of(const std::vector<std::uint64_t>& ids) {
    SparseMerkleTree t;
    for (auto id : ids) t.set(h(id), h(id + 1'000'000));
    return t;
}

// The definition, computed directly over all leaves (the implementation before
// the incremental tree): the reference the incremental tree must match.
using Leaves = std::map<Hash256, Hash256>;
using Iter = Leaves::const_iterator;

bool key_bit(const Hash256& k, std::size_t depth) {
    return (k[depth / 8] >> (7 - depth % 8)) & 1;
}

Hash256 ref_node(const Hash256& left, const Hash256& right) {
    const std::uint8_t tag = 0x01;
    crypto::Keccak256 hasher;
    hasher.update(util::ByteView(&tag, 1)).update(left).update(right);
    return hasher.finish();
}

Iter ref_split(Iter begin, Iter end, std::size_t depth) {
    return std::partition_point(begin, end, [&](const auto& kv) { return !key_bit(kv.first, depth); });
}

Hash256 ref_subtree(Iter begin, Iter end, std::size_t depth) {
    if (begin == end) return Hash256{};
    if (std::next(begin) == end) return smt_leaf_hash(begin->first, begin->second);
    const Iter mid = ref_split(begin, end, depth);
    return ref_node(ref_subtree(begin, mid, depth + 1), ref_subtree(mid, end, depth + 1));
}

SmtProof ref_prove(const Leaves& leaves, const Hash256& key) {
    SmtProof proof;
    Iter begin = leaves.begin(), end = leaves.end();
    std::size_t depth = 0;
    while (std::distance(begin, end) >= 2) {
        const Iter mid = ref_split(begin, end, depth);
        if (key_bit(key, depth)) {
            proof.siblings.push_back(ref_subtree(begin, mid, depth + 1));
            begin = mid;
        } else {
            proof.siblings.push_back(ref_subtree(mid, end, depth + 1));
            end = mid;
        }
        ++depth;
    }
    if (begin != end) proof.leaf = *begin;
    return proof;
}

bool same_proof(const SmtProof& a, const SmtProof& b) {
    return a.siblings == b.siblings && a.leaf == b.leaf;
}

/// Keys drawn from a small space with shared prefixes, so that deep splits,
/// long one-sided runs and erasing down to one or zero leaves all happen.
Hash256 clustered_key(std::uint8_t which, std::uint8_t spread) {
    Hash256 k{};
    k[0] = static_cast<std::uint8_t>(which & 0xc0);
    k[spread % 32] ^= static_cast<std::uint8_t>(which);
    k[31] ^= static_cast<std::uint8_t>(which >> 4);
    return k;
}

struct Op {
    bool erase;
    Hash256 key;
    Hash256 value;
};

rc::Gen<Op> gen_op() {
    return rc::gen::apply(
        [](bool erase, bool clustered, std::uint16_t id, std::uint8_t spread, std::uint16_t v) {
            return Op{erase, clustered ? clustered_key(static_cast<std::uint8_t>(id), spread) : h(id % 512), h(v)};
        },
        rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(), rc::gen::arbitrary<std::uint16_t>(),
        rc::gen::arbitrary<std::uint8_t>(), rc::gen::arbitrary<std::uint16_t>());
}

RC_GTEST_PROP(Smt, IncrementalTreeMatchesTheDefinitionOverRandomSetsAndErases, ()) {
    const auto ops = *rc::gen::container<std::vector<Op>>(gen_op());
    SparseMerkleTree t;
    Leaves ref;
    std::vector<std::pair<SparseMerkleTree, Leaves>> snapshots;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        if (op.erase) {
            t.erase(op.key);
            ref.erase(op.key);
        } else {
            t.set(op.key, op.value);
            ref[op.key] = op.value;
        }
        // Check only now and then so that batches of changes are rehashed together.
        if (i % 7 == 0) {
            RC_ASSERT(t.root() == ref_subtree(ref.begin(), ref.end(), 0));
            snapshots.emplace_back(t, ref);  // later changes must not reach this copy
        }
    }
    RC_ASSERT(t.size() == ref.size());
    const Hash256 root = ref_subtree(ref.begin(), ref.end(), 0);
    RC_ASSERT(t.root() == root);
    for (const Op& op : ops) {
        const auto proof = t.prove(op.key);
        RC_ASSERT(same_proof(proof, ref_prove(ref, op.key)));
        const auto it = ref.find(op.key);
        RC_ASSERT(smt_verify(root, op.key, it == ref.end() ? std::nullopt : std::optional(it->second), proof));
        RC_ASSERT(t.get(op.key) == (it == ref.end() ? std::nullopt : std::optional(it->second)));
    }
    for (const auto& [copy, leaves] : snapshots) {
        RC_ASSERT(copy.root() == ref_subtree(leaves.begin(), leaves.end(), 0));
        RC_ASSERT(copy.size() == leaves.size());
    }
}

/// Applies SparseMerkleTree::diff to a map of stored nodes, as the block store does.
void store_diff(std::map<std::string, std::string>& stored, const SparseMerkleTree& before,
                const SparseMerkleTree& after) {
    auto as_key = [](const SparseMerkleTree::Position& p) { return std::string(p.begin(), p.end()); };
    SparseMerkleTree::diff(
        before, after,
        [&](const SparseMerkleTree::Position& p, util::ByteView v) {
            stored[as_key(p)] = std::string(v.begin(), v.end());
        },
        [&](const SparseMerkleTree::Position& p) {
            RC_ASSERT(stored.erase(as_key(p)) == 1u);  // only what was written is erased
        });
}

std::optional<SparseMerkleTree> load(const std::map<std::string, std::string>& stored) {
    SparseMerkleTree::Loader loader;
    for (const auto& [k, v] : stored)
        if (!loader.add(util::as_bytes(k), util::as_bytes(v))) return std::nullopt;
    return loader.finish();
}

RC_GTEST_PROP(Smt, StoredNodesFollowTheDiffsAndReloadToTheSameTree, ()) {
    const auto count = *rc::gen::inRange<std::size_t>(1, 12);
    const auto batches =
        *rc::gen::container<std::vector<std::vector<Op>>>(count, rc::gen::container<std::vector<Op>>(gen_op()));
    std::map<std::string, std::string> stored;
    SparseMerkleTree committed;
    for (const auto& batch : batches) {
        SparseMerkleTree next = committed;
        for (const Op& op : batch) op.erase ? next.erase(op.key) : next.set(op.key, op.value);
        store_diff(stored, committed, next);
        committed = next;
        auto loaded = load(stored);
        RC_ASSERT(loaded.has_value());
        RC_ASSERT(loaded->root() == committed.root());
        RC_ASSERT(loaded->size() == committed.size());
        // Everything the full write would store is exactly what the diffs left behind.
        std::map<std::string, std::string> full;
        store_diff(full, SparseMerkleTree{}, committed);
        RC_ASSERT(full == stored);
        for (const Op& op : batch) RC_ASSERT(same_proof(loaded->prove(op.key), committed.prove(op.key)));
    }
}

TEST(Smt, TheLoaderRebuildsFromLeavesAndRefusesMalformedOrUnorderedOnes) {
    SparseMerkleTree t = tree_of({1, 2, 3, 4, 5});
    std::map<std::string, std::string> stored;
    SparseMerkleTree::diff(
        SparseMerkleTree{}, t,
        [&](const SparseMerkleTree::Position& p, util::ByteView v) {
            stored[std::string(p.begin(), p.end())] = std::string(v.begin(), v.end());
        },
        [](const SparseMerkleTree::Position&) { FAIL(); });
    ASSERT_EQ(stored.size(), 5u);  // the 5 leaves; branches follow from them
    ASSERT_TRUE(load(stored).has_value());
    EXPECT_EQ(load(stored)->root(), t.root());
    for (auto it = stored.begin(); it != stored.end(); ++it) {  // a leaf missing: another tree (the store's
        auto fewer = stored;                                    // root and leaf-count checks catch it)
        fewer.erase(it->first);
        ASSERT_TRUE(load(fewer).has_value());
        EXPECT_NE(load(fewer)->root(), t.root());
        EXPECT_EQ(load(fewer)->size(), 4u);
    }
    auto branch = stored;  // a branch entry (the format before leaves only)
    std::string at_root(34, '\0');
    at_root[32] = 0;
    branch[at_root] = std::string(32, 'x');
    EXPECT_FALSE(load(branch).has_value());
    auto short_value = stored;
    short_value.begin()->second.pop_back();
    EXPECT_FALSE(load(short_value).has_value());
    SparseMerkleTree::Loader unordered;  // leaves must come in strictly increasing key order
    ASSERT_TRUE(unordered.add(util::as_bytes(stored.rbegin()->first), util::as_bytes(stored.rbegin()->second)));
    EXPECT_FALSE(unordered.add(util::as_bytes(stored.begin()->first), util::as_bytes(stored.begin()->second)));
    SparseMerkleTree::Loader twice;
    ASSERT_TRUE(twice.add(util::as_bytes(stored.begin()->first), util::as_bytes(stored.begin()->second)));
    EXPECT_FALSE(twice.add(util::as_bytes(stored.begin()->first), util::as_bytes(stored.begin()->second)));
}

TEST(Smt, EmptyAndSingleLeafRoots) {
    SparseMerkleTree t;
    EXPECT_EQ(t.root(), Hash256{});
    t.set(h(1), h(2));
    EXPECT_EQ(t.root(), smt_leaf_hash(h(1), h(2)));
    t.erase(h(1));
    EXPECT_EQ(t.root(), Hash256{});
}

RC_GTEST_PROP(Smt, RootDependsOnContentsNotOrder, (std::vector<std::uint16_t> ids)) {
    std::vector<std::uint64_t> a(ids.begin(), ids.end());
    auto b = a;
    std::shuffle(b.begin(), b.end(), std::mt19937(*rc::gen::arbitrary<std::uint32_t>()));
    RC_ASSERT(tree_of(a).root() == tree_of(b).root());
}

RC_GTEST_PROP(Smt, InclusionAndExclusionProofsVerify, (std::vector<std::uint16_t> ids, std::uint16_t probe)) {
    std::vector<std::uint64_t> keys(ids.begin(), ids.end());
    const SparseMerkleTree t = tree_of(keys);
    const Hash256 root = t.root();
    for (auto id : keys) {
        const auto proof = t.prove(h(id));
        RC_ASSERT(smt_verify(root, h(id), h(id + 1'000'000), proof));
        RC_ASSERT(!smt_verify(root, h(id), h(id + 1'000'001), proof));  // a changed value fails
        RC_ASSERT(!smt_verify(root, h(id), std::nullopt, proof));       // present keys cannot be denied
    }
    const bool present = std::find(keys.begin(), keys.end(), probe) != keys.end();
    const auto proof = t.prove(h(probe));
    RC_ASSERT(smt_verify(root, h(probe), present ? std::optional(h(probe + 1'000'000)) : std::nullopt, proof));
    if (!present) RC_ASSERT(!smt_verify(root, h(probe), h(probe + 1'000'000), proof));
}

RC_GTEST_PROP(Smt, TamperedProofsAndRootsFail, (std::vector<std::uint16_t> ids)) {
    RC_PRE(ids.size() >= 2);
    std::vector<std::uint64_t> keys(ids.begin(), ids.end());
    const SparseMerkleTree t = tree_of(keys);
    const Hash256 root = t.root();
    const auto key = h(keys.front());
    auto proof = t.prove(key);
    RC_PRE(!proof.siblings.empty());
    auto bad = proof;
    const auto i = *rc::gen::inRange<std::size_t>(0, bad.siblings.size());
    bad.siblings[i][*rc::gen::inRange(0, 32)] ^= 0x01;
    RC_ASSERT(!smt_verify(root, key, h(keys.front() + 1'000'000), bad));
    auto short_proof = proof;
    short_proof.siblings.pop_back();
    RC_ASSERT(!smt_verify(root, key, h(keys.front() + 1'000'000), short_proof));
    Hash256 other_root = root;
    other_root[0] ^= 1;
    RC_ASSERT(!smt_verify(other_root, key, h(keys.front() + 1'000'000), proof));
}

TEST(Smt, ExclusionByAnotherLeafMustShareThePath) {
    SparseMerkleTree t;
    t.set(h(1), h(11));
    const auto proof = t.prove(h(2));  // empty path: the lone leaf 1 stands at the root
    ASSERT_TRUE(proof.leaf.has_value());
    EXPECT_TRUE(smt_verify(t.root(), h(2), std::nullopt, proof));
    // A forged "other leaf" that is not really where key 2 would go is refused.
    SparseMerkleTree two = tree_of({1, 2, 3});
    auto p = two.prove(h(5));
    if (p.leaf) {
        p.leaf->first[0] ^= 0x80;  // flip the first path bit of the claimed leaf
        EXPECT_FALSE(smt_verify(two.root(), h(5), std::nullopt, p));
    }
}

}  // namespace
}  // namespace conet::ledger
