// The exit's stream openings (relay::ExitOpenings), no sockets: admission of a
// BEGIN in the order the exit checks it, a RESET cancelling an opening in
// flight, and exactly one answer per BEGIN.

#include "conet/relay/exit_core.hpp"

#include <gtest/gtest.h>

namespace conet::relay {
namespace {

using net::EndReason;
using Kind = BeginDecision::Kind;

const util::Bytes example = net::encode_target({"example.com", 443});

TEST(ExitOpenings, AnAdmittedBeginOpensItsTargetAndConnects) {
    ExitOpenings ex;
    const auto d = ex.on_begin(5, example, {}, false, 0);
    ASSERT_EQ(d.kind, Kind::open);
    EXPECT_EQ(d.target.host, "example.com");
    EXPECT_EQ(d.target.port, 443);
    EXPECT_TRUE(ex.opening(5));
    const auto a = ex.on_open_result(5, std::nullopt);
    EXPECT_TRUE(a.connected);
    EXPECT_FALSE(ex.opening(5));
}

TEST(ExitOpenings, AFailedOpeningIsAnsweredWithItsReason) {
    ExitOpenings ex;
    ASSERT_EQ(ex.on_begin(5, example, {}, false, 0).kind, Kind::open);
    const auto a = ex.on_open_result(5, EndReason::connection_refused);
    EXPECT_FALSE(a.connected);
    EXPECT_EQ(a.reset, EndReason::connection_refused);
}

TEST(ExitOpenings, AResetWhileConnectingCancelsAndTheConnectIsAnsweredWithReset) {
    ExitOpenings ex;
    ASSERT_EQ(ex.on_begin(5, example, {}, false, 0).kind, Kind::open);
    EXPECT_FALSE(ex.on_reset(6));  // not opening: the stream layer handles it
    EXPECT_TRUE(ex.on_reset(5));
    EXPECT_TRUE(ex.opening(5));  // still counted until its connect ends
    const auto a = ex.on_open_result(5, std::nullopt);
    EXPECT_FALSE(a.connected);
    EXPECT_EQ(a.reset, EndReason::done);
    // A cancelled opening that then failed answers with the failure.
    ASSERT_EQ(ex.on_begin(7, example, {}, false, 0).kind, Kind::open);
    EXPECT_TRUE(ex.on_reset(7));
    EXPECT_EQ(ex.on_open_result(7, EndReason::timeout).reset, EndReason::timeout);
    EXPECT_EQ(ex.openings(), 0u);
}

TEST(ExitOpenings, AReusedOrZeroStreamIdIsAProtocolError) {
    ExitOpenings ex;
    EXPECT_EQ(ex.on_begin(0, example, {}, false, 0).kind, Kind::protocol_error);
    EXPECT_EQ(ex.on_begin(3, example, {}, true, 1).kind, Kind::protocol_error);  // a connected stream has it
    ASSERT_EQ(ex.on_begin(4, example, {}, false, 0).kind, Kind::open);
    EXPECT_EQ(ex.on_begin(4, example, {}, false, 0).kind, Kind::protocol_error);  // still opening
}

TEST(ExitOpenings, RefusalsComeInTheExitsOrderWithTheirReasons) {
    ExitOpenings ex(3);
    ExitCapacity not_exit{false, MeterVerdict::payment_required, true};
    auto d = ex.on_begin(1, example, not_exit, false, 0);
    EXPECT_EQ(d.kind, Kind::refuse);
    EXPECT_EQ(d.reason, EndReason::exit_policy);
    EXPECT_EQ(d.metric, "not_an_exit");
    d = ex.on_begin(1, example, {true, MeterVerdict::balance_exhausted, true}, false, 0);
    EXPECT_EQ(d.reason, EndReason::balance_exhausted);
    d = ex.on_begin(1, example, {true, MeterVerdict::payment_required, true}, false, 0);
    EXPECT_EQ(d.reason, EndReason::payment_required);
    d = ex.on_begin(1, example, {true, MeterVerdict::ok, true}, false, 0);
    EXPECT_EQ(d.reason, EndReason::resource_limit);
    EXPECT_EQ(d.metric, "exit_streams");
    d = ex.on_begin(1, util::Bytes{0x01}, {}, false, 0);
    EXPECT_EQ(d.kind, Kind::refuse);
    EXPECT_EQ(d.reason, EndReason::protocol_error);
    EXPECT_EQ(d.metric, "bad_target");
    EXPECT_EQ(ex.openings(), 0u);  // nothing refused is left opening
}

TEST(ExitOpenings, TheCircuitsStreamLimitCountsOpeningsAndConnectedStreams) {
    ExitOpenings ex(3);
    ASSERT_EQ(ex.on_begin(1, example, {}, false, 1).kind, Kind::open);
    ASSERT_EQ(ex.on_begin(2, example, {}, false, 1).kind, Kind::open);
    const auto d = ex.on_begin(3, example, {}, false, 1);  // 1 connected + 2 opening = the limit
    EXPECT_EQ(d.kind, Kind::refuse);
    EXPECT_EQ(d.metric, "streams_per_circuit");
    (void)ex.on_open_result(1, EndReason::timeout);
    EXPECT_EQ(ex.on_begin(3, example, {}, false, 1).kind, Kind::open);
}

}  // namespace
}  // namespace conet::relay
