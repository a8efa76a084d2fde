#include "conet/ledger/smt.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
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
