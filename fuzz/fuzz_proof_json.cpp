// What a light client parses from an RPC answer: Merkle proofs as JSON and
// node records in their canonical encoding. Never a crash; a parsed proof
// re-serializes to the same proof; a decoded record re-encodes identically.

#include <cstdlib>

#include <boost/json.hpp>

#include "conet/codec/codec.hpp"
#include "conet/crypto/random.hpp"
#include "conet/ledger/node_record.hpp"
#include "conet/rpc/proof_json.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace json = boost::json;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    if (!ec) {
        if (auto proof = conet::rpc::proof_from_json(v)) {
            auto again = conet::rpc::proof_from_json(conet::rpc::proof_to_json(*proof));
            if (!again || again->siblings != proof->siblings || again->leaf != proof->leaf) std::abort();
            (void)conet::ledger::smt_verify(conet::ledger::Hash256{}, conet::ledger::Hash256{}, std::nullopt, *proof);
        }
    }
    const conet::util::ByteView in(data, size);
    if (auto r = conet::codec::decode<conet::ledger::NodeRecord>(in)) {
        if (!conet::util::equal(conet::codec::encode(*r), in)) std::abort();
        (void)r->verify(1, 0);
    }
    return 0;
}
