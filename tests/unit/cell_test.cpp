#include "conet/net/cell.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "conet/crypto/random.hpp"
#include "conet/net/circuit_handshake.hpp"
#include "conet/util/hex.hpp"

namespace conet::net {
namespace {

TEST(Cell, GoldenWireFormat) {
    const util::Bytes body = {0xaa, 0xbb};
    EXPECT_EQ(util::to_hex(encode_cell(0x01020304, CellCommand::relay, body)), "0102030403aabb");
    EXPECT_EQ(util::to_hex(encode_relay(RelayCommand::data, 7, body)), "0300000007aabb");
    EXPECT_EQ(util::to_hex(encode_target({"example.com", 443})), "0000000b6578616d706c652e636f6d01bb");
    EXPECT_EQ(util::to_hex(encode_u32(0x00040000)), "00040000");
    ExtendRequest e;
    e.node_key.fill(0x11);
    e.handshake = {0x01, 0x02};
    EXPECT_EQ(util::to_hex(encode_extend(e)), std::string(64, '1') + "000000020102");
}

RC_GTEST_PROP(Cell, CellsRoundTrip, (std::uint32_t id, const std::vector<std::uint8_t>& body)) {
    RC_PRE(body.size() + cell_header_bytes <= max_cell_bytes);
    const auto cmd = *rc::gen::inRange<int>(1, 9);
    const auto cell = decode_cell(encode_cell(id, static_cast<CellCommand>(cmd), body));
    RC_ASSERT(cell.has_value());
    RC_ASSERT(cell->circuit_id == id);
    RC_ASSERT(static_cast<int>(cell->command) == cmd);
    RC_ASSERT(cell->body == body);
}

RC_GTEST_PROP(Cell, RelayMessagesRoundTrip, (std::uint32_t stream, const std::vector<std::uint8_t>& body)) {
    RC_PRE(body.size() <= max_data_bytes);
    const auto cmd = *rc::gen::inRange<int>(1, 9);
    const auto m = decode_relay(encode_relay(static_cast<RelayCommand>(cmd), stream, body));
    RC_ASSERT(m.has_value());
    RC_ASSERT(m->stream_id == stream);
    RC_ASSERT(m->body == body);
}

TEST(Cell, RejectsUnknownCommandsShortAndOversizedInput) {
    EXPECT_EQ(decode_cell(util::Bytes{0, 0, 0, 1}).error(), CellError::malformed);
    EXPECT_EQ(decode_cell(util::Bytes{0, 0, 0, 1, 0}).error(), CellError::unknown_command);
    EXPECT_EQ(decode_cell(util::Bytes{0, 0, 0, 1, 99}).error(), CellError::unknown_command);
    EXPECT_EQ(decode_cell(util::Bytes(max_cell_bytes + 1, 3)).error(), CellError::too_long);
    EXPECT_EQ(decode_relay(util::Bytes{3, 0, 0}).error(), CellError::malformed);
    EXPECT_EQ(decode_relay(util::Bytes{42, 0, 0, 0, 1}).error(), CellError::unknown_command);
    util::Bytes big = encode_relay(RelayCommand::data, 1, util::Bytes(max_data_bytes + 1, 0));
    EXPECT_EQ(decode_relay(big).error(), CellError::too_long);
}

TEST(Cell, TargetsAreValidated) {
    EXPECT_TRUE(decode_target(encode_target({"127.0.0.1", 80})));
    EXPECT_TRUE(decode_target(encode_target({"::1", 80})));
    EXPECT_TRUE(decode_target(encode_target({"my-host_1.example", 8080})));
    EXPECT_EQ(decode_target(encode_target({"bad host", 80})).error(), CellError::bad_target);
    EXPECT_EQ(decode_target(encode_target({"a/b", 80})).error(), CellError::bad_target);
    EXPECT_EQ(decode_target(encode_target({"", 80})).error(), CellError::bad_target);
    EXPECT_EQ(decode_target(encode_target({"x", 0})).error(), CellError::bad_target);
    EXPECT_EQ(decode_target(encode_target({std::string(256, 'a'), 1})).error(), CellError::too_long);
    util::Bytes trailing = encode_target({"x", 1});
    trailing.push_back(0);
    EXPECT_EQ(decode_target(trailing).error(), CellError::malformed);
}

TEST(CircuitHandshake, OriginatorAndHopAgreeAndAWrongKeyFails) {
    crypto::SeededRng rng(1);
    const auto hop = crypto::X25519KeyPair::generate(rng);
    auto start = start_circuit_handshake(hop.public_key, rng);
    ASSERT_TRUE(start);
    auto resp = respond_circuit_handshake(hop, start->message, rng);
    ASSERT_TRUE(resp);
    auto t = finish_circuit_handshake(std::move(start->state), resp->reply);
    ASSERT_TRUE(t);
    const auto ct = t->encrypt(util::to_bytes("to the exit"));
    EXPECT_EQ(*resp->transport.decrypt(*ct), util::to_bytes("to the exit"));

    const auto impostor = crypto::X25519KeyPair::generate(rng);
    auto start2 = start_circuit_handshake(hop.public_key, rng);
    EXPECT_FALSE(respond_circuit_handshake(impostor, start2->message, rng));
}

}  // namespace
}  // namespace conet::net
