// Cells and everything inside them (relay messages, stream targets, extend
// requests, node records): arbitrary bytes never crash a decoder, and what
// decodes re-encodes to the same bytes (one encoding per value).

#include <cstdlib>

#include "conet/ledger/node_record.hpp"
#include "conet/net/cell.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace conet::net;
    const conet::util::ByteView in(data, size);
    auto same = [&](const conet::util::Bytes& b) {
        if (!conet::util::equal(b, in)) std::abort();
    };
    if (auto c = decode_cell(in)) same(encode_cell(c->circuit_id, c->command, c->body));
    if (auto m = decode_relay(in)) same(encode_relay(m->command, m->stream_id, m->body));
    if (auto t = decode_target(in)) same(encode_target(*t));
    if (auto e = decode_extend(in)) same(encode_extend(*e));
    if (auto r = conet::codec::decode<conet::ledger::NodeRecord>(in)) {
        same(conet::codec::encode(*r));
        (void)r->verify(conet::ledger::default_chain_id, 0);
    }
    return 0;
}
