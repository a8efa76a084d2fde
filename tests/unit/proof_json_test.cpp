// Proofs as JSON-RPC carries them: what a light client parses must be what
// the node proved, and malformed proofs are refused rather than guessed at.
#include "conet/rpc/proof_json.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <boost/json.hpp>

namespace conet::rpc {
namespace {

ledger::Hash256 h(std::uint64_t x) {
    return crypto::keccak256(util::to_bytes(std::to_string(x)));
}

RC_GTEST_PROP(ProofJson, RoundTripsAndStillVerifies, (std::vector<std::uint16_t> ids, std::uint16_t probe)) {
    ledger::SparseMerkleTree t;
    for (auto id : ids) t.set(h(id), h(id + 100'000));
    const auto proof = t.prove(h(probe));
    const auto text = boost::json::serialize(proof_to_json(proof));
    const auto back = proof_from_json(boost::json::parse(text));
    RC_ASSERT(back.has_value());
    RC_ASSERT(back->siblings == proof.siblings);
    RC_ASSERT(back->leaf == proof.leaf);
}

TEST(ProofJson, MalformedProofsAreRefused) {
    for (const char* bad : {R"(null)", R"({})", R"({"siblings": []})", R"({"siblings": "x", "leaf": null})",
                            R"({"siblings": ["0x12"], "leaf": null})", R"({"siblings": [], "leaf": 5})",
                            R"({"siblings": [], "leaf": {"key": "0x00"}})"})
        EXPECT_FALSE(proof_from_json(boost::json::parse(bad)).has_value()) << bad;
    EXPECT_TRUE(proof_from_json(boost::json::parse(R"({"siblings": [], "leaf": null})")).has_value());
}

}  // namespace
}  // namespace conet::rpc
