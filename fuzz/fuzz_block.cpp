// Blocks, headers, certificates (their own and their parent's) and Merkle proofs from arbitrary bytes: never
// a crash; what decodes re-encodes identically; proof verification of
// arbitrary proofs is safe and never accepts a proof for a different value.

#include <cstdlib>

#include "conet/crypto/random.hpp"
#include "conet/ledger/block.hpp"
#include "conet/ledger/smt.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace conet::ledger;
    namespace codec = conet::codec;
    const conet::util::ByteView in(data, size);
    if (auto b = codec::decode<Block>(in)) {
        if (!conet::util::equal(codec::encode(*b), in)) std::abort();
        (void)verify_certificate(b->header, b->certificate, {});
        (void)verify_certificate(b->header, b->certificate, {conet::crypto::Address{}}, 3);  // epochs of 3 blocks
        (void)transactions_root(b->transactions);
        // The parent certificate: an empty one hashes to zero, a non-empty one never does.
        if (b->parent_certificate.empty() != (b->parent_certificate.hash() == Hash256{})) std::abort();
        (void)verify_parent_certificate(b->header, b->parent_certificate, {conet::crypto::Address{}}, 3);
    }
    // Interpret the input as a proof: key | value | siblings...
    if (size >= 64 && (size - 64) % 32 == 0) {
        SmtProof proof;
        Hash256 key{}, value{};
        std::copy_n(data, 32, key.begin());
        std::copy_n(data + 32, 32, value.begin());
        for (std::size_t off = 64; off < size && proof.siblings.size() < 300; off += 32) {
            Hash256 s{};
            std::copy_n(data + off, 32, s.begin());
            proof.siblings.push_back(s);
        }
        proof.leaf = {{key, value}};
        SparseMerkleTree tree;
        tree.set(key, value);
        const Hash256 root = tree.root();
        // A one-leaf tree's proof has no siblings; a proof with siblings for the
        // same (key, value) must not verify against it.
        if (!proof.siblings.empty() && smt_verify(root, key, value, proof)) std::abort();
        Hash256 other = value;
        other[0] ^= 1;
        if (smt_verify(root, key, other, tree.prove(key))) std::abort();
    }
    return 0;
}
